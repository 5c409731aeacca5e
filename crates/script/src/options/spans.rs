//! Where each property of the script's `options` object literal is written,
//! by path (`scenarios.buy.rate`), so that a bad value is reported at its
//! `script.js:LINE:COL`. Options built at run time (spreads, computed keys,
//! a function's result) have no entry: their errors point at `options`.

use std::collections::HashMap;

use oxc_ast::ast::{ArrayExpressionElement, Expression, ObjectExpression, ObjectPropertyKind, PropertyKey};
use oxc_span::{GetSpan, Span};

/// One step of a path into the options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct OptionSpans {
    /// The `options` declarator.
    pub at: Span,
    /// Key and value spans by path.
    props: HashMap<Vec<Seg>, (Span, Span)>,
}

impl OptionSpans {
    /// Options not written as a literal: every error points at `at`.
    pub fn declared_at(at: Span) -> OptionSpans {
        OptionSpans { at, props: HashMap::new() }
    }

    pub fn of_object(o: &ObjectExpression<'_>, at: Span) -> OptionSpans {
        let mut spans = OptionSpans { at, props: HashMap::new() };
        let mut path = Vec::new();
        spans.object(o, &mut path);
        spans
    }

    fn object(&mut self, o: &ObjectExpression<'_>, path: &mut Vec<Seg>) {
        for p in &o.properties {
            let ObjectPropertyKind::ObjectProperty(p) = p else { continue };
            if p.computed {
                continue;
            }
            let name = match &p.key {
                PropertyKey::StaticIdentifier(id) => id.name.to_string(),
                PropertyKey::StringLiteral(s) => s.value.to_string(),
                PropertyKey::NumericLiteral(n) => n.value.to_string(),
                _ => continue,
            };
            path.push(Seg::Key(name));
            self.props.insert(path.clone(), (p.key.span(), p.value.span()));
            self.value(&p.value, path);
            path.pop();
        }
    }

    fn value(&mut self, v: &Expression<'_>, path: &mut Vec<Seg>) {
        match v {
            Expression::ObjectExpression(o) => self.object(o, path),
            Expression::ArrayExpression(a) => {
                for (i, e) in a.elements.iter().enumerate() {
                    if matches!(e, ArrayExpressionElement::SpreadElement(_)) {
                        break;
                    }
                    let Some(e) = e.as_expression() else { continue };
                    path.push(Seg::Index(i));
                    self.props.insert(path.clone(), (e.span(), e.span()));
                    self.value(e, path);
                    path.pop();
                }
            }
            Expression::ParenthesizedExpression(p) => self.value(&p.expression, path),
            _ => {}
        }
    }

    /// The span of the value at `path`, or of the nearest enclosing one that
    /// is written in the literal.
    pub fn value_span(&self, path: &[Seg]) -> Span {
        (0..=path.len()).rev().find_map(|n| self.props.get(&path[..n]).map(|(_, v)| *v)).unwrap_or(self.at)
    }

    /// The span of the key at `path` (for unknown options).
    pub fn key_span(&self, path: &[Seg]) -> Span {
        self.props.get(path).map(|(k, _)| *k).unwrap_or_else(|| self.value_span(path))
    }
}

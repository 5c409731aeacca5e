//! k6/html: `parseHTML(src)` and `res.html()`, goquery's Selection as k6
//! exposes it. Documents are parsed here (html5ever, through `scraper`) and
//! kept in a per-worker store; JavaScript (`html_shim.js`) holds a
//! document's handle and the indexes of the nodes a Selection holds, and
//! asks the functions below for what it needs (a walk along an axis, text,
//! markup, attributes). A document is freed when the last JavaScript object
//! that refers to it is collected (a `FinalizationRegistry` calls `free`).
//!
//! k6's semantics, kept here: an invalid CSS selector matches nothing (it
//! does not throw; a warning is printed once per selector), results are in
//! goquery's order (node by node, without duplicates), `html()` is
//! serialized as Go's `html.Render` does (`<br/>`, `&#34;`, `&#39;`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Mutex;

use ego_tree::iter::Edge;
use ego_tree::{NodeId, NodeRef};
use rquickjs::{Ctx, Exception, Function, Object};
use scraper::{ElementRef, Html, Node, Selector};

const SHIM: &str = include_str!("html_shim.js");

/// Compiled selectors kept per worker (scripts use a few, every iteration).
const SELECTOR_CACHE: usize = 256;
/// Invalid selectors warned about at most, per process.
const WARNINGS: usize = 10;

static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A parsed document and its nodes by index (the tree's own order, so an
/// index is found back by a binary search of the ids).
struct Doc {
    html: Html,
    ids: Vec<NodeId>,
}

impl Doc {
    fn new(src: &str) -> Doc {
        let html = Html::parse_document(src);
        let ids = html.tree.nodes().map(|n| n.id()).collect();
        Doc { html, ids }
    }

    fn node(&self, i: u32) -> Option<NodeRef<'_, Node>> {
        self.ids.get(i as usize).and_then(|&id| self.html.tree.get(id))
    }

    fn index(&self, n: &NodeRef<'_, Node>) -> Option<u32> {
        self.ids.binary_search(&n.id()).ok().map(|i| i as u32)
    }

    fn nodes<'a>(&'a self, list: &'a [u32]) -> impl Iterator<Item = NodeRef<'a, Node>> + 'a {
        list.iter().filter_map(|&i| self.node(i))
    }
}

/// A selector argument: none given, given but invalid (matches nothing, as
/// goquery's), or compiled.
#[derive(Clone)]
enum Filter {
    Absent,
    Invalid,
    Css(Rc<Selector>),
}

impl Filter {
    fn matches(&self, n: &NodeRef<'_, Node>) -> bool {
        match self {
            Filter::Absent => true,
            Filter::Invalid => false,
            Filter::Css(s) => ElementRef::wrap(*n).is_some_and(|e| s.matches(&e)),
        }
    }

    /// An element that passes the filter (any element when there is none).
    fn keeps(&self, n: &NodeRef<'_, Node>) -> bool {
        n.value().is_element() && self.matches(n)
    }
}

#[derive(Default)]
struct Store {
    docs: RefCell<Vec<Option<Doc>>>,
    free: RefCell<Vec<u32>>,
    selectors: RefCell<HashMap<String, Option<Rc<Selector>>>>,
}

impl Store {
    fn parse(&self, src: &str) -> u32 {
        let doc = Doc::new(src);
        let mut docs = self.docs.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(i) => {
                docs[i as usize] = Some(doc);
                i
            }
            None => {
                docs.push(Some(doc));
                (docs.len() - 1) as u32
            }
        }
    }

    fn release(&self, d: u32) {
        let mut docs = self.docs.borrow_mut();
        if let Some(slot) = docs.get_mut(d as usize)
            && slot.take().is_some()
        {
            self.free.borrow_mut().push(d);
        }
    }

    fn live(&self) -> usize {
        self.docs.borrow().iter().filter(|d| d.is_some()).count()
    }

    fn filter(&self, sel: Option<&str>) -> Filter {
        let Some(sel) = sel else { return Filter::Absent };
        let mut cache = self.selectors.borrow_mut();
        if let Some(c) = cache.get(sel) {
            return c.clone().map_or(Filter::Invalid, Filter::Css);
        }
        let compiled = match Selector::parse(sel) {
            Ok(_) if unclosed(sel) => {
                warn_invalid(sel, "a bracket, parenthesis or quote is not closed");
                None
            }
            Ok(s) => Some(Rc::new(s)),
            Err(e) => {
                warn_invalid(sel, &e.to_string());
                None
            }
        };
        if cache.len() >= SELECTOR_CACHE {
            cache.clear();
        }
        cache.insert(sel.to_string(), compiled.clone());
        compiled.map_or(Filter::Invalid, Filter::Css)
    }

    fn with<R>(&self, ctx: &Ctx<'_>, d: u32, f: impl FnOnce(&Doc) -> R) -> rquickjs::Result<R> {
        let docs = self.docs.borrow();
        match docs.get(d as usize).and_then(Option::as_ref) {
            Some(doc) => Ok(f(doc)),
            None => Err(Exception::throw_message(ctx, "k6/html: this document is no longer available")),
        }
    }
}

/// A `[`, `(` or quote left open at the end: CSS's parser closes it (so the
/// `selectors` crate accepts `li[data-id`), goquery's refuses the selector.
fn unclosed(sel: &str) -> bool {
    let mut open = Vec::new();
    let mut quote = None;
    let mut chars = sel.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '(') => open.push(c),
            (None, ']' | ')') => {
                open.pop();
            }
            _ => {}
        }
    }
    quote.is_some() || !open.is_empty()
}

fn warn_invalid(sel: &str, why: &str) {
    let Ok(mut warned) = WARNED.lock() else { return };
    if warned.len() < WARNINGS && !warned.iter().any(|w| w == sel) {
        warned.push(sel.to_string());
        eprintln!("warning: k6/html: invalid CSS selector '{sel}' ({why}): it matches nothing, as in k6");
    }
}

/// The nodes reached from `nodes` along `axis`, in goquery's order, each once.
fn walk(doc: &Doc, nodes: &[u32], axis: &str, f: &Filter) -> Vec<u32> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |n: NodeRef<'_, Node>| {
        if let Some(i) = doc.index(&n)
            && seen.insert(i)
        {
            out.push(i);
        }
    };
    for n in doc.nodes(nodes) {
        match axis {
            "find" => n.descendants().skip(1).filter(|d| f.keeps(d)).for_each(&mut push),
            "filter" if f.keeps(&n) => push(n),
            "not" if !f.keeps(&n) => push(n),
            "has" if n.descendants().skip(1).any(|d| f.keeps(&d)) => push(n),
            "closest" => {
                if let Some(c) = std::iter::once(n).chain(n.ancestors()).find(|a| f.keeps(a)) {
                    push(c)
                }
            }
            "children" => n.children().filter(|c| f.keeps(c)).for_each(&mut push),
            "contents" => n.children().for_each(&mut push),
            "parent" => {
                if let Some(p) = n.parent().filter(|p| f.keeps(p)) {
                    push(p)
                }
            }
            "parents" => {
                n.ancestors().take_while(|a| a.value().is_element()).filter(|a| f.keeps(a)).for_each(&mut push)
            }
            "next" => {
                if let Some(s) = n.next_siblings().find(|s| s.value().is_element()).filter(|s| f.keeps(s)) {
                    push(s)
                }
            }
            "prev" => {
                if let Some(s) = n.prev_siblings().find(|s| s.value().is_element()).filter(|s| f.keeps(s)) {
                    push(s)
                }
            }
            "nextAll" => n.next_siblings().filter(|s| f.keeps(s)).for_each(&mut push),
            "prevAll" => n.prev_siblings().filter(|s| f.keeps(s)).for_each(&mut push),
            "siblings" => {
                if let Some(p) = n.parent() {
                    p.children().filter(|c| c.id() != n.id() && f.keeps(c)).for_each(&mut push)
                }
            }
            _ => {}
        }
    }
    out
}

/// The nodes of `candidates` that have one of `roots` as an ancestor.
fn within(doc: &Doc, roots: &[u32], candidates: &[u32]) -> Vec<u32> {
    let roots: HashSet<u32> = roots.iter().copied().collect();
    candidates
        .iter()
        .copied()
        .filter(|&c| {
            doc.node(c).is_some_and(|n| n.ancestors().any(|a| doc.index(&a).is_some_and(|i| roots.contains(&i))))
        })
        .collect()
}

/// goquery's `Text()`: the text nodes of each node and its descendants.
fn text(doc: &Doc, nodes: &[u32]) -> String {
    let mut out = String::new();
    for n in doc.nodes(nodes) {
        for d in n.descendants() {
            if let Node::Text(t) = d.value() {
                out.push_str(t);
            }
        }
    }
    out
}

/// Go's `html` escaping (what `html.Render` writes for text and attribute values).
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source", "track",
    "wbr",
];
const LITERAL: &[&str] = &["iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "xmp"];

fn html_element(n: &NodeRef<'_, Node>) -> Option<&'static str> {
    let e = n.value().as_element()?;
    if &*e.name.ns != "http://www.w3.org/1999/xhtml" {
        return None;
    }
    LITERAL.iter().chain(["pre", "listing", "textarea"].iter()).find(|&&l| l == e.name()).copied()
}

/// `root` and its descendants as Go's `html.Render` writes them (iterative:
/// any depth of nesting a server sends).
fn render(out: &mut String, root: NodeRef<'_, Node>) {
    for edge in root.traverse() {
        match edge {
            Edge::Open(n) => match n.value() {
                Node::Document | Node::Fragment => {}
                Node::Text(t) => {
                    let literal = n.id() != root.id()
                        && n.parent().and_then(|p| html_element(&p)).is_some_and(|name| LITERAL.contains(&name));
                    if literal {
                        out.push_str(t);
                    } else {
                        escape_into(out, t);
                    }
                }
                Node::Comment(c) => {
                    out.push_str("<!--");
                    out.push_str(c);
                    out.push_str("-->");
                }
                Node::Doctype(d) => {
                    out.push_str("<!DOCTYPE ");
                    escape_into(out, d.name());
                    let quoted = |out: &mut String, s: &str| {
                        let q = if s.contains('"') { '\'' } else { '"' };
                        out.push(q);
                        out.push_str(s);
                        out.push(q);
                    };
                    if !d.public_id().is_empty() {
                        out.push_str(" PUBLIC ");
                        quoted(out, d.public_id());
                        if !d.system_id().is_empty() {
                            out.push(' ');
                            quoted(out, d.system_id());
                        }
                    } else if !d.system_id().is_empty() {
                        out.push_str(" SYSTEM ");
                        quoted(out, d.system_id());
                    }
                    out.push('>');
                }
                Node::ProcessingInstruction(p) => {
                    out.push_str("<?");
                    out.push_str(&p.target);
                    out.push(' ');
                    out.push_str(&p.data);
                    out.push('>');
                }
                Node::Element(e) => {
                    out.push('<');
                    out.push_str(e.name());
                    for (name, value) in e.attrs.iter() {
                        out.push(' ');
                        if let Some(prefix) = &name.prefix {
                            out.push_str(prefix);
                            out.push(':');
                        }
                        out.push_str(&name.local);
                        out.push_str("=\"");
                        escape_into(out, value);
                        out.push('"');
                    }
                    if VOID.contains(&e.name()) {
                        out.push_str("/>");
                        continue;
                    }
                    out.push('>');
                    if matches!(html_element(&n), Some("pre" | "listing" | "textarea"))
                        && n.first_child().and_then(|c| c.value().as_text().map(|t| t.starts_with('\n'))) == Some(true)
                    {
                        out.push('\n');
                    }
                }
            },
            Edge::Close(n) => {
                if let Node::Element(e) = n.value()
                    && !VOID.contains(&e.name())
                {
                    out.push_str("</");
                    out.push_str(e.name());
                    out.push('>');
                }
            }
        }
    }
}

/// goquery's `Html()`: the markup of the node's children.
fn inner_html(n: NodeRef<'_, Node>) -> String {
    let mut out = String::new();
    for c in n.children() {
        render(&mut out, c);
    }
    out
}

/// goquery's `NodeName`.
fn node_name(n: &NodeRef<'_, Node>) -> String {
    match n.value() {
        Node::Element(e) => e.name().to_string(),
        Node::Doctype(d) => d.name().to_string(),
        Node::Text(_) => "#text".into(),
        Node::Document | Node::Fragment => "#document".into(),
        Node::Comment(_) => "#comment".into(),
        Node::ProcessingInstruction(_) => String::new(),
    }
}

/// The DOM's `nodeType` (as k6's constants), 0 for what k6 has none for.
fn node_type(n: &NodeRef<'_, Node>) -> u32 {
    match n.value() {
        Node::Element(_) => 1,
        Node::Text(_) => 3,
        Node::Comment(_) => 8,
        Node::Document | Node::Fragment => 9,
        Node::Doctype(_) => 10,
        Node::ProcessingInstruction(_) => 0,
    }
}

/// The node next to `n` (`parentNode`, `firstChild`…), any kind of node.
fn related<'a>(n: NodeRef<'a, Node>, which: &str) -> Option<NodeRef<'a, Node>> {
    match which {
        "parent" => n.parent(),
        "first" => n.first_child(),
        "last" => n.last_child(),
        "next" => n.next_sibling(),
        "prev" => n.prev_sibling(),
        _ => None,
    }
}

/// The native functions the shim is given.
fn natives<'js>(ctx: &Ctx<'js>, store: &Rc<Store>) -> rquickjs::Result<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    let s = store.clone();
    o.set("parse", Function::new(ctx.clone(), move |src: String| s.parse(&src))?)?;
    let s = store.clone();
    o.set("free", Function::new(ctx.clone(), move |d: u32| s.release(d))?)?;
    let s = store.clone();
    o.set("live", Function::new(ctx.clone(), move || s.live() as u32)?)?;
    let s = store.clone();
    o.set(
        "walk",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, d: u32, nodes: Vec<u32>, axis: String, sel: Option<String>| {
                let f = s.filter(sel.as_deref());
                s.with(&ctx, d, |doc| walk(doc, &nodes, &axis, &f))
            },
        )?,
    )?;
    let s = store.clone();
    o.set(
        "within",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, roots: Vec<u32>, cands: Vec<u32>| {
            s.with(&ctx, d, |doc| within(doc, &roots, &cands))
        })?,
    )?;
    let s = store.clone();
    o.set(
        "text",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, nodes: Vec<u32>| {
            s.with(&ctx, d, |doc| text(doc, &nodes))
        })?,
    )?;
    let s = store.clone();
    o.set(
        "html",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, n: u32| {
            s.with(&ctx, d, |doc| doc.node(n).map(inner_html).unwrap_or_default())
        })?,
    )?;
    let s = store.clone();
    o.set(
        "attr",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, n: u32, name: String| {
            s.with(&ctx, d, |doc| {
                doc.node(n).and_then(|n| n.value().as_element().and_then(|e| e.attr(&name)).map(str::to_string))
            })
        })?,
    )?;
    let s = store.clone();
    o.set(
        "attrs",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, n: u32| {
            s.with(&ctx, d, |doc| {
                let mut flat = Vec::new();
                if let Some(e) = doc.node(n).as_ref().and_then(|n| n.value().as_element()) {
                    for (name, value) in e.attrs() {
                        flat.push(name.to_string());
                        flat.push(value.to_string());
                    }
                }
                flat
            })
        })?,
    )?;
    let s = store.clone();
    o.set(
        "name",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, n: u32| {
            s.with(&ctx, d, |doc| doc.node(n).map(|n| node_name(&n)).unwrap_or_default())
        })?,
    )?;
    let s = store.clone();
    o.set(
        "type",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, n: u32| {
            s.with(&ctx, d, |doc| doc.node(n).map(|n| node_type(&n)).unwrap_or(0))
        })?,
    )?;
    let s = store.clone();
    o.set(
        "related",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: u32, n: u32, which: String| {
            s.with(&ctx, d, |doc| {
                doc.node(n).and_then(|n| related(n, &which)).and_then(|r| doc.index(&r)).map_or(-1, |i| i as i64)
            })
        })?,
    )?;
    Ok(o)
}

/// Puts `html` on the host object `h`: `h.html.parse(src, url)` (a
/// response's document) and `h.html.parseHTML(src)` (k6/html's export).
pub(crate) fn install<'js>(ctx: &Ctx<'js>, h: &Object<'js>) -> rquickjs::Result<()> {
    let store = Rc::new(Store::default());
    let setup: Function = ctx.eval(SHIM)?;
    let api: Object = setup.call((natives(ctx, &store)?,))?;
    h.set("html", api)
}

#[cfg(test)]
mod tests {
    use rquickjs::{Context, Runtime};

    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html lang="en"><head><title>Shop &amp; "more" 'x'</title></head><body>
<ul id="p"><li class="item" data-id="1"><a href="/p/1">One</a> <b>bold</b></li><li class="item" data-id="2"><a href="/p/2">Two<br>x</a></li>
<li class="item sale" data-id="3" data-info='{"n":1}'><a href="/p/3">Three</li></ul>
<form><input name="q" value="shoes"><input type="checkbox" name="c"><textarea>hello &lt;</textarea><select name="s"><option value="a">A</option><option selected>B</option></select></form>
<p>unclosed <div>in div</p></div>
<script>var x = "<b>";</script>
</body></html>"#;

    /// Runs `js` (with `parseHTML` and `PAGE` defined) and returns its result as JSON.
    fn eval(js: &str) -> String {
        let rt = Runtime::new().unwrap();
        let ctx = Context::full(&rt).unwrap();
        ctx.with(|ctx| {
            let h = Object::new(ctx.clone()).unwrap();
            install(&ctx, &h).unwrap();
            ctx.globals().set("h", h).unwrap();
            ctx.globals().set("PAGE", PAGE).unwrap();
            let code = format!("(() => {{ const parseHTML = h.html.parseHTML; {js} }})()");
            let v: rquickjs::Value = match ctx.eval(code) {
                Ok(v) => v,
                Err(rquickjs::Error::Exception) => {
                    let e = ctx.catch();
                    let e = e.as_exception().and_then(|e| e.message()).unwrap_or_default();
                    return format!("throws {e}");
                }
                Err(e) => panic!("{e}"),
            };
            if v.is_undefined() {
                return "undefined".into();
            }
            ctx.json_stringify(v).unwrap().unwrap().to_string().unwrap()
        })
    }

    // Each figure below is what k6 1.1.0 gives for the same page and call.
    #[test]
    fn selections_give_what_k6_gives() {
        let cases: &[(&str, &str)] = &[
            ("doc.find('li.item').size()", "3"),
            ("doc.find('li.item').length", "undefined"),
            ("doc.find('li.item').text()", r#""One boldTwoxThree""#),
            ("doc.find('title').text()", r#""Shop & \"more\" 'x'""#),
            ("doc.find('head').html()", r#""<title>Shop &amp; &#34;more&#34; &#39;x&#39;</title>""#),
            ("doc.find('li.item').attr('data-id')", r#""1""#),
            ("doc.find('li.item').attr('nope')", "undefined"),
            ("doc.find('li.item').attr('nope', 'dflt')", r#""dflt""#),
            ("doc.find('nothing').attr('x')", "undefined"),
            ("doc.find('nothing').html()", r#""""#),
            ("doc.find('li.item').html()", r#""<a href=\"/p/1\">One</a> <b>bold</b>""#),
            ("doc.find('li.item').eq(1).html()", r#""<a href=\"/p/2\">Two<br/>x</a>""#),
            ("doc.find('li.item').eq(-1).attr('data-id')", r#""3""#),
            ("doc.find('li.item').eq(5).size()", "0"),
            ("doc.find('li.item').last().attr('data-id')", r#""3""#),
            ("doc.find('input').val()", r#""shoes""#),
            ("doc.find('input[type=checkbox]').val()", r#""on""#),
            ("doc.find('textarea').val()", r#""hello &lt;""#),
            ("doc.find('select').val()", r#""B""#),
            ("doc.find('li').val()", "undefined"),
            ("doc.find('ul').children().size()", "3"),
            ("doc.find('ul').children('.sale').size()", "1"),
            ("doc.find('a').parent().size()", "4"),
            ("doc.find('li.item').is('.sale')", "true"),
            ("doc.find('li.item').filter('.sale').size()", "1"),
            ("doc.find('a[').size()", "0"),
            ("doc.find('li[data-id').size()", "0"),
            ("doc.find('li:not(.sale').size()", "0"),
            ("doc.find('li[data-id=\"1').size()", "0"),
            ("doc.find('li[data-id=\"1\"]').size()", "1"),
            ("doc.find('li:not(.sale)').size()", "2"),
            ("doc.find('li.item').is('a[[')", "false"),
            ("doc.find('li.item').map((i, s) => s.attr('data-id') + ':' + i)", r#"["1:0","2:1","3:2"]"#),
            ("doc.find('li.item').map((i) => { if (i == 1) throw new Error('x'); return i; })", "[0,2]"),
            (
                "((out) => (doc.find('li.item').each((i, e) => out.push([i, e.nodeName(), e.textContent(), e.getAttribute('data-id'), e.id(), String(e)])), out))([])",
                r#"[[0,"li","One bold","1","","[object html.Node]"],[1,"li","Twox","2","","[object html.Node]"],[2,"li","Three","3","","[object html.Node]"]]"#,
            ),
            ("doc.find('li.item').toArray().map((s) => s.attr('data-id'))", r#"["1","2","3"]"#),
            ("doc.find('li.item').get(-1).getAttribute('data-id')", r#""3""#),
            ("doc.find('li.item').get(5)", "undefined"),
            ("doc.find('li.item').get().length", "3"),
            ("doc.find('p').size() + '/' + doc.find('div').text()", r#""2/in div""#),
            ("doc.find('body').text().length", "61"),
            ("doc.size()", "1"),
            ("doc.html().slice(0, 60)", r#""<!DOCTYPE html><html lang=\"en\"><head><title>Shop &amp; &#34;""#),
            ("doc.find('li.item').get(0).nodeType()", "1"),
            ("doc.find('li.item').slice(1).size()", "2"),
            ("doc.find('li.item').data()", r#"{"id":1}"#),
            ("doc.find('li.sale').data('info')", r#"{"n":1}"#),
            ("doc.find('li.item').not('.sale').size()", "2"),
            ("doc.find('li.item').has('b').size()", "1"),
            ("doc.find('a').closest('ul').size()", "1"),
            ("doc.find('li.item').next().size()", "2"),
            ("doc.find('li.item').first().siblings().size()", "2"),
            ("doc.find('li.item').first().contents().size()", "3"),
            ("doc.find('li.item').index()", "0"),
            ("doc.find('li.item').add('a').size()", "7"),
            ("doc.find('li.item').end().size()", "1"),
            ("doc.find(5).size()", "throws invalid argument, cannot use a 'number' as a selector"),
        ];
        let mut wrong = Vec::new();
        for (js, want) in cases {
            let got = eval(&format!("const doc = parseHTML(PAGE); return {js};"));
            if got != *want {
                wrong.push(format!("{js}\n  k6:   {want}\n  here: {got}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn documents_are_freed_when_no_selection_refers_to_them() {
        let rt = Runtime::new().unwrap();
        let ctx = Context::full(&rt).unwrap();
        let parsed = ctx.with(|ctx| {
            let h = Object::new(ctx.clone()).unwrap();
            install(&ctx, &h).unwrap();
            ctx.globals().set("h", h).unwrap();
            ctx.globals().set("PAGE", PAGE).unwrap();
            ctx.eval::<u32, _>(
                "globalThis.kept = h.html.parseHTML(PAGE).find('li');\n\
                 for (let i = 0; i < 200; i++) h.html.parseHTML(PAGE).find('li').text();\n\
                 h.html.live()",
            )
            .unwrap()
        });
        assert!(parsed > 1, "{parsed}");
        rt.run_gc();
        while rt.execute_pending_job().unwrap_or(false) {}
        let (live, text) = ctx.with(|ctx| {
            let natives: u32 = ctx.eval("h.html.live()").unwrap();
            let text: String = ctx.eval("kept.first().text()").unwrap();
            (natives, text)
        });
        assert_eq!(text, "One bold");
        assert_eq!(live, 1, "the 200 documents no Selection refers to are freed, the kept one is not");
    }

    #[test]
    fn any_markup_and_any_selector_give_an_answer_never_a_panic() {
        // Deeper than a recursive serializer would survive (html5ever's
        // parse of it is quadratic: this depth keeps the test short).
        let deep = "<div>".repeat(20_000);
        let nasty = [
            "",
            "<",
            "</>",
            "<html><html><body><body>",
            "<table><tr><td>a<p>b</table>c",
            "<a><b><a><b>",
            "\u{0}\u{feff}<p>\u{0}</p>",
            "<svg><foreignObject><p>x</svg>",
            "<template><li>t</li></template>",
            "<!-- unclosed",
            "<plaintext><b>",
            deep.as_str(),
        ];
        for src in nasty {
            let js = "const d = parseHTML(SRC); return [d.find('*').size(), d.html().length, d.text().length, d.find('div:has(> p)').size()].length";
            let rt = Runtime::new().unwrap();
            let ctx = Context::full(&rt).unwrap();
            let got = ctx.with(|ctx| {
                let h = Object::new(ctx.clone()).unwrap();
                install(&ctx, &h).unwrap();
                ctx.globals().set("h", h).unwrap();
                ctx.globals().set("SRC", src).unwrap();
                let v: u32 = ctx.eval(format!("(() => {{ const parseHTML = h.html.parseHTML; {js} }})()")).unwrap();
                v
            });
            assert_eq!(got, 4);
        }
        for sel in ["", "[", "a[", ":::", "\u{0}", "a:nth-child(", "li:contains('x')", "}", "*|*", ":has()", "a >"] {
            let got = eval(&format!("return parseHTML(PAGE).find({sel:?}).size()"));
            assert!(got == "0" || got.parse::<u32>().is_ok(), "{sel}: {got}");
        }
    }
}

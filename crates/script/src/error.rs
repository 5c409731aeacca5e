//! `ScriptError`: everything wrong with a script that was found before any
//! load, each one located (`script.js:LINE:COL`) and explained like a
//! scenario file's errors.

use std::fmt;

use stampede_scenario::ScenarioError;

/// One or more located errors, in the order found (by module, then position).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub struct ScriptError {
    errors: Vec<ScenarioError>,
}

impl ScriptError {
    /// `errors` must not be empty.
    pub(crate) fn new(errors: Vec<ScenarioError>) -> ScriptError {
        debug_assert!(!errors.is_empty());
        ScriptError { errors }
    }

    pub(crate) fn one(error: ScenarioError) -> ScriptError {
        ScriptError { errors: vec![error] }
    }

    /// Every error (at least one).
    pub fn errors(&self) -> &[ScenarioError] {
        &self.errors
    }

    /// The first error.
    pub fn first(&self) -> &ScenarioError {
        &self.errors[0]
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

//! stampede-script: k6 JavaScript scripts, run unmodified (issue 16). This
//! crate turns a script into what a run needs before any load — the same
//! [`Plan`] a scenario file compiles to, the script's modules made
//! asynchronous for Stampede's engine, and what the init code declares — or
//! into located errors (`script.js:LINE:COL`) for whatever cannot run with
//! k6's meaning.
//!
//! ```no_run
//! let sp = stampede_script::load("script.js".as_ref(), &Default::default())?;
//! println!("{} scenario(s)", sp.plan.scenarios.len());
//! # Ok::<(), stampede_script::ScriptError>(())
//! ```
//!
//! The design, with its measurements: `docs/design/k6-runtime.md`.
//!
//! # Layout
//!
//! - [`transform`]: the source transform (oxc): module graph, static API
//!   check, blocking analysis, edits, factories and their position maps.
//! - [`api`]: the k6 API a script may use (modules, members, blocking ones,
//!   refused globals).
//! - [`init`]: plan time's run of the init code in a throw-away QuickJS
//!   instance (VU 0): `options`, exports, custom metrics, `open()`ed files,
//!   SharedArrays. Requests throw there.
//! - [`options`]: `options` (JSON) onto a [`Plan`] with k6's names, defaults
//!   and precedence, and the command line's overrides.
//! - `html`: k6/html's Selection (`res.html()`, `parseHTML`): documents
//!   parsed by html5ever and kept per worker, walked with CSS selectors.
//! - `error`: [`ScriptError`], one or more located errors.
//!
//! Not here yet (docs/design/k6-runtime.md §8): the run-time runtime (a
//! QuickJS runtime per worker, a factory instance per VU, the op queue), the
//! k6 API at run time, setup/teardown/handleSummary, distributed shipping.
//! Nothing in this crate sends a request.

pub mod api;
mod crypto;
mod error;
mod html;
pub mod init;
pub mod options;
pub mod runtime;
pub mod transform;

use std::path::Path;
use std::sync::Arc;

use stampede_scenario::{Overrides, Plan, ScenarioError};

pub use error::ScriptError;
pub use init::{Export, Limits, OpenedFile, SharedArrayInfo};
pub use options::{ScenarioExtras, ScriptOptions};
pub use transform::{Bundle, Module};

/// Largest script module accepted.
pub const MAX_SCRIPT_BYTES: u64 = 4 * 1024 * 1024;

/// Everything decided before any load.
#[derive(Debug, Clone)]
pub struct ScriptPlan {
    /// Scenarios (each names the exported function it runs: `exec`),
    /// executors, the custom metrics the init code declares, thresholds on
    /// built-in and custom metrics, target options, warnings.
    pub plan: Arc<Plan>,
    /// The transformed modules, the main script last.
    pub bundle: Arc<Bundle>,
    /// The main module's exports.
    pub exports: Vec<Export>,
    /// Options the plan has no place for yet.
    pub options: ScriptOptions,
    /// Files the init code read with `open()` (what agents must receive).
    pub files: Vec<OpenedFile>,
    pub shared_arrays: Vec<SharedArrayInfo>,
    /// What the init code printed (`level: text`), once, at plan time.
    pub console: Vec<String>,
    /// `options` as JSON (k6's `exec.test.options`).
    pub options_json: String,
    /// The environment the script sees (`__ENV`): the process's, then `-e`.
    pub env: Vec<(String, String)>,
}

impl ScriptPlan {
    /// Valid but probably not meant; printed before any load.
    pub fn warnings(&self) -> &[ScenarioError] {
        &self.plan.warnings
    }

    /// The names of the exported functions.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.exports.iter().filter(|e| e.is_function).map(|e| e.name.as_str())
    }
}

/// Whether a file is a script (by extension) rather than a scenario file.
pub fn is_script(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("js" | "mjs" | "cjs" | "ts"))
}

/// Reads, transforms and checks a script, runs its init code once (VU 0)
/// and maps its options onto a plan, with the command line's overrides.
pub fn load(path: &Path, overrides: &Overrides) -> Result<ScriptPlan, ScriptError> {
    load_with(path, overrides, &Limits::default())
}

/// [`load`] with explicit bounds on the plan-time run of the init code.
pub fn load_with(path: &Path, overrides: &Overrides, limits: &Limits) -> Result<ScriptPlan, ScriptError> {
    if let Some(ext @ ("ts" | "cjs")) = path.extension().and_then(|e| e.to_str()) {
        let (message, help) = if ext == "ts" {
            ("TypeScript scripts are not supported", "run the script as JavaScript (.js), e.g. after `tsc` or esbuild")
        } else {
            ("CommonJS scripts (.cjs) are not supported", "write the script as an ES module (.js) with import/export")
        };
        return Err(ScriptError::one(ScenarioError::new(path, "", None, "", message, help)));
    }
    let transformed = transform::transform(path, &mut |p: &Path| {
        let bytes = stampede_scenario::input::read_bounded(p, MAX_SCRIPT_BYTES, "script")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        String::from_utf8(bytes).map_err(|_| std::io::Error::other("the file is not UTF-8 text"))
    })?;
    let bundle = transformed.bundle;
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
        .collect();
    env.extend(overrides.env.iter().cloned());
    let init = init::run(&bundle, &env, limits)?;
    if !init.exports.iter().any(|e| e.is_function) {
        let main = bundle.main();
        return Err(ScriptError::one(ScenarioError::new(
            &main.path,
            "",
            None,
            "",
            "the script exports no function",
            "k6 runs an exported function each iteration: export default function () { … }",
        )));
    }
    let main = bundle.main();
    let source = options::Source { path: &main.path, text: &main.source, spans: transformed.options.as_ref() };
    let mut decoded =
        options::decode(&init.options, source, &init.exports, &init.metrics, overrides).map_err(ScriptError::new)?;
    let mut warnings = transformed.warnings;
    warnings.append(&mut decoded.plan.warnings);
    decoded.plan.warnings = warnings;
    Ok(ScriptPlan {
        plan: Arc::new(decoded.plan),
        bundle: Arc::new(bundle),
        exports: init.exports,
        options: decoded.options,
        files: init.files,
        shared_arrays: init.shared_arrays,
        console: init.console,
        options_json: init.options.to_string(),
        env,
    })
}

//! k6 scripts on the command line (`stampede validate|run|coordinator
//! FILE.js`, chosen by extension): validate prints what it prints for a
//! scenario file; run and coordinator validate, then refuse: the script
//! runtime (docs/design/k6-runtime.md §8, steps 1–2 and 5) is not there yet.
//!
//! Exit codes: everything refused before any load exits 104 (invalid
//! input), as issue 16 asks. k6 itself exits 107 for syntax errors and
//! exceptions in init code (docs/design/k6-runtime.md §6.9); whether
//! Stampede follows is to settle with the life-cycle step (step 5).

use std::path::Path;

use crate::cli::{OverrideArgs, ValidateArgs};
use crate::exit;

/// Loads a script with the command-line overrides, printing its warnings
/// and what its init code printed; the located errors on failure.
fn load(file: &Path, overrides: &OverrideArgs) -> Result<stampede_script::ScriptPlan, i32> {
    match stampede_script::load(file, &overrides.to_overrides()) {
        Ok(sp) => {
            for line in &sp.console {
                eprintln!("init: {line}");
            }
            for w in sp.warnings() {
                eprintln!("{w}");
            }
            Ok(sp)
        }
        Err(e) => {
            eprintln!("{e}");
            Err(exit::INVALID_INPUT)
        }
    }
}

/// `stampede validate FILE.js`.
pub fn validate(args: &ValidateArgs) -> i32 {
    let sp = match load(&args.file, &args.overrides) {
        Ok(sp) => sp,
        Err(code) => return code,
    };
    let plan = &sp.plan;
    let functions: Vec<&str> = sp.functions().collect();
    println!(
        "{}: ok — {} scenario(s), {} exported function(s) ({}), {} threshold(s), {} custom metric(s); up to {} VUs for {:.0?}",
        args.file.display(),
        plan.scenarios.len(),
        functions.len(),
        functions.join(", "),
        plan.thresholds.len(),
        plan.metrics.len(),
        plan.peak_vus(),
        plan.planned_duration()
    );
    exit::OK
}

/// `stampede run FILE.js` and `stampede coordinator FILE.js`: validated, then
/// refused without sending any load.
pub fn refuse_to_run(file: &Path, overrides: &OverrideArgs) -> i32 {
    if let Err(code) = load(file, overrides) {
        return code;
    }
    eprintln!(
        "error: {}: the script is valid, but running k6 scripts is not available yet (the script runtime is being built, issue 16); no load was sent\n  help: `stampede validate {}` checks a script; run scenario files (.toml) meanwhile",
        file.display(),
        file.display()
    );
    exit::INVALID_INPUT
}

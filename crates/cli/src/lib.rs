//! The `stampede` command: flags, and the glue between the libraries.
//!
//! # Layout
//! - [`cli`]: the command line (clap).
//! - [`run`]: `stampede run` and `stampede coordinator`: flags → plan,
//!   outputs and a source (local agent processes, the coordinator's
//!   barrier), then the run through `stampede-controller`.
//! - [`flags`]: files and addresses the flags name, checked before any load.
//! - [`placement`]: how many load processes and which source addresses a
//!   local run needs, from the plan and the machine's limits.
//! - [`present`]: what a person sees around a run: UI, progress, Ctrl-C,
//!   the printed summary.
//! - [`agent`]: `stampede agent`.
//! - [`shop`]: starting the bundled shop for `[target] shop` scenarios.
//! - [`script`]: k6 scripts (`FILE.js`): validate, and (for now) refuse to run.
//! - [`exit`]: the documented exit codes.

pub mod agent;
pub mod cli;
pub mod flags;
pub mod placement;
pub mod present;
pub mod run;
pub mod script;
pub mod shop;

/// Exit codes (documented in the README; k6's where k6 has one).
pub use stampede_controller::exit;

/// A mistake in the flags or in a file a flag names (an `--out` path that
/// cannot be created, an address that cannot be listened on, an empty token
/// file, a TLS certificate that does not parse), found before any load.
/// `main` exits with [`exit::INVALID_INPUT`] when an error chain holds one.
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// An [`InvalidInput`] as an `anyhow` error.
pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InvalidInput(message.into()))
}

/// The exit code for an error that ended a command.
pub fn exit_code_of(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<InvalidInput>()) { exit::INVALID_INPUT } else { exit::ERROR }
}

/// Prints a plan's warnings (valid but probably not meant) on stderr.
pub fn print_warnings(plan: &stampede_scenario::Plan) {
    for w in &plan.warnings {
        eprintln!("{w}");
    }
}

/// `stampede validate FILE`.
pub fn validate(args: &cli::ValidateArgs) -> i32 {
    if stampede_script::is_script(&args.file) {
        return script::validate(args);
    }
    match load_plan(&args.file, &args.overrides) {
        Ok(plan) => {
            print_warnings(&plan);
            let vus = plan.peak_vus();
            let dur = plan.planned_duration();
            println!(
                "{}: ok — {} scenario(s), {} flow(s), {} request name(s), {} threshold(s); up to {} VUs for {:.0?}",
                args.file.display(),
                plan.scenarios.len(),
                plan.flows.len(),
                plan.request_names.len(),
                plan.thresholds.len(),
                vus,
                dur
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("{e}");
            exit::INVALID_INPUT
        }
    }
}

/// Loads a plan with the command-line overrides applied.
pub fn load_plan(
    file: &std::path::Path,
    o: &cli::OverrideArgs,
) -> Result<stampede_scenario::Plan, stampede_scenario::ScenarioError> {
    stampede_scenario::load(file, &o.to_overrides())
}

/// `stampede report RUN.json --html OUT --junit OUT`.
/// `stampede compare BASELINE RUN`: prints the comparison, writes the files
/// asked for; exit 0, 111 on a regression, 104 on unusable input.
pub fn compare(args: &cli::CompareArgs) -> i32 {
    use stampede_report::compare;
    let invalid = |msg: String| {
        eprintln!("error: {msg}");
        exit::INVALID_INPUT
    };
    let opts = match crate::flags::compare_options(args.confidence, args.noise, &args.budgets, &[]) {
        Ok(o) => o,
        Err(e) => return invalid(e.to_string()),
    };
    let load = |path: &std::path::Path| stampede_report::Summary::load(path);
    let (base, run) = match (load(&args.baseline), load(&args.run)) {
        (Ok(b), Ok(r)) => (b, r),
        // The messages name their file.
        (Err(e), _) | (_, Err(e)) => return invalid(e.to_string()),
    };
    let name = |p: &std::path::Path| p.display().to_string();
    let c = match compare::compare(
        (&name(&args.baseline), &base),
        (&name(&args.run), &run),
        &opts,
        args.allow_different_scenarios,
    ) {
        Ok(c) => c,
        Err(e) => return invalid(e.to_string()),
    };
    print!("{}", compare::render_text(&c));
    let outputs = [
        (&args.json, compare::Comparison::to_json as fn(&compare::Comparison) -> String),
        (&args.markdown, compare::render_markdown),
        (&args.junit, compare::render_junit),
        (&args.html, compare::render_html),
    ];
    for (path, render) in outputs {
        if let Some(path) = path
            && let Err(e) = std::fs::write(path, render(&c))
        {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::ERROR;
        }
    }
    c.exit_code()
}

pub fn report(args: &cli::ReportFileArgs) -> i32 {
    if args.html.is_none() && args.junit.is_none() {
        eprintln!("error: say what to write: --html OUT.html and/or --junit OUT.xml");
        return exit::INVALID_INPUT;
    }
    match stampede_report::rerender(&args.json, args.html.as_deref(), args.junit.as_deref()) {
        Ok(()) => exit::OK,
        // The messages name their file (the summary read, or the report written).
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData || e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("error: {e}");
            exit::INVALID_INPUT
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}

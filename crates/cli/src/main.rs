//! `stampede`: argument parsing and runtime set-up only; the work happens in
//! the library crates (see `stampede::run`).

use std::process::ExitCode;

use clap::Parser as _;
use stampede::cli::{Cli, Command};
use stampede::exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::INVALID_INPUT as u8 } else { 0 });
        }
    };
    let code = match cli.command {
        Command::Validate(args) => stampede::validate(&args),
        Command::Run(args) => block_on(stampede::run::run(args)),
        Command::Coordinator(args) => block_on(stampede::run::coordinate(args)),
        Command::Agent(args) => block_on(stampede::agent::run(args)),
        Command::Shop(args) => return stampede_shop::cli::main_with(&args),
        Command::Report(args) => stampede::report(&args),
        Command::Compare(args) => stampede::compare(&args),
        Command::Completion { shell } => {
            use clap::CommandFactory as _;
            use std::io::Write as _;
            // Into memory first: a closed pipe (`| head`) is not a panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "stampede", &mut script);
            let mut out = std::io::stdout().lock();
            match out.write_all(&script).and_then(|()| out.flush()) {
                Ok(()) => exit::OK,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
                Err(e) => {
                    eprintln!("error: writing the completion script: {e}");
                    exit::ERROR
                }
            }
        }
    };
    ExitCode::from(code as u8)
}

/// Runs a command on a small runtime (the load has its own threads) and
/// prints an error chain without a backtrace.
fn block_on(fut: impl std::future::Future<Output = anyhow::Result<i32>>) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return exit::ERROR;
        }
    };
    match rt.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            stampede::exit_code_of(&e)
        }
    }
}

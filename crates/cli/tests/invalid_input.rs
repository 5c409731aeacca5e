//! Every malformed scenario in the scenario crate's corpus, through the real
//! binary: a clear located error on stderr, exit code 104, never a panic.

use std::path::Path;
use std::process::Command;

fn stampede(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stampede")).args(args).output().unwrap()
}

#[test]
fn every_malformed_file_is_refused_with_a_clear_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenario/tests/malformed");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "corpus has {} files", files.len());
    for file in &files {
        let expect = std::fs::read_to_string(file.with_extension("expect")).unwrap();
        for cmd in ["validate", "run"] {
            let out = stampede(&[cmd, file.to_str().unwrap(), "--quiet"][..if cmd == "run" { 3 } else { 2 }]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(104), "{cmd} {}: {stderr}", file.display());
            assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
            assert!(stderr.contains(expect.trim()), "{}: expected `{}` in:\n{stderr}", file.display(), expect.trim());
            let name = file.file_name().unwrap().to_str().unwrap();
            assert!(stderr.contains(name), "the error names the file: {stderr}");
        }
    }
}

#[test]
fn bad_flags_and_missing_files_are_invalid_input() {
    let out = stampede(&["run", "/nonexistent/scenario.toml"]);
    assert_eq!(out.status.code(), Some(104));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/scenario.toml"));
    let out = stampede(&["run", "x.toml", "--duration", "ten seconds"]);
    assert_eq!(out.status.code(), Some(104));
    let out = stampede(&["run", "x.toml", "--out", "pdf=x.pdf"]);
    assert_eq!(out.status.code(), Some(104));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown output kind"));
}

#[test]
fn the_smoke_scenario_validates() {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/smoke.toml");
    let out = stampede(&["validate", smoke.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    let run = |shell: &str| {
        let o =
            std::process::Command::new(env!("CARGO_BIN_EXE_stampede")).args(["completion", shell]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let bash = run("bash");
    // bash itself parses it, and it knows the subcommands and their flags.
    let check = std::process::Command::new("bash").args(["-n", "-c", &bash]).output().expect("bash");
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
    for word in ["compare", "coordinator", "--baseline", "--budget", "--out", "--agents"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    assert!(run("zsh").starts_with("#compdef stampede"));
    assert!(run("fish").contains("complete -c stampede -n \"__fish_stampede_needs_command\" -f -a \"compare\""));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stampede")).args(["completion", "tcsh"]).output().unwrap();
    assert_eq!(o.status.code(), Some(104));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values: bash, elvish, fish, powershell, zsh"));
}

//! k6 scripts through the real binary, chosen by extension: `validate`
//! prints the plan's summary (exit 0) or the located error (exit 104,
//! never a panic); `run` and `coordinator` validate and then refuse, since
//! the script runtime is not there yet: no load is ever sent.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stampede(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stampede")).args(args).output().unwrap()
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../script/tests").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    files.sort();
    files
}

#[test]
fn validate_prints_the_plan_of_every_realistic_script() {
    let scripts = corpus("scripts");
    assert_eq!(scripts.len(), 9);
    for script in &scripts {
        let out = stampede(&["validate", script.to_str().unwrap(), "-e", "BASE=http://127.0.0.1:1"]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", script.display());
        assert!(stdout.contains(": ok — "), "{stdout}");
    }
    let setup = scripts.iter().find(|p| p.ends_with("04_scenarios_setup.js")).unwrap();
    let out = stampede(&["validate", setup.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "04_scenarios_setup.js: ok — 2 scenario(s), 4 exported function(s) (setup, browse, buy, teardown), \
             3 threshold(s), 2 custom metric(s); up to 25 VUs for 12s"
        ),
        "{stdout}"
    );
}

#[test]
fn refused_scripts_exit_104_with_the_located_error() {
    let cases = corpus("refused");
    assert!(cases.len() >= 40);
    for case in &cases {
        let expect = std::fs::read_to_string(case.with_extension("expect")).unwrap();
        let location = expect.lines().next().unwrap();
        for cmd in ["validate", "run"] {
            let out = stampede(&[cmd, case.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(104), "{cmd} {}: {stderr}", case.display());
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(stderr.contains(location), "{cmd} {}: expected {location:?} in:\n{stderr}", case.display());
            assert!(!stderr.contains("not available yet"), "refused before: {stderr}");
        }
    }
}

#[test]
fn run_and_coordinator_validate_then_refuse_without_load() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../script/tests/scripts/01_bench_b.js");
    for args in [vec!["run"], vec!["coordinator", "--agents", "1"]] {
        let mut args = args.clone();
        args.push(script.to_str().unwrap());
        let out = stampede(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(104), "{args:?}: {stderr}");
        assert!(
            stderr.contains("01_bench_b.js: the script is valid, but running k6 scripts is not available yet"),
            "{stderr}"
        );
        assert!(stderr.contains("no load was sent"), "{stderr}");
    }
}

#[test]
fn flags_reach_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("env.js");
    std::fs::write(
        &script,
        "if (!__ENV.BASE) throw new Error('set BASE with -e');\n\
         export const options = { vus: 2, duration: '1m' };\n\
         export default function () {}\n",
    )
    .unwrap();
    let path = script.to_str().unwrap();
    let out = stampede(&["validate", path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(104));
    assert!(stderr.contains("env.js:1:28: error: exception in the init code: set BASE with -e"), "{stderr}");
    let out = stampede(&["validate", path, "-e", "BASE=http://127.0.0.1:1", "--vus", "5", "--duration", "10s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("up to 5 VUs for 10s"), "{stdout}");
}

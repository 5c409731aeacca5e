//! k6 scripts through the real binary, chosen by extension: `validate`
//! prints the plan's summary (exit 0) or the located error (exit 104,
//! never a panic); `run` runs them (exit codes of k6's life cycle: 107,
//! 108); `coordinator` validates and refuses. The scripts here send no
//! request (the k6 corpus, `k6_corpus.rs`, does, to loopback).

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
fn a_coordinator_ships_the_script_its_modules_and_files_to_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tests");
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(root.join("lib/pick.js"), "export const second = (xs) => xs[1];\n").unwrap();
    std::fs::write(dir.path().join("data/users.json"), r#"["ann", "bob", "cy"]"#).unwrap();
    let script = root.join("main.js");
    std::fs::write(
        &script,
        "import { check } from 'k6';\n\
         import { second } from './lib/pick.js';\n\
         const users = JSON.parse(open('../data/users.json'));\n\
         export const options = { vus: 2, iterations: 6 };\n\
         export function setup() { return { n: users.length }; }\n\
         export default function (data) {\n\
         \x20 check(data, { 'setup data arrived': (d) => d.n === 3, 'module and file arrived': () => second(users) === 'bob' });\n\
         }\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let coordinator = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["coordinator", script.to_str().unwrap(), "--agents", "1", "--listen", &listen, "--headless"])
        .args(["--agent-timeout", "30s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The agent runs elsewhere: in a directory without the script.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .current_dir(elsewhere.path())
        .args(["agent", "--coordinator", &format!("http://{listen}"), "--once", "--allow-target", "*"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = coordinator.wait_with_output().unwrap();
    let _ = agent.wait();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("checks_succeeded...................: 100.00% 12 out of 12"), "{stdout}");
    assert!(stdout.contains("iterations.........................: 6 "), "{stdout}");
}

/// Writes `text` as `name` in a fresh directory and runs it (no network:
/// these scripts only compute, throw and sleep).
fn run_script(name: &str, text: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join(name);
    std::fs::write(&script, text).unwrap();
    let mut args = vec!["run", script.to_str().unwrap(), "--headless", "--workers", "2"];
    args.extend_from_slice(extra);
    let out = stampede(&args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_exception_in_an_iteration_is_counted_by_its_line_and_the_vu_goes_on() {
    let (code, stdout, stderr) = run_script(
        "throws.js",
        "export const options = { vus: 2, iterations: 10 };\n\
         export default function () {\n\
         \x20 if (__ITER % 2 === 0) {\n\
         \x20   JSON.parse('{not json');\n\
         \x20 }\n\
         }\n",
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    // Every iteration counts (k6 counts those an exception ended too).
    assert!(stdout.contains("iterations.........................: 10 "), "{stdout}");
    assert!(stderr.contains("throws.js:4:"), "{stderr}");
    assert!(stderr.contains("SyntaxError"), "{stderr}");
    assert!(stderr.contains("(each VU went on)"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn html_selectors_a_script_gets_wrong_fail_checks_or_throw_and_the_run_goes_on() {
    let (code, stdout, stderr) = run_script(
        "html.js",
        "import { check } from 'k6';\n\
         import { parseHTML } from 'k6/html';\n\
         export const options = { vus: 2, iterations: 6 };\n\
         const page = '<ul><li data-id=\"1\">a</li><li data-id=\"2\">b<ul></ul>';\n\
         export default function () {\n\
         \x20 const doc = parseHTML(page);\n\
         \x20 check(doc, { 'two items': (d) => d.find('li').size() === 2 });\n\
         \x20 check(doc, { 'invalid selector': (d) => d.find('li[data-id').size() > 0 });\n\
         \x20 check(doc, { 'not a selector': (d) => d.find({}).size() > 0 });\n\
         }\n",
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("iterations.........................: 6 "), "{stdout}");
    // An invalid CSS selector matches nothing (k6's goquery), with one warning.
    assert_eq!(stderr.matches("invalid CSS selector 'li[data-id'").count(), 1, "{stderr}");
    // A value that is no selector throws; the check counts as failed (as k6's), the
    // exception is counted at its line, and every iteration still runs.
    assert!(stdout.contains("checks_succeeded...................: 33.33% 6 out of 18"), "{stdout}");
    assert!(stderr.contains("html.js:9:"), "{stderr}");
    assert!(stderr.contains("cannot use a 'object' as a selector"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn html_selection_callbacks_that_block_are_awaited_in_turn() {
    // k6 1.1.0 passes all six checks of this script too.
    let (code, stdout, stderr) = run_script(
        "html_blocking.js",
        "import { check, sleep } from 'k6';\n\
         import { parseHTML } from 'k6/html';\n\
         export const options = { vus: 1, iterations: 2 };\n\
         export default function () {\n\
         \x20 const doc = parseHTML('<ul><li><a href=\"/a\">a</a></li><li><a href=\"/b\">b</a></li></ul>');\n\
         \x20 const seen = [];\n\
         \x20 doc.find('a').each((i, el) => { sleep(0.01); seen.push(el.getAttribute('href')); });\n\
         \x20 check(seen, { 'each waits for each callback': (s) => s.join() === '/a,/b' });\n\
         \x20 const hrefs = doc.find('a').map((i, a) => { sleep(0.01); return a.attr('href'); });\n\
         \x20 check(hrefs, { 'map of blocking callbacks': (h) => h.join() === '/a,/b' });\n\
         \x20 const second = doc.find('a').filter((i) => { sleep(0); return i === 1; });\n\
         \x20 check(second, { 'filter with a blocking callback': (s) => s.size() === 1 && s.attr('href') === '/b' });\n\
         \x20 check(doc.find('li').find('a'), { 'find is still a selector': (s) => s.size() === 2 });\n\
         \x20 check([3, 1, 2].map((x) => { sleep(0); return x * 2; }), { 'arrays keep theirs': (a) => a.join() === '6,2,4' });\n\
         \x20 check(doc.find('a').toArray(), { 'toArray': (a) => a.length === 2 && a[1].text() === 'b' });\n\
         }\n",
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("checks_succeeded...................: 100.00% 12 out of 12"), "{stdout}\n{stderr}");
}

#[test]
fn exceptions_in_a_vus_init_code_or_in_setup_exit_107_and_abort_exits_108() {
    // VU 2's init code throws at run time (the plan-time run is VU 0's).
    let (code, _, stderr) = run_script(
        "init.js",
        "if (__VU === 2) { throw new Error('VU 2 cannot start'); }\n\
         export const options = { vus: 3, duration: '30s' };\n\
         export default function () {}\n",
        &[],
    );
    assert_eq!(code, Some(107), "{stderr}");
    assert!(stderr.contains("init.js:1:"), "{stderr}");
    assert!(stderr.contains("VU 2 cannot start"), "{stderr}");

    let (code, stdout, stderr) = run_script(
        "setup.js",
        "export const options = { vus: 1, iterations: 1 };\n\
         export function setup() { throw new Error('no token'); }\n\
         export default function () {}\n",
        &[],
    );
    assert_eq!(code, Some(107), "{stderr}");
    assert!(stderr.contains("setup() threw: "), "{stderr}");
    assert!(stderr.contains("setup.js:2:"), "{stderr}");
    assert!(stderr.contains("no load ran"), "{stderr}");
    assert!(!stdout.contains("iterations"), "{stdout}");

    let (code, stdout, stderr) = run_script(
        "abort.js",
        "import exec from 'k6/execution';\n\
         export const options = { vus: 1, iterations: 100 };\n\
         export default function () { if (__ITER === 4) exec.test.abort('enough'); }\n",
        &[],
    );
    assert_eq!(code, Some(108), "{stderr}");
    assert!(stderr.contains("test aborted by the script: enough"), "{stderr}");
    assert!(stdout.contains("iterations.........................: 5 "), "{stdout}");
    assert!(stdout.contains("run aborted by the script in "), "{stdout}");
    assert!(stdout.contains("exit code 108"), "{stdout}");
}

/// The same life cycle over two agent processes (`--agents 2`): the agents
/// tell the coordinator what their scripts did, and the exit code and the
/// report are those of the in-process run.
#[test]
fn over_agents_exceptions_are_reported_and_init_failures_and_aborts_end_the_whole_test() {
    let agents = ["--agents", "2"];
    // Exceptions on both agents: counted together, by line; exit 0.
    let (code, stdout, stderr) = run_script(
        "throws.js",
        "export const options = { vus: 4, iterations: 40 };\n\
         export default function () {\n\
         \x20 if (__ITER % 2 === 0) {\n\
         \x20   JSON.parse('{not json');\n\
         \x20 }\n\
         }\n",
        &agents,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("iterations.........................: 40 "), "{stdout}");
    assert!(stderr.contains("script exceptions: 20 iteration(s) ended by an exception"), "{stderr}");
    assert!(stderr.contains("throws.js:4:"), "{stderr}");

    // VU 3's init code throws on whichever agent runs it: 107, and the
    // other agent stops too (the run would otherwise last 30 s).
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run_script(
        "init.js",
        "if (__VU === 3) { throw new Error('VU 3 cannot start'); }\n\
         export const options = { vus: 4, duration: '30s' };\n\
         export default function () {}\n",
        &agents,
    );
    assert_eq!(code, Some(107), "{stderr}");
    assert!(stderr.contains("VU 3 cannot start"), "{stderr}");
    assert!(stdout.contains("run stopped by a script error in "), "{stdout}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the run went on: {stderr}");

    // One agent's VU aborts: every agent stops, 108.
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run_script(
        "abort.js",
        "import exec from 'k6/execution';\n\
         import { sleep } from 'k6';\n\
         export const options = { vus: 4, duration: '30s' };\n\
         export default function () { sleep(0.05); if (exec.vu.idInTest === 1 && __ITER === 10) exec.test.abort('enough'); }\n",
        &agents,
    );
    assert_eq!(code, Some(108), "{stderr}");
    assert!(stderr.contains("test aborted by the script: enough"), "{stderr}");
    assert!(stdout.contains("run aborted by the script in "), "{stdout}");
    assert!(stdout.contains("exit code 108"), "{stdout}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the run went on: {stderr}");
}

#[test]
fn ten_thousand_vus_wait_in_sleep_on_two_workers() {
    let (code, stdout, stderr) = run_script(
        "sleepers.js",
        "import { sleep } from 'k6';\n\
         export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 10000, iterations: 2, maxDuration: '60s' } } };\n\
         let mine = 0;\n\
         export default function () { mine += 1; sleep(0.5); if (mine > 2) throw new Error('shared state'); }\n",
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("iterations.........................: 20000 "), "{stdout}");
    assert!(!stderr.contains("shared state"), "each VU has its own module instance: {stderr}");
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

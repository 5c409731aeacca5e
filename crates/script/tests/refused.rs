//! Every script in `tests/refused/` must be refused before any load with a
//! located, explained error. Its `NAME.expect` sidecar holds, on the first
//! line, the location as printed (`NAME.js:LINE:COL: error`, or `NAME.js:
//! error` for a mistake that has no place in the file) and, on the next
//! lines, text the message must contain. Adding a case is adding two files;
//! modules in `tests/refused/lib/` are imported by the cases.

use std::path::{Path, PathBuf};

use stampede_scenario::Overrides;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/refused");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn refused_corpus_is_refused_with_located_explained_errors() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} refused scripts", cases.len());
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for path in &cases {
        let name = path.file_name().unwrap().to_str().unwrap();
        let expect_path = path.with_extension("expect");
        let err = match stampede_script::load(path, &Overrides::default()) {
            Ok(_) => {
                failures.push(format!("{name}: accepted"));
                continue;
            }
            Err(e) => e,
        };
        let text = err.to_string();
        let first = err.first();
        if bless && !expect_path.exists() {
            let at = match (first.line(), first.column()) {
                (Some(l), Some(c)) => format!("{}:{l}:{c}: error", first.file().file_name().unwrap().to_str().unwrap()),
                _ => format!("{}: error", first.file().file_name().unwrap().to_str().unwrap()),
            };
            std::fs::write(&expect_path, format!("{at}\n{}\n", first.message())).unwrap();
        }
        let Ok(expected) = std::fs::read_to_string(&expect_path) else {
            failures.push(format!("{name}: no sidecar {}; the error is:\n{text}", expect_path.display()));
            continue;
        };
        let mut lines = expected.lines();
        let at = lines.next().unwrap_or_default();
        if !text.contains(at) {
            failures.push(format!("{name}: expected the location {at:?} in:\n{text}"));
        }
        for want in lines.filter(|l| !l.is_empty()) {
            if !text.contains(want) {
                failures.push(format!("{name}: expected {want:?} in:\n{text}"));
            }
        }
        if first.help().is_empty() {
            failures.push(format!("{name}: no help line:\n{text}"));
        }
        if first.line().is_some() && !text.contains('^') {
            failures.push(format!("{name}: a located error without its caret snippet:\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

/// Refused before any load means nothing was read but the script's own
/// files: the corpus names only 127.0.0.1:1, where nothing listens, and
/// the plan-time run throws on any request before it is made.
#[test]
fn every_case_is_located_unless_it_has_no_place_in_a_file() {
    let unlocated: Vec<String> = cases()
        .iter()
        .filter_map(|p| {
            let err = stampede_script::load(p, &Overrides::default()).err()?;
            err.first().line().is_none().then(|| p.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    // Only mistakes about the file as a whole: no exported function.
    assert_eq!(unlocated, ["no_function.js"]);
}

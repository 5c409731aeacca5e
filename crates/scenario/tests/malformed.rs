//! Every file in `tests/malformed/` must be rejected with an error that names
//! the file, points at a position (when there is one) and contains the text
//! of its `NAME.expect` sidecar. Adding a case is adding two files.

use std::path::Path;

use stampede_scenario::{Overrides, load};

#[test]
fn malformed_corpus_is_rejected_with_located_explained_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "expect"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} malformed files", cases.len());

    let mut failures = Vec::new();
    for path in &cases {
        let expect_path = path.with_extension("expect");
        let expected = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|_| panic!("{} has no sidecar {}", path.display(), expect_path.display()));
        let expected = expected.trim_end_matches('\n');
        let err = match load(path, &Overrides::default()) {
            Ok(_) => {
                failures.push(format!("{}: accepted", path.display()));
                continue;
            }
            Err(e) => e,
        };
        let text = err.to_string();
        let name = path.file_name().unwrap().to_str().unwrap();
        if !text.contains(expected) {
            failures.push(format!("{name}: expected {expected:?} in:\n{text}"));
        }
        if !text.contains(name) {
            failures.push(format!("{name}: the message does not name the file:\n{text}"));
        }
        if err.file() != path {
            failures.push(format!("{name}: file() is {}", err.file().display()));
        }
        if err.help().is_empty() {
            failures.push(format!("{name}: no help line:\n{text}"));
        }
        match (err.line(), err.column()) {
            (Some(line), Some(column)) => {
                if line == 0 || column == 0 {
                    failures.push(format!("{name}: position {line}:{column} is not 1-based"));
                }
                if !text.contains(&format!("{name}:{line}:{column}: error")) {
                    failures.push(format!("{name}: the message does not start with the position:\n{text}"));
                }
                if !text.contains('^') {
                    failures.push(format!("{name}: no caret snippet:\n{text}"));
                }
            }
            (None, None) => {}
            other => failures.push(format!("{name}: half a position {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn every_located_error_in_the_corpus_points_into_the_file() {
    // Empty and comment-only files have nothing to point at; everything else does.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    for name in [
        "unknown-field-scenario.toml",
        "huge-vus.toml",
        "ragged-csv.toml",
        "unclosed-template.toml",
        "binary-after-text.toml",
    ] {
        let err = load(&dir.join(name), &Overrides::default()).unwrap_err();
        assert!(err.line().is_some() && err.column().is_some(), "{name}: {err}");
    }
    let err = load(&dir.join("ragged-csv.toml"), &Overrides::default()).unwrap_err();
    assert_eq!((err.line(), err.column(), err.field()), (Some(2), Some(8), "data.users.file"), "{err}");
    let err = load(&dir.join("binary-after-text.toml"), &Overrides::default()).unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(3), Some(6)), "{err}");
}

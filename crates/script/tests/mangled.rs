//! The transform never panics, whatever it is given, and what it accepts
//! the JavaScript engine compiles: thousands of mangled variants of the
//! corpus scripts (bytes cut, tokens inserted, lines swapped and repeated,
//! from a fixed seed) go through it. When the transform accepts a variant
//! that QuickJS compiles as a module, every factory it made must compile too.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, Context, Function, Module, Runtime};

const TOKENS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ";",
    ",",
    "=>",
    ".",
    "?.",
    "=",
    "**",
    "+",
    "!",
    "'",
    "\"",
    "`",
    "${",
    "/",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
    "await ",
    "async ",
    "yield ",
    "function ",
    "function* ",
    "class A {}",
    "get ",
    "set ",
    "static ",
    "new ",
    "return ",
    "export ",
    "export default ",
    "import ",
    "const ",
    "let x = ",
    "http.get(u)",
    "sleep(1)",
    "group('g', () => http.get(u))",
    "check(r, { ok: () => http.get(u) })",
    "[1].forEach(x => sleep(x))",
    "http",
    "http.get",
    "__k6",
    "import.meta",
    "é",
    "\u{2028}",
    "0x",
    "1e",
    "#p",
    "...",
    "?",
    ":",
    "&&",
    "??=",
    "@",
];

/// The valid scripts, then the refused ones.
fn corpus(dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out = Vec::new();
    {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "js"))
            .collect();
        paths.sort();
        out.extend(paths.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    out
}

fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mangle(rng: &mut fastrand::Rng, src: &str) -> String {
    let mut s = src.to_string();
    for _ in 0..rng.usize(1..=2) {
        let at = boundary(&s, rng.usize(0..=s.len()));
        match rng.u8(0..5) {
            0 => {
                let end = boundary(&s, at + rng.usize(1..=12));
                s.replace_range(at..end, "");
            }
            1 | 2 => s.insert_str(at, TOKENS[rng.usize(0..TOKENS.len())]),
            3 => {
                let end = boundary(&s, at + rng.usize(1..=40));
                let piece = s[at..end].to_string();
                let to = boundary(&s, rng.usize(0..=s.len()));
                s.insert_str(to, &piece);
            }
            _ => {
                let mut lines: Vec<&str> = s.lines().collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.usize(0..lines.len()), rng.usize(0..lines.len()));
                    lines.swap(a, b);
                }
                s = lines.join("\n");
            }
        }
    }
    s
}

#[test]
fn mangled_scripts_never_panic_and_what_is_accepted_compiles() {
    let rt = Runtime::new().unwrap();
    let ctx = Context::full(&rt).unwrap();
    let (valid, refused_corpus) = (corpus("scripts"), corpus("refused"));
    let mut rng = fastrand::Rng::with_seed(0x16_5C41);
    let (mut accepted, mut refused, mut engine_refuses_too) = (0, 0, 0);
    let mut failures = Vec::new();
    for round in 0..20_000 {
        // Three in four from the valid scripts: most variants go all the way.
        let pick = if round % 4 == 0 { &refused_corpus } else { &valid };
        let original = &pick[rng.usize(0..pick.len())];
        let src = mangle(&mut rng, original);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            stampede_script::transform::transform_source("mangled.js", &src)
        }));
        let transformed = match result {
            Err(_) => {
                failures.push(format!("round {round}: the transform panicked on:\n{src}"));
                continue;
            }
            Ok(Err(e)) => {
                // Refused: every error is located in the script or says why not.
                assert!(!e.to_string().is_empty());
                refused += 1;
                continue;
            }
            Ok(Ok(t)) => t,
        };
        ctx.with(|ctx| {
            let original_compiles = Module::declare(ctx.clone(), "original.js", src.as_str()).catch(&ctx).is_ok();
            for m in &transformed.bundle.modules {
                let mut opts = EvalOptions::default();
                opts.global = true;
                opts.strict = true;
                let compiled = ctx.eval_with_options::<Function, _>(m.factory.as_str(), opts).catch(&ctx);
                match (compiled, original_compiles) {
                    (Ok(_), _) => accepted += 1,
                    (Err(_), false) => engine_refuses_too += 1,
                    (Err(e), true) => failures.push(format!(
                        "round {round}: QuickJS compiles the script but not its factory: {e}\n--- script:\n{src}\n--- factory:\n{}",
                        m.factory
                    )),
                }
            }
        });
        if failures.len() >= 5 {
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The test means something only if many variants go all the way through.
    assert!(accepted >= 3000, "accepted {accepted}, refused {refused}, refused by QuickJS too {engine_refuses_too}");
    eprintln!("accepted {accepted}, refused {refused}, refused by QuickJS too {engine_refuses_too}");
}

/// Nesting the parser, the semantic pass and the walk recurse on, deep
/// enough to overflow an ordinary thread's stack: refused or transformed,
/// never a crash.
#[test]
fn deeply_nested_scripts_do_not_overflow_the_stack() {
    let kinds = [
        ("(", ")"),
        ("[", "]"),
        ("{ a: ", " }"),
        ("- ", ""),
        ("1 + ", ""),
        ("a ? b : ", ""),
        ("() => ", ""),
        ("!", ""),
        ("`${", "}`"),
        ("f(", ")"),
    ];
    for (open, close) in kinds {
        let n = 50_000;
        let src = format!("export default function () {{ const x = {}1{}; }}\n", open.repeat(n), close.repeat(n));
        let result = stampede_script::transform::transform_source("deep.js", &src);
        if let Err(e) = result {
            assert!(!e.to_string().contains("cannot analyse"), "{open:?}: {e}");
        }
    }
}

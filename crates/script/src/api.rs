//! The k6 API a script may use (issue 16's list): modules, their members,
//! which members block (they become awaited promises), and the globals k6
//! scripts use that Stampede does not provide. The transform's static check
//! reads this; anything outside it is refused before any load.

/// One k6 module: its name, the members a script may use, the ones that
/// block (a request or a pause), and for members that are objects
/// (`exec.vu`), their own members.
#[derive(Debug)]
pub struct K6Module {
    pub name: &'static str,
    pub members: &'static [&'static str],
    pub blocking: &'static [&'static str],
    pub nested: &'static [(&'static str, &'static [&'static str])],
}

/// The requests of `k6/http` (all block: they return a Response).
pub const HTTP_REQUESTS: &[&str] = &["get", "post", "put", "patch", "del", "head", "options", "request", "batch"];

pub const MODULES: &[K6Module] = &[
    K6Module {
        name: "k6",
        members: &["check", "group", "sleep", "fail", "randomSeed"],
        blocking: &["sleep"],
        nested: &[],
    },
    K6Module {
        name: "k6/http",
        members: &[
            "get",
            "post",
            "put",
            "patch",
            "del",
            "head",
            "options",
            "request",
            "batch",
            "url",
            "file",
            "cookieJar",
            "CookieJar",
            "expectedStatuses",
            "setResponseCallback",
        ],
        blocking: HTTP_REQUESTS,
        nested: &[],
    },
    K6Module { name: "k6/metrics", members: &["Counter", "Gauge", "Rate", "Trend"], blocking: &[], nested: &[] },
    K6Module { name: "k6/data", members: &["SharedArray"], blocking: &[], nested: &[] },
    K6Module {
        name: "k6/execution",
        members: &["vu", "scenario", "test"],
        blocking: &[],
        nested: &[
            ("vu", &["idInTest", "idInInstance", "iterationInInstance", "iterationInScenario"]),
            ("scenario", &["name", "iterationInTest"]),
            ("test", &["abort"]),
        ],
    },
    K6Module { name: "k6/encoding", members: &["b64encode", "b64decode"], blocking: &[], nested: &[] },
    K6Module { name: "k6/html", members: &["parseHTML"], blocking: &[], nested: &[] },
    K6Module {
        name: "k6/crypto",
        members: &["md5", "sha1", "sha256", "sha512", "hmac", "randomBytes"],
        blocking: &[],
        nested: &[],
    },
];

/// The module of this name.
pub fn module(name: &str) -> Option<&'static K6Module> {
    MODULES.iter().find(|m| m.name == name)
}

/// `k6, k6/http, …` for messages.
pub fn module_list() -> String {
    MODULES.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

impl K6Module {
    pub fn has(&self, member: &str) -> bool {
        self.members.contains(&member)
    }

    pub fn blocks(&self, member: &str) -> bool {
        self.blocking.contains(&member)
    }

    /// Members of `member` when it is an object (`vu` of `k6/execution`).
    pub fn nested(&self, member: &str) -> Option<&'static [&'static str]> {
        self.nested.iter().find(|(m, _)| *m == member).map(|(_, n)| *n)
    }
}

/// Globals of k6's runtime (or of browsers and Node) that Stampede does not
/// provide, with why or what to do instead. A script that defines its own binding
/// of one of these names is not affected (only unresolved references are).
pub const REFUSED_GLOBALS: &[(&str, &str)] = &[
    ("require", "scripts are ES modules here: use `import … from '…'`"),
    ("setTimeout", "no timers: use sleep() from 'k6'"),
    ("setInterval", "no timers: use sleep() from 'k6' in a loop"),
    ("clearTimeout", "no timers"),
    ("clearInterval", "no timers"),
    ("fetch", "use http.get/post/request from 'k6/http'"),
    ("XMLHttpRequest", "use 'k6/http'"),
    ("WebSocket", "no WebSockets"),
    ("eval", "code run by eval() cannot be analysed before the run: requests in it could not be awaited"),
    (
        "Function",
        "code built by the Function constructor cannot be analysed before the run: requests in it could not be awaited",
    ),
];

/// Globals a k6 script may use besides standard JavaScript, for messages.
pub const GLOBALS: &str = "open, console, __VU, __ITER, __ENV";

/// What a remote module import (jslib) gets.
pub const REMOTE_HELP: &str = "remote modules (https://jslib.k6.io/…) cannot be fetched before a run here; \
     copy the functions you use into a local file and import it with a relative path (./lib.js)";

/// Executors k6 has that Stampede does not run.
pub const REFUSED_EXECUTORS: &[&str] = &["externally-controlled"];

//! Following redirects: a `Location` resolved against the URL it came from
//! (RFC 3986 §5.2, as Go's `url.ResolveReference`), and which headers travel.

use http::Uri;

/// The absolute http(s) URL a `Location` value points to from `base`, parsed
/// and as text; `None` when it is not one (another scheme, not ASCII, not a URL).
pub(crate) fn resolve(base: &Uri, location: &[u8]) -> Option<(Uri, String)> {
    let loc = std::str::from_utf8(location).ok()?.trim();
    // The fragment is the client's, never sent.
    let loc = loc.split_once('#').map_or(loc, |(l, _)| l);
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let absolute = if let Some(i) = loc.find(':').filter(|&i| is_scheme(&loc[..i])) {
        let s = &loc[..i];
        if !(s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")) {
            return None;
        }
        let rest = &loc[i + 1..];
        if !rest.starts_with("//") {
            return None;
        }
        let (auth, path) = split_authority(&rest[2..]);
        format!("{}://{}{}", s.to_ascii_lowercase(), auth, normalize(if path.is_empty() { "/" } else { path }))
    } else if let Some(rest) = loc.strip_prefix("//") {
        let (auth, path) = split_authority(rest);
        format!("{scheme}://{auth}{}", normalize(if path.is_empty() { "/" } else { path }))
    } else if loc.starts_with('/') {
        format!("{scheme}://{authority}{}", normalize(loc))
    } else if loc.is_empty() {
        format!("{scheme}://{authority}{}", base.path_and_query().map_or("/", |p| p.as_str()))
    } else if loc.starts_with('?') {
        format!("{scheme}://{authority}{}{loc}", base.path())
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{scheme}://{authority}{}", normalize(&format!("{dir}/{loc}")))
    };
    let uri: Uri = absolute.parse().ok()?;
    uri.host().filter(|h| !h.is_empty())?;
    Some((uri, absolute))
}

/// Whether credentials set for `from` may go to `to`: the same host or a
/// subdomain of it (Go's `shouldCopyHeaderOnRedirect`).
pub(crate) fn same_domain(from: &Uri, to: &Uri) -> bool {
    let (Some(a), Some(b)) = (from.host(), to.host()) else { return false };
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    b.len() > a.len() + 1
        && b.is_char_boundary(b.len() - a.len() - 1)
        && b[b.len() - a.len()..].eq_ignore_ascii_case(a)
        && b.as_bytes()[b.len() - a.len() - 1] == b'.'
}

fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

fn split_authority(s: &str) -> (&str, &str) {
    match s.find(['/', '?']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Removes `.` and `..` segments of a path (the query is kept as is).
fn normalize(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut p = out.join("/");
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    if let Some(q) = query {
        p.push('?');
        p.push_str(q);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, loc: &str) -> Option<String> {
        resolve(&base.parse().unwrap(), loc.as_bytes()).map(|u| u.0.to_string())
    }

    #[test]
    fn locations_resolve_as_rfc_3986_says() {
        let b = "http://a.test:8080/x/y/z?q=1";
        assert_eq!(r(b, "/c").as_deref(), Some("http://a.test:8080/c"));
        assert_eq!(r(b, "c").as_deref(), Some("http://a.test:8080/x/y/c"));
        assert_eq!(r(b, "../c?d=2#f").as_deref(), Some("http://a.test:8080/x/c?d=2"));
        assert_eq!(r(b, "?n=2").as_deref(), Some("http://a.test:8080/x/y/z?n=2"));
        assert_eq!(r(b, "//b.test/p").as_deref(), Some("http://b.test/p"));
        assert_eq!(r(b, "HTTPS://b.test").as_deref(), Some("https://b.test/"));
        assert_eq!(r(b, "ftp://b.test/"), None);
        assert_eq!(r(b, "mailto:x@y"), None);
    }

    #[test]
    fn credentials_go_to_the_same_host_and_its_subdomains_only() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert!(same_domain(&u("http://a.test/"), &u("http://A.test:81/")));
        assert!(same_domain(&u("http://a.test/"), &u("http://sub.a.test/")));
        assert!(!same_domain(&u("http://a.test/"), &u("http://ba.test/")));
        assert!(!same_domain(&u("http://sub.a.test/"), &u("http://a.test/")));
    }
}

//! A VU's cookie jar: the cookies responses set (`Set-Cookie`), stored per
//! host and sent back to that host. Paths, domains and expiry dates are not
//! modelled; `Max-Age=0` (or negative) deletes. One jar serves every request
//! of a VU, those of a batch included (as k6's VU jar does).

use http::{HeaderMap, HeaderValue};

/// One cookie of a jar.
#[derive(Debug)]
struct Cookie {
    host: Box<str>,
    name: Box<str>,
    value: String,
}

#[derive(Debug, Default)]
pub(crate) struct Jar {
    cookies: Vec<Cookie>,
}

impl Jar {
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    /// The `Cookie` header for a request to `host`, written through `buf`;
    /// `None` when the jar has no cookie for it.
    pub fn header(&self, host: &str, buf: &mut String) -> Option<HeaderValue> {
        let mut any = false;
        buf.clear();
        for c in self.cookies.iter().filter(|c| *c.host == *host) {
            if any {
                buf.push_str("; ");
            }
            buf.push_str(&c.name);
            buf.push('=');
            buf.push_str(&c.value);
            any = true;
        }
        if any { HeaderValue::from_str(buf).ok() } else { None }
    }

    /// The cookies the jar has for `host` (name, value).
    pub fn cookies_for<'a>(&'a self, host: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.cookies.iter().filter(move |c| *c.host == *host).map(|c| (&*c.name, c.value.as_str()))
    }

    /// Sets (or replaces) one cookie for `host`.
    pub fn set(&mut self, host: &str, name: &str, value: &str) {
        match self.cookies.iter_mut().find(|c| &*c.name == name && *c.host == *host) {
            Some(c) => {
                c.value.clear();
                c.value.push_str(value);
            }
            None => self.cookies.push(Cookie { host: host.into(), name: name.into(), value: value.to_owned() }),
        }
    }

    /// Removes one cookie (or, without a name, every cookie) of `host`.
    pub fn remove(&mut self, host: &str, name: Option<&str>) {
        self.cookies.retain(|c| *c.host != *host || name.is_some_and(|n| *c.name != *n));
    }

    /// Stores the cookies a response from `host` sets.
    pub fn store(&mut self, host: &str, headers: &HeaderMap) {
        for v in headers.get_all(http::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let Some((name, value)) = pair.split_once('=') else { continue };
            let (name, value) = (name.trim(), value.trim());
            let expired = attrs.split(';').any(|a| {
                let a = a.trim();
                a.len() >= 10 && a[..8].eq_ignore_ascii_case("max-age=") && a[8..].trim().starts_with(['0', '-'])
            });
            let existing = self.cookies.iter().position(|c| &*c.name == name && *c.host == *host);
            match (existing, expired) {
                (Some(i), true) => {
                    self.cookies.swap_remove(i);
                }
                (Some(i), false) => {
                    self.cookies[i].value.clear();
                    self.cookies[i].value.push_str(value);
                }
                (None, false) => {
                    self.cookies.push(Cookie { host: host.into(), name: name.into(), value: value.to_owned() })
                }
                (None, true) => {}
            }
        }
    }
}

/// The value of the cookie `name` a response sets.
pub(crate) fn set_cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(http::header::SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let pair = v.split(';').next()?;
        let (n, val) = pair.split_once('=')?;
        (n.trim() == name).then(|| val.trim())
    })
}

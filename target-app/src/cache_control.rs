//! Parsing of `Cache-Control` (RFC 9111 §5.2) for the edge's storage and freshness decisions.
//!
//! Owns only the directives a shared cache acts on. Unknown directives are ignored; a qualified
//! `private="…"` or `no-cache="…"` is treated as its unqualified, stricter form.

use http::HeaderValue;

/// The directives of one message's `Cache-Control` fields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub no_store: bool,
    pub no_cache: bool,
    pub private: bool,
    pub public: bool,
    pub must_revalidate: bool,
}

impl Directives {
    /// Parses every `Cache-Control` field value of a message.
    pub fn parse<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Self {
        let mut d = Self::default();
        for value in values {
            let Ok(value) = value.to_str() else { continue };
            for part in value.split(',') {
                let part = part.trim();
                let (name, arg) = match part.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (part, None),
                };
                let seconds = || arg.and_then(|a| a.parse::<u64>().ok());
                match name.to_ascii_lowercase().as_str() {
                    // A malformed max-age must not make a response fresh: treat it as zero.
                    "max-age" => d.max_age = Some(seconds().unwrap_or(0)),
                    "s-maxage" => d.s_maxage = Some(seconds().unwrap_or(0)),
                    "no-store" => d.no_store = true,
                    "no-cache" => d.no_cache = true,
                    "private" => d.private = true,
                    "public" => d.public = true,
                    "must-revalidate" | "proxy-revalidate" => d.must_revalidate = true,
                    _ => {}
                }
            }
        }
        d
    }

    /// The freshness lifetime for a shared cache: `s-maxage` wins over `max-age`.
    pub fn shared_max_age(&self) -> Option<u64> {
        self.s_maxage.or(self.max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &'static str) -> Directives {
        let v = HeaderValue::from_static(s);
        Directives::parse(std::iter::once(&v))
    }

    #[test]
    fn directives() {
        let d = parse("public, max-age=60, s-maxage=300");
        assert!(d.public);
        assert_eq!(d.shared_max_age(), Some(300));
        let d = parse("no-cache, private");
        assert!(d.no_cache && d.private);
        assert_eq!(d.shared_max_age(), None);
        assert!(parse("No-Store").no_store);
        assert!(parse("private=\"Set-Cookie\"").private);
        assert_eq!(parse("max-age=abc").max_age, Some(0));
    }
}

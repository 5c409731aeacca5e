//! CDN cache classification from response headers, in the order of
//! DESIGN.md: RFC 9211 `Cache-Status`, vendor `X-Cache`, `CF-Cache-Status`,
//! then `Age`.

use http::HeaderMap;
use stampede_metrics::CacheOutcome;

static CACHE_STATUS: http::HeaderName = http::HeaderName::from_static("cache-status");
static X_CACHE: http::HeaderName = http::HeaderName::from_static("x-cache");
static CF_CACHE_STATUS: http::HeaderName = http::HeaderName::from_static("cf-cache-status");

/// Classifies a response as a CDN hit, miss, or unknown (no cache said anything).
pub fn classify(headers: &HeaderMap) -> CacheOutcome {
    if let Some(v) = headers.get(&CACHE_STATUS).and_then(|v| v.to_str().ok())
        && let Some(o) = cache_status(v)
    {
        return o;
    }
    if let Some(v) = headers.get(&X_CACHE).and_then(|v| v.to_str().ok())
        && let Some(o) = x_cache(v)
    {
        return o;
    }
    if let Some(v) = headers.get(&CF_CACHE_STATUS).and_then(|v| v.to_str().ok())
        && let Some(o) = cf_cache_status(v)
    {
        return o;
    }
    if let Some(age) = headers.get(http::header::AGE).and_then(|v| v.to_str().ok())
        && let Ok(age) = age.trim().parse::<u64>()
        && age > 0
    {
        return CacheOutcome::Hit;
    }
    CacheOutcome::Unknown
}

/// RFC 9211: a list of caches, the last one nearest the client. `hit` means a
/// hit; `fwd=…` means the request went on towards the origin.
fn cache_status(v: &str) -> Option<CacheOutcome> {
    let last = v.rsplit(',').next()?.trim();
    let mut params = last.split(';').skip(1).map(str::trim);
    if params.clone().any(|p| p.eq_ignore_ascii_case("hit")) {
        return Some(CacheOutcome::Hit);
    }
    if params.any(|p| p.len() > 4 && p[..4].eq_ignore_ascii_case("fwd=")) {
        return Some(CacheOutcome::Miss);
    }
    None
}

/// `X-Cache: HIT`, `MISS`, `Hit from cloudfront`, `TCP_HIT`, `MISS, HIT`
/// (several caches: the last is nearest the client).
fn x_cache(v: &str) -> Option<CacheOutcome> {
    let last = v.rsplit(',').next()?.trim();
    let up = |s: &str, pat: &str| s.as_bytes().windows(pat.len()).any(|w| w.eq_ignore_ascii_case(pat.as_bytes()));
    if up(last, "HIT") {
        Some(CacheOutcome::Hit)
    } else if up(last, "MISS") || up(last, "PASS") || up(last, "BYPASS") {
        Some(CacheOutcome::Miss)
    } else {
        None
    }
}

fn cf_cache_status(v: &str) -> Option<CacheOutcome> {
    let v = v.trim();
    let is = |s: &str| v.eq_ignore_ascii_case(s);
    if is("HIT") || is("STALE") || is("UPDATING") || is("REVALIDATED") {
        Some(CacheOutcome::Hit)
    } else if is("MISS") || is("EXPIRED") || is("BYPASS") || is("DYNAMIC") {
        Some(CacheOutcome::Miss)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CacheOutcome::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn reads_every_vendor_format_in_order() {
        assert_eq!(classify(&h(&[("cache-status", "stampede-edge; hit")])), Hit);
        assert_eq!(classify(&h(&[("cache-status", "stampede-edge; fwd=miss; stored")])), Miss);
        assert_eq!(classify(&h(&[("cache-status", "origin; fwd=uri-miss, edge; hit; ttl=30")])), Hit);
        assert_eq!(classify(&h(&[("x-cache", "Hit from cloudfront")])), Hit);
        assert_eq!(classify(&h(&[("x-cache", "Miss from cloudfront")])), Miss);
        assert_eq!(classify(&h(&[("x-cache", "MISS, HIT")])), Hit);
        assert_eq!(classify(&h(&[("x-cache", "TCP_MISS")])), Miss);
        assert_eq!(classify(&h(&[("cf-cache-status", "DYNAMIC")])), Miss);
        assert_eq!(classify(&h(&[("cf-cache-status", "HIT")])), Hit);
        assert_eq!(classify(&h(&[("age", "12")])), Hit);
        assert_eq!(classify(&h(&[("age", "0")])), Unknown);
        assert_eq!(classify(&h(&[])), Unknown);
        // Cache-Status wins over a contradicting X-Cache.
        assert_eq!(classify(&h(&[("cache-status", "e; fwd=miss"), ("x-cache", "HIT")])), Miss);
    }
}

//! Which targets an agent agrees to load. A load generator that accepts plans
//! from the network must not be pointed at arbitrary hosts: by default only
//! loopback is allowed; `--allow-target` adds hosts, `*` allows any.
//!
//! Two checks use it: the agent refuses a plan whose literal hosts are not
//! allowed (before any load), and the client checks the destination of every
//! new connection — the host name and the address it resolved to — because a
//! URL can get its host from a template, a redirect or a host mapping.

use stampede_scenario::Plan;

#[derive(Debug, Clone, Default)]
pub struct AllowList {
    hosts: Vec<String>,
    any: bool,
}

impl AllowList {
    pub fn new(hosts: &[String]) -> AllowList {
        AllowList {
            any: hosts.iter().any(|h| h == "*"),
            hosts: hosts
                .iter()
                .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether every destination is allowed (`*`): nothing to check per connection.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Whether a connection to `host`, resolved to `ip`, may be opened: a
    /// loopback address always may; otherwise the name (or the address as
    /// written in the list) must be allowed.
    pub fn allows_destination(&self, host: &str, ip: std::net::IpAddr) -> bool {
        if self.any || ip.is_loopback() {
            return true;
        }
        // By name only when listed: `localhost` resolving elsewhere is not loopback.
        self.listed(host) || self.listed(&ip.to_string())
    }

    /// Whether a plan may name `host` (checked before any load).
    pub fn allows(&self, host: &str) -> bool {
        self.any || is_loopback(bare(host)) || self.listed(host)
    }

    fn listed(&self, host: &str) -> bool {
        let host = bare(host).to_ascii_lowercase();
        self.hosts.iter().any(|h| *h == host || (h.starts_with("*.") && host.ends_with(&h[1..])))
    }

    /// The first host the plan targets that is not allowed.
    pub fn check(&self, plan: &Plan) -> Result<(), String> {
        for host in plan_hosts(plan) {
            // A name the plan's `hosts` maps is connected to at its mapped
            // address: that is what must be allowed.
            let allowed = match plan.target.map_host(bare(&host)) {
                Some(m) => self.allows_destination(&host, m.ip),
                None => self.allows(&host),
            };
            if !allowed {
                return Err(format!(
                    "the plan targets `{host}`, which is not in this agent's --allow-target list (allowed: loopback{}{})",
                    if self.hosts.is_empty() { "" } else { ", " },
                    self.hosts.join(", ")
                ));
            }
        }
        Ok(())
    }
}

fn bare(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Hosts named literally by the plan: the base URL and every step URL whose
/// host part is written out (setup and teardown run where the run is
/// controlled, not on agents). A URL whose host comes from a template is
/// checked when its connection is opened ([`AllowList::allows_destination`]).
pub fn plan_hosts(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(base) = &plan.target.base_url
        && let Some(h) = host_of(base)
    {
        out.push(h);
    }
    for flow in &plan.flows {
        for step in &flow.steps {
            let src = step.url.source();
            let resolved = if src.starts_with('/') { None } else { host_of(src) };
            if let Some(h) = resolved {
                out.push(h);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| format!("{h}]"))?
    } else {
        authority.split(':').next()?.to_string()
    };
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_allowed_and_others_must_be_listed() {
        let a = AllowList::new(&[]);
        assert!(a.allows("127.0.0.1") && a.allows("127.3.2.1") && a.allows("localhost") && a.allows("[::1]"));
        assert!(!a.allows("example.com") && !a.allows("10.0.0.1"));
        let b = AllowList::new(&["shop.example.com".into(), "*.cdn.example".into()]);
        assert!(b.allows("shop.example.com") && b.allows("img.cdn.example") && !b.allows("evil.example"));
        assert!(AllowList::new(&["*".into()]).allows("anything.example"));
    }

    #[test]
    fn destinations_are_checked_by_name_and_by_resolved_address() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let a = AllowList::new(&[]);
        assert!(a.allows_destination("127.0.0.1", ip("127.0.0.1")));
        assert!(a.allows_destination("anything.example", ip("127.0.0.9")));
        assert!(a.allows_destination("[::1]", ip("::1")));
        assert!(!a.allows_destination("10.1.2.3", ip("10.1.2.3")));
        // A loopback-sounding name that resolves elsewhere is not loopback.
        assert!(!a.allows_destination("localhost", ip("192.0.2.1")));
        let b = AllowList::new(&["shop.example.com".into(), "192.0.2.7".into()]);
        assert!(b.allows_destination("shop.example.com", ip("192.0.2.1")));
        assert!(b.allows_destination("192.0.2.7", ip("192.0.2.7")));
        assert!(!b.allows_destination("other.example.com", ip("192.0.2.1")));
        assert!(AllowList::new(&["*".into()]).allows_destination("x", ip("192.0.2.1")));
    }

    #[test]
    fn a_name_mapped_to_loopback_by_hosts_is_allowed_and_one_mapped_elsewhere_is_not() {
        let plan = |hosts: &str| {
            let src = format!(
                "[target]\nhosts = {{ {hosts} }}\n[[flows.f.steps]]\nurl = \"http://shop.example.com/\"\n\
                 [scenarios.s]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\nflow = \"f\"\n"
            );
            stampede_scenario::parse_str(&src, std::path::Path::new("t.toml"), &Default::default()).unwrap()
        };
        let a = AllowList::new(&[]);
        assert!(a.check(&plan("\"shop.example.com\" = \"127.0.0.1:8080\"")).is_ok());
        assert!(a.check(&plan("\"*.example.com\" = \"127.0.0.2\"")).is_ok());
        let err = a.check(&plan("\"shop.example.com\" = \"192.0.2.1\"")).unwrap_err();
        assert!(err.contains("shop.example.com"), "{err}");
        assert!(AllowList::new(&["192.0.2.1".into()]).check(&plan("\"shop.example.com\" = \"192.0.2.1\"")).is_ok());
    }

    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(host_of("http://a.b:8080/x").as_deref(), Some("a.b"));
        assert_eq!(host_of("https://user@h/x").as_deref(), Some("h"));
        assert_eq!(host_of("http://[::1]:80/").as_deref(), Some("[::1]"));
    }
}

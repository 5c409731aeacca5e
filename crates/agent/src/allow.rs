//! Which targets an agent agrees to load. A load generator that accepts plans
//! from the network must not be pointed at arbitrary hosts: by default only
//! loopback is allowed; `--allow-target` adds hosts, `*` allows any.

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

    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if self.any || is_loopback(&host) {
            return true;
        }
        self.hosts.iter().any(|h| *h == host || (h.starts_with("*.") && host.ends_with(&h[1..])))
    }

    /// The first host the plan targets that is not allowed.
    pub fn check(&self, plan: &Plan) -> Result<(), String> {
        for host in plan_hosts(plan) {
            if !self.allows(&host) {
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

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Hosts named by the plan: the base URL and every step URL whose host part
/// is literal. A step whose host comes from a template is checked when sent
/// (the engine only connects to hosts it resolves), so it is listed here as
/// its template text and refused unless `*` is allowed.
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
    fn hosts_come_out_of_urls() {
        assert_eq!(host_of("http://a.b:8080/x").as_deref(), Some("a.b"));
        assert_eq!(host_of("https://user@h/x").as_deref(), Some("h"));
        assert_eq!(host_of("http://[::1]:80/").as_deref(), Some("[::1]"));
    }
}

//! Host mappings (`hosts`, `--hosts`) and source addresses (`local_ips`,
//! `--local-ips`): parsing shared by the scenario file and the command line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Most source addresses `local_ips` may expand to.
pub const MAX_LOCAL_IPS: usize = 65_536;

/// One `hosts` entry: a name (or `*.suffix`) and the address it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMapping {
    /// Lowercase; a wildcard is stored as `.suffix` (from `*.suffix`).
    pub name: Box<str>,
    pub ip: IpAddr,
    /// `None`: the URL's port is kept.
    pub port: Option<u16>,
}

impl HostMapping {
    pub fn is_wildcard(&self) -> bool {
        self.name.starts_with('.')
    }

    /// The address to connect to for a URL whose port is `url_port`.
    pub fn addr(&self, url_port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(url_port))
    }
}

/// An exact name wins; else the longest matching wildcard. `*.example.com`
/// matches `a.example.com` and `a.b.example.com`, not `example.com`.
pub fn map_host<'a>(hosts: &'a [HostMapping], host: &str) -> Option<&'a HostMapping> {
    if hosts.is_empty() {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if let Some(m) = hosts.iter().find(|m| !m.is_wildcard() && m.name.eq_ignore_ascii_case(host)) {
        return Some(m);
    }
    hosts
        .iter()
        .filter(|m| {
            m.is_wildcard()
                && host.len() > m.name.len()
                && host.is_char_boundary(host.len() - m.name.len())
                && host[host.len() - m.name.len()..].eq_ignore_ascii_case(&m.name)
        })
        .max_by_key(|m| m.name.len())
}

/// Parses a `hosts` name: `shop.example.com` or `*.example.com`.
pub fn parse_host_name(name: &str) -> Result<Box<str>, String> {
    let (wild, bare) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    if bare.is_empty()
        || bare.contains('*')
        || !bare
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(format!(
            "`{name}` is not a host name (letters, digits, `-`, dots; a wildcard is `*.` followed by a name)"
        ));
    }
    let lower = bare.to_ascii_lowercase();
    Ok(if wild { format!(".{lower}").into() } else { lower.into() })
}

/// Parses a `hosts` address: `127.0.0.1`, `127.0.0.1:8080`, `::1` or `[::1]:8080`.
pub fn parse_host_addr(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    let t = text.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Ok(sa) = t.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err(format!("`{text}`: port 0 is not a port to connect to"));
        }
        return Ok((sa.ip(), Some(sa.port())));
    }
    if let Some(ip) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse::<Ipv6Addr>().ok()) {
        return Ok((IpAddr::V6(ip), None));
    }
    Err(format!(
        "`{text}` is not an IP address with an optional port (a mapping names an address, not another host name)"
    ))
}

/// Parses one `hosts` entry from the command line: `NAME=ADDR`.
pub fn parse_host_flag(text: &str) -> Result<HostMapping, String> {
    let (name, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=ADDR, e.g. shop.example.com=127.0.0.1:8080"))?;
    let name = parse_host_name(name.trim())?;
    let (ip, port) = parse_host_addr(addr)?;
    Ok(HostMapping { name, ip, port })
}

/// Expands one `local_ips` item: an address (`10.0.0.1`), an inclusive range
/// (`10.0.0.1-10.0.0.40`) or a CIDR block (`10.0.0.0/30`, every address of it,
/// as k6 does), appending to `out`.
pub fn expand_local_ips(item: &str, out: &mut Vec<IpAddr>) -> Result<(), String> {
    let item = item.trim();
    let too_many = || format!("`{item}` expands to more than {MAX_LOCAL_IPS} addresses in all");
    if let Some((a, b)) = item.split_once('-') {
        let (a, b) = (parse_ip(a.trim(), item)?, parse_ip(b.trim(), item)?);
        let (lo, hi) = match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b))),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
            _ => return Err(format!("`{item}`: both ends of a range are IPv4 or both IPv6")),
        };
        if lo > hi {
            return Err(format!("`{item}`: the range ends before it starts"));
        }
        if hi - lo >= (MAX_LOCAL_IPS - out.len().min(MAX_LOCAL_IPS)) as u128 {
            return Err(too_many());
        }
        for n in lo..=hi {
            out.push(from_u128(n, a.is_ipv4()));
        }
        return Ok(());
    }
    if let Some((a, bits)) = item.split_once('/') {
        let ip = parse_ip(a.trim(), item)?;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u32 = bits
            .trim()
            .parse()
            .ok()
            .filter(|b| *b <= width)
            .ok_or_else(|| format!("`{item}`: the prefix length is a number from 0 to {width}"))?;
        let host_bits = width - bits;
        if host_bits >= 64 || (1u64 << host_bits) > (MAX_LOCAL_IPS - out.len().min(MAX_LOCAL_IPS)) as u64 {
            return Err(too_many());
        }
        let n = match ip {
            IpAddr::V4(v) => u128::from(u32::from(v)),
            IpAddr::V6(v) => u128::from(v),
        };
        let base = n & !((1u128 << host_bits) - 1);
        for i in 0..(1u128 << host_bits) {
            out.push(from_u128(base + i, ip.is_ipv4()));
        }
        return Ok(());
    }
    if out.len() >= MAX_LOCAL_IPS {
        return Err(too_many());
    }
    out.push(parse_ip(item, item)?);
    Ok(())
}

/// Expands `--local-ips` (comma-separated items).
pub fn parse_local_ips_flag(text: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for item in text.split(',').filter(|s| !s.trim().is_empty()) {
        expand_local_ips(item, &mut out)?;
    }
    if out.is_empty() {
        return Err("no address given, e.g. --local-ips 127.0.0.2-127.0.0.5".into());
    }
    Ok(out)
}

/// Whether this machine can use `ip` as a source address: a socket binds to it.
pub fn check_local_ip(ip: IpAddr) -> Result<(), String> {
    std::net::TcpListener::bind(SocketAddr::new(ip, 0)).map(drop).map_err(|e| {
        format!("{ip} cannot be used as a source address on this machine ({e}): is it assigned to an interface?")
    })
}

fn parse_ip(s: &str, item: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>().map_err(|_| format!("`{s}` in `{item}` is not an IP address"))
}

fn from_u128(n: u128, v4: bool) -> IpAddr {
    if v4 { IpAddr::V4(Ipv4Addr::from(n as u32)) } else { IpAddr::V6(Ipv6Addr::from(n)) }
}

/// Appends `bytes` encoded as `application/x-www-form-urlencoded` (the WHATWG
/// serializer Go's `url.Values.Encode` matches: unreserved bytes kept, space
/// as `+`, everything else `%XX`).
pub fn form_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_win_over_wildcards_and_long_wildcards_over_short() {
        let m = |n: &str, a: &str| {
            let (ip, port) = parse_host_addr(a).unwrap();
            HostMapping { name: parse_host_name(n).unwrap(), ip, port }
        };
        let hosts =
            vec![m("*.example.com", "127.0.0.1"), m("shop.example.com", "127.0.0.2:81"), m("*.a.example.com", "::1")];
        assert_eq!(map_host(&hosts, "Shop.Example.com").unwrap().port, Some(81));
        assert_eq!(map_host(&hosts, "x.example.com").unwrap().ip.to_string(), "127.0.0.1");
        assert_eq!(map_host(&hosts, "b.a.example.com").unwrap().ip.to_string(), "::1");
        assert!(map_host(&hosts, "example.com").is_none());
        assert!(map_host(&hosts, "notexample.com").is_none());
    }

    #[test]
    fn local_ips_lists_ranges_and_cidrs() {
        let ips = parse_local_ips_flag("127.0.0.2,127.0.0.3-127.0.0.5,127.0.1.0/30").unwrap();
        let s: Vec<String> = ips.iter().map(ToString::to_string).collect();
        assert_eq!(
            s,
            ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.1.0", "127.0.1.1", "127.0.1.2", "127.0.1.3"]
        );
        assert!(parse_local_ips_flag("10.0.0.0/8").is_err());
        assert!(parse_local_ips_flag("127.0.0.5-127.0.0.2").is_err());
        assert!(parse_local_ips_flag("127.0.0.1-::1").is_err());
    }
}

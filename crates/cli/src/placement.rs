//! Where a local run's load goes: how many load processes (each may open
//! only so many files, one per connection) and which source addresses (one
//! address reaches one destination through at most the ephemeral port
//! range), computed from the plan and the machine's real limits, and
//! printed at the start. A refusal only when the machine truly cannot.

use stampede_scenario::Plan;

/// Descriptors kept for things other than VU connections (listeners, files,
/// the runtime, DNS).
pub const FD_RESERVE: u64 = 256;
/// Share of the ephemeral port range one source address can carry at most
/// (the rest absorbs connections in TIME_WAIT and other programs): past it
/// connections fail, so the plan is refused without enough addresses.
const PORT_SHARE: f64 = 0.9;
/// Share a source address is given when Stampede chooses the addresses
/// itself: below half the range. Linux's `connect()` tries the even ports of
/// the range first; once they are taken, every new connection scans them all
/// before an odd one (measured: at 16,000 connections per address, 64 % of
/// each load process's CPU in `__inet_check_established`, and the 50,000-VU
/// ramp stalled for 40 s).
const SPREAD_SHARE: f64 = 0.45;
/// Most load processes a machine is given before the answer is "use more
/// machines".
const MAX_PROCESSES: u64 = 64;
/// Most loopback source addresses chosen automatically.
const MAX_AUTO_ADDRESSES: u64 = 64;

/// The machine's limits the placement works from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open files a process may have (the hard limit, raised to).
    pub open_files: u64,
    /// Ephemeral ports (`/proc/sys/net/ipv4/ip_local_port_range`), inclusive.
    pub ports: (u16, u16),
    pub cores: u32,
}

impl Limits {
    /// This machine's.
    pub fn here() -> Limits {
        let ports = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace().filter_map(|x| x.parse::<u16>().ok());
                Some((it.next()?, it.next()?))
            })
            .filter(|(lo, hi)| lo <= hi)
            .unwrap_or((32768, 60999));
        Limits { open_files: crate::run::raise_nofile_limit(), ports, cores: crate::run::cores() }
    }

    fn ports(&self) -> u64 {
        u64::from(self.ports.1) - u64::from(self.ports.0) + 1
    }

    /// Connections one source address can carry toward one destination.
    fn ports_per_address(&self) -> u64 {
        ((self.ports() as f64 * PORT_SHARE) as u64).max(1)
    }

    /// Connections one address is given when the addresses are chosen here.
    fn spread_per_address(&self) -> u64 {
        ((self.ports() as f64 * SPREAD_SHARE) as u64).max(1)
    }
}

/// What a local run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Load processes (0: the load runs inside this process).
    pub agents: u32,
    pub peak_vus: u64,
    pub connections: u64,
    /// The most connections one load process holds.
    pub per_process: u64,
    /// Source addresses chosen here (`127.0.0.2-127.0.0.N`), when the plan
    /// needs several and names none; `None`: the plan's (or one).
    pub local_ips: Option<String>,
    /// Source addresses in use (1 without `local_ips`).
    pub addresses: u64,
    pub limits: Limits,
}

impl Placement {
    /// The line printed at the start.
    pub fn describe(&self) -> String {
        let procs = match self.agents {
            0 => "inside this process".to_string(),
            1 => "1 load process".to_string(),
            n => format!("{n} load processes"),
        };
        let addresses = match (&self.local_ips, self.addresses) {
            (Some(ips), _) => format!(
                "; source addresses {ips} (chosen: at most {} connections each, under half the ephemeral ports)",
                self.limits.spread_per_address()
            ),
            (None, 1) => String::new(),
            (None, n) => format!("; {n} source addresses (local_ips)"),
        };
        format!(
            "placement: {} VUs, {} connections → {procs}, at most {} connections each (open files: {} per process){addresses}",
            self.peak_vus, self.connections, self.per_process, self.limits.open_files
        )
    }
}

/// Descriptors an edge process of the bundled shop keeps for other things
/// than client connections (its pool towards the origin, up to 512 idle).
const SHOP_EDGE_RESERVE: u64 = 1024;

/// Edge processes the bundled shop needs for the plan's connections under
/// the open-files limit (`shop --edges`).
pub fn shop_edges(plan: &Plan, open_files: u64) -> u64 {
    let per_edge = open_files.saturating_sub(SHOP_EDGE_RESERVE).max(1);
    plan.peak_connections().div_ceil(per_edge).max(1)
}

/// Whether every origin the plan reaches by its base URL is on loopback
/// (where any 127.x.y.z is a source address of this machine).
fn targets_loopback(plan: &Plan) -> bool {
    let Some(base) = &plan.target.base_url else { return false };
    let Ok(uri) = base.parse::<http::Uri>() else { return false };
    match uri.host() {
        Some("localhost") => true,
        Some(h) => h.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Places the plan: `agents` is `--agents` (None: as many as the cores, or
/// more when the open-files limit needs them).
pub fn place(plan: &Plan, agents: Option<u32>, limits: Limits) -> Result<Placement, String> {
    let peak_vus = plan.peak_vus();
    // A VU keeps a connection per origin its flows reach, not just one.
    let connections = plan.peak_connections();
    let per_vu = plan.scenarios.iter().map(|s| plan.connections_per_vu(s)).max().unwrap_or(1);
    let usable = limits.open_files.saturating_sub(FD_RESERVE);
    let needed = if usable == 0 { u64::MAX } else { connections.div_ceil(usable).max(1) };
    let too_many = || {
        format!(
            "this plan can run {peak_vus} VUs at once with up to {per_vu} connection(s) each (one per origin its flows reach), \
             {connections} connections in all, but a load process here may open only {} files (hard limit, `ulimit -Hn`)",
            limits.open_files
        )
    };
    if needed > MAX_PROCESSES {
        return Err(format!(
            "{}: that takes {} load processes, more than one machine should run ({MAX_PROCESSES}).\n  \
             help: spread the run over several machines (stampede coordinator and agents), or raise the hard limit",
            too_many(),
            if needed == u64::MAX { "unbounded".to_string() } else { needed.to_string() }
        ));
    }
    let agents = match agents {
        Some(0) if needed > 1 => {
            return Err(format!(
                "{}: --agents 0 runs it in one process.\n  help: leave --agents out (Stampede starts {needed} load processes), or give --agents {needed} or more",
                too_many()
            ));
        }
        Some(n) if n > 0 && u64::from(n) < needed => {
            return Err(format!(
                "{}: --agents {n} is too few.\n  help: give --agents {needed} or more, or leave it out and Stampede chooses",
                too_many()
            ));
        }
        Some(n) => n,
        None => (limits.cores.max(1) as u64).max(needed) as u32,
    };
    let per_process = if agents == 0 { connections } else { connections.div_ceil(u64::from(agents)) };

    // Source addresses: one address reaches one destination through the
    // ephemeral ports; the busiest destination gets at most every connection.
    let per_address = limits.ports_per_address();
    let wanted = connections.div_ceil(per_address).max(1);
    // On loopback, addresses are free: enough that each stays under half.
    let spread = connections.div_ceil(limits.spread_per_address()).max(1);
    let given = plan.target.local_ips.len() as u64;
    let (local_ips, addresses) = if given > 0 {
        if given < wanted {
            return Err(format!(
                "{connections} connections toward one address need {wanted} source addresses ({per_address} ephemeral ports each, \
                 range {}-{}), but local_ips gives {given}.\n  help: list more local_ips (e.g. \"127.0.0.1-127.0.0.{wanted}\" on loopback)",
                limits.ports.0, limits.ports.1
            ));
        }
        (None, given)
    } else if targets_loopback(plan) && spread > 1 && wanted < MAX_AUTO_ADDRESSES {
        // From 127.0.0.2: 127.0.0.1 stays for everything else on the machine
        // (the target's own connections, the agents' links, other programs).
        let n = spread.min(MAX_AUTO_ADDRESSES - 1).max(wanted);
        (Some(format!("127.0.0.2-127.0.0.{}", n + 1)), n)
    } else if wanted == 1 {
        // Elsewhere one address carries up to the whole range, its
        // connections opened more slowly past half of it.
        (None, 1)
    } else {
        return Err(format!(
            "{connections} connections toward one address need {wanted} source addresses ({per_address} ephemeral ports each, \
             range {}-{}).\n  help: give this machine's addresses as [target] local_ips or --local-ips (k6's --local-ips), \
             or spread the run over several machines",
            limits.ports.0, limits.ports.1
        ));
    };
    Ok(Placement { agents, peak_vus, connections, per_process, local_ips, addresses, limits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(vus: u64, base: &str) -> Plan {
        let src = format!(
            "[target]\nbase_url = \"{base}\"\n[[flows.f.steps]]\nurl = \"/\"\n\
             [scenarios.s]\nexecutor = \"constant-vus\"\nvus = {vus}\nduration = \"10s\"\nflow = \"f\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, src).unwrap();
        stampede_scenario::load(&file, &stampede_scenario::Overrides::default()).unwrap()
    }

    const HERE: Limits = Limits { open_files: 20_000, ports: (32768, 60999), cores: 2 };

    #[test]
    fn fifty_thousand_shoppers_take_three_processes_and_four_addresses() {
        let p = place(&plan(50_000, "http://127.0.0.1:8080"), None, HERE).unwrap();
        assert_eq!((p.agents, p.per_process), (3, 16_667));
        // 12,704 connections each: under half of the 28,232 ephemeral ports.
        assert_eq!(p.local_ips.as_deref(), Some("127.0.0.2-127.0.0.5"));
        assert!(p.describe().contains("3 load processes"), "{}", p.describe());
    }

    #[test]
    fn past_half_the_ports_loopback_spreads_and_elsewhere_one_address_carries_it() {
        let p = place(&plan(20_000, "http://127.0.0.1:8080"), None, HERE).unwrap();
        assert_eq!((p.addresses, p.local_ips.as_deref()), (2, Some("127.0.0.2-127.0.0.3")));
        let p = place(&plan(20_000, "http://10.1.2.3:8080"), None, HERE).unwrap();
        assert_eq!((p.addresses, p.local_ips), (1, None));
    }

    #[test]
    fn a_small_plan_keeps_one_process_per_core_and_one_address() {
        let p = place(&plan(100, "http://127.0.0.1:8080"), None, HERE).unwrap();
        assert_eq!((p.agents, p.addresses, p.local_ips), (2, 1, None));
    }

    #[test]
    fn the_shop_gets_an_edge_process_per_eighteen_thousand_connections() {
        assert_eq!(shop_edges(&plan(15_000, "http://127.0.0.1:8080"), 20_000), 1);
        assert_eq!(shop_edges(&plan(50_000, "http://127.0.0.1:8080"), 20_000), 3);
    }

    #[test]
    fn refusals_say_what_would_work() {
        let e = place(&plan(50_000, "http://127.0.0.1:8080"), Some(2), HERE).unwrap_err();
        assert!(e.contains("--agents 3 or more"), "{e}");
        let e = place(&plan(30_000, "http://127.0.0.1:8080"), Some(0), HERE).unwrap_err();
        assert!(e.contains("leave --agents out"), "{e}");
        // Not loopback: this machine's other addresses are not guessed.
        let e = place(&plan(50_000, "http://10.1.2.3:8080"), None, HERE).unwrap_err();
        assert!(e.contains("local_ips"), "{e}");
        let small = Limits { open_files: 1000, ..HERE };
        let e = place(&plan(50_000, "http://127.0.0.1:8080"), None, small).unwrap_err();
        assert!(e.contains("several machines"), "{e}");
    }
}

//! Starting the bundled shop for a scenario with `[target] shop`: a child
//! process (`stampede shop`) on loopback ephemeral ports, tied to this
//! process's life by its stdin, stopped at the end of the run.

use std::time::Duration;

use anyhow::{Context as _, bail};
use stampede_scenario::ShopSpec;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// A running shop.
pub struct ShopProcess {
    child: Child,
    /// Closing it tells the shop to stop (it watches for end of file).
    stdin: Option<ChildStdin>,
    pub origin: String,
    pub edge: String,
}

/// Starts the shop and waits until it is seeded and listening.
pub async fn start(spec: &ShopSpec, extra: &[String], quiet: bool) -> anyhow::Result<ShopProcess> {
    let exe = std::env::current_exe().context("finding the stampede binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("shop").arg("--stop-on-stdin-eof");
    if let Some(n) = spec.products {
        cmd.arg("--products").arg(n.to_string());
    }
    for f in spec.flags.iter().chain(extra) {
        match f.split_once('=') {
            Some((k, v)) => cmd.arg(format!("--{k}")).arg(v),
            None => cmd.arg(format!("--{f}")),
        };
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().context("starting the bundled shop")?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().context("shop stdout")?;
    let stderr = child.stderr.take().context("shop stderr")?;
    // The shop's own messages (seeding progress, errors) go to our stderr.
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            if !quiet || l.contains("error") {
                eprintln!("{l}");
            }
        }
    });
    let mut lines = BufReader::new(stdout).lines();
    let (mut origin, mut edge) = (None, None);
    let wait = async {
        while let Some(l) = lines.next_line().await? {
            if let Some(u) = l.strip_prefix("origin: ") {
                origin = Some(u.trim().to_string());
            } else if let Some(u) = l.strip_prefix("edge: ") {
                edge = Some(u.trim().to_string());
            } else if l.trim() == "ready" {
                return Ok::<bool, std::io::Error>(true);
            }
        }
        Ok(false)
    };
    let ready = tokio::time::timeout(Duration::from_secs(180), wait).await;
    match ready {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) | Ok(Err(_)) => {
            let status = child.wait().await.ok();
            bail!(
                "the bundled shop stopped before it was ready ({})",
                status.map_or("no status".into(), |s| s.to_string())
            );
        }
        Err(_) => bail!("the bundled shop was not ready within 180 s"),
    }
    let (Some(origin), Some(edge)) = (origin, edge) else { bail!("the bundled shop did not print its URLs") };
    // Keep draining stdout so the shop never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(ShopProcess { child, stdin, origin, edge })
}

impl ShopProcess {
    /// Asks the shop to stop and waits for it (killing it after 10 s).
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

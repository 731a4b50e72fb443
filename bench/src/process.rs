//! A `kuma-cp` child process: started with every port chosen by the OS (read back from its log),
//! stopped with SIGTERM, and its memory read from `/proc/<pid>/status`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

/// How long a start may take before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running control plane process.
pub struct Cp {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// When it was spawned.
    pub spawned: Instant,
    /// Its listeners, as logged.
    pub ports: Ports,
}

/// The ports a control plane logged.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ports {
    /// The plain HTTP API.
    pub http: Option<u16>,
    /// Diagnostics (`/ready`).
    pub diagnostics: Option<u16>,
    /// The DP server (a zone).
    pub dp_server: Option<u16>,
}

/// Environment for a control plane whose work dir is `home`: loopback API, every port 0.
pub fn env(home: &Path, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let home = home.to_string_lossy();
    let mut env = shared::testing::cp::loopback_env(&[("HOME", &home), ("RUST_LOG", "info")]);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

/// Starts `kuma-cp run` (under `prlimit` when `nofile` is given) and reads its log until
/// `until` is logged, collecting the ports on the way. The rest of the log is drained in the
/// background so the child never blocks on a full pipe.
pub async fn spawn(
    bin: &Path,
    env: &HashMap<String, String>,
    nofile: Option<u64>,
    until: &str,
) -> anyhow::Result<Cp> {
    let mut cmd = match nofile {
        Some(n) => {
            let mut cmd = Command::new("prlimit");
            cmd.arg(format!("--nofile={n}:{n}")).arg(bin);
            cmd
        }
        None => Command::new(bin),
    };
    cmd.env_clear()
        .envs(env)
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id().context("the child has no pid")?;
    let stderr = child.stderr.take().context("the child has no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let ports = tokio::time::timeout(START_TIMEOUT, read_ports(&mut lines, until))
        .await
        .context("kuma-cp did not start in time")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Cp { child, pid, spawned, ports })
}

async fn read_ports(
    lines: &mut Lines<BufReader<ChildStderr>>,
    until: &str,
) -> anyhow::Result<Ports> {
    let mut ports = Ports::default();
    while let Some(line) = lines.next_line().await? {
        let port = || line.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok());
        if line.contains("API server (HTTP) listening") {
            ports.http = port();
        } else if line.contains("diagnostics server listening") {
            ports.diagnostics = port();
        } else if line.contains("DP server listening") {
            ports.dp_server = port();
        }
        if line.contains(until) {
            return Ok(ports);
        }
        if line.contains("ERROR") {
            bail!("kuma-cp failed to start: {line}");
        }
    }
    bail!("kuma-cp exited before logging {until:?}")
}

impl Cp {
    /// Sends SIGTERM and waits for the exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let exit = tokio::time::timeout(START_TIMEOUT, self.child.wait())
            .await
            .context("kuma-cp did not stop in time")??;
        if !exit.success() {
            bail!("kuma-cp exited with {exit}");
        }
        Ok(())
    }

    /// Resident memory now (`VmRSS`), KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        status_kib(self.pid, "VmRSS")
    }

    /// Peak resident memory so far (`VmHWM`), KiB.
    pub fn peak_kib(&self) -> anyhow::Result<u64> {
        status_kib(self.pid, "VmHWM")
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{path} has no {field}"))
}

/// Raises this process's open-file limit to `n` (soft and hard) with `prlimit`. `Ok(false)` when
/// the system refuses (the hard limit is lower and we may not raise it): the run goes on with the
/// limit it has, and children are started without `prlimit`.
pub async fn raise_nofile(n: u64) -> anyhow::Result<bool> {
    let status = Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string(), &format!("--nofile={n}:{n}")])
        .status()
        .await
        .context("running prlimit")?;
    if !status.success() {
        eprintln!("could not raise the open-file limit to {n}; keeping the current one");
    }
    Ok(status.success())
}

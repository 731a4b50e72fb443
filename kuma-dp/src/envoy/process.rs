//! Envoy as a child process: its command line, its output (passed through to kuma-dp's own
//! stdout and stderr, the last lines kept to explain an exit), and stopping it.
//!
//! Envoy runs in its own process group, so a Ctrl-C at a terminal reaches kuma-dp alone, which
//! then drains Envoy in order. Hot restart is always off: kuma-dp restarts nothing, and it keeps
//! several proxies on one host from sharing Envoy's shared-memory region.

use std::collections::VecDeque;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::envoy::Config;

/// How many of Envoy's last output lines are kept for the exit message.
const TAIL_LINES: usize = 20;
/// How long Envoy has to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running Envoy.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    pid: u32,
    tail: Tail,
    readers: Vec<JoinHandle<()>>,
}

/// How Envoy ended.
#[derive(Debug)]
pub struct Exit {
    /// The exit status, or the wait error.
    pub status: std::io::Result<ExitStatus>,
    /// Its last output lines, oldest first.
    pub last_lines: Vec<String>,
}

/// Envoy's last output lines.
#[derive(Debug, Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Envoy {
    /// Starts `binary` with the bootstrap at `bootstrap` and the flags of `config`.
    pub fn spawn(binary: &Path, bootstrap: &Path, config: &Config) -> std::io::Result<Self> {
        let mut child = Command::new(binary)
            .args(args(bootstrap, config))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or_default();
        let tail = Tail::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(tail.clone().forward(out, false)));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(tail.clone().forward(err, true)));
        }
        Ok(Self { child, pid, tail, readers })
    }

    /// Envoy's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until Envoy exits, then for the rest of its output.
    pub async fn wait(&mut self) -> Exit {
        let status = self.child.wait().await;
        self.exit(status).await
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; returns how it ended.
    pub async fn stop(&mut self) -> Exit {
        if let Some(pid) = Pid::from_raw(self.pid.try_into().unwrap_or(0)) {
            // ESRCH: it is already gone, which `wait` reports.
            let _ = kill_process(pid, Signal::TERM);
        }
        let status = match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!(
                    pid = self.pid,
                    "Envoy did not stop within 5s of SIGTERM; killing it"
                );
                let _ = self.child.start_kill();
                self.child.wait().await
            }
        };
        self.exit(status).await
    }

    async fn exit(&mut self, status: std::io::Result<ExitStatus>) -> Exit {
        // The pipes close with the process; what is left in them is read within moments.
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        Exit { status, last_lines: self.tail.lines() }
    }
}

impl Tail {
    /// Copies each line of `from` to kuma-dp's stderr (or stdout) and keeps the last ones.
    async fn forward(self, from: impl AsyncRead + Unpin, to_stderr: bool) {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if to_stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            let mut tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => write!(f, "Envoy exited with code {code}")?,
                (None, Some(signal)) => {
                    write!(f, "Envoy was killed by signal {signal}{}", signal_name(signal))?;
                }
                (None, None) => write!(f, "Envoy exited ({status})")?,
            },
            Err(e) => write!(f, "waiting for Envoy failed: {e}")?,
        }
        if self.last_lines.is_empty() {
            return write!(f, "; it printed nothing");
        }
        write!(f, "; its last lines:")?;
        for line in &self.last_lines {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// Envoy's command line.
pub fn args(bootstrap: &Path, config: &Config) -> Vec<String> {
    let mut args = vec![
        "--config-path".to_owned(),
        bootstrap.display().to_string(),
        "--drain-time-s".to_owned(),
        config.drain_time.as_secs().to_string(),
        "--drain-strategy".to_owned(),
        "immediate".to_owned(),
        "--disable-hot-restart".to_owned(),
        "--log-level".to_owned(),
        config.log_level.clone(),
    ];
    if let Some(levels) = &config.component_log_level {
        args.extend(["--component-log-level".to_owned(), levels.clone()]);
    }
    match config.concurrency {
        0 => args.push("--cpuset-threads".to_owned()),
        n => args.extend(["--concurrency".to_owned(), n.to_string()]),
    }
    args
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::envoy::AdsVariant;

    fn config(concurrency: u32, component: Option<&str>) -> Config {
        Config {
            binary: PathBuf::from("envoy"),
            search_dirs: Vec::new(),
            concurrency,
            drain_time: Duration::from_millis(2500),
            log_level: "warning".to_owned(),
            component_log_level: component.map(str::to_owned),
            ads: AdsVariant::Delta,
        }
    }

    #[test]
    fn the_command_line_is_kumas() {
        let line = args(Path::new("/w/bootstrap.yaml"), &config(0, None)).join(" ");
        assert_eq!(
            line,
            "--config-path /w/bootstrap.yaml --drain-time-s 2 --drain-strategy immediate \
             --disable-hot-restart --log-level warning --cpuset-threads"
        );
        let line = args(Path::new("/b"), &config(2, Some("upstream:debug"))).join(" ");
        assert!(line.ends_with("--component-log-level upstream:debug --concurrency 2"), "{line}");
    }

    #[test]
    fn an_exit_names_the_signal_and_the_last_lines() {
        let killed = Exit {
            status: Ok(ExitStatus::from_raw(9)),
            last_lines: vec!["[info] starting".to_owned(), "[error] boom".to_owned()],
        };
        assert_eq!(
            killed.to_string(),
            "Envoy was killed by signal 9 (SIGKILL); its last lines:\n  [info] starting\n  [error] boom"
        );
        let exited = Exit { status: Ok(ExitStatus::from_raw(1 << 8)), last_lines: Vec::new() };
        assert_eq!(exited.to_string(), "Envoy exited with code 1; it printed nothing");
    }
}

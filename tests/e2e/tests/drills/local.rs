//! The lab without Docker: the same federation as `deploy/compose` (global, zone-1, zone-2, two
//! kuma-dp per zone, the lab's mesh and TrafficPermission files) as processes on loopback. Each
//! CP serves its API on its own address (global 127.0.0.2, zones 127.0.0.3 and .4); ports are
//! chosen by the OS once and kept, so a restarted CP comes back where its peers expect it. Every
//! zone reaches the global from 127.0.0.1, so the allowlist drill (rogue) and the network cut
//! need the compose lab.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::api::{Cp, wait_for};
use crate::lab::{Intruders, Node, POLL, PROXIES, SETTLE};

/// A CP process and what it needs to start again.
struct Process {
    env: HashMap<String, String>,
    /// Where its log goes, across restarts.
    log: PathBuf,
    child: Option<Child>,
    ip: &'static str,
    http: u16,
    diagnostics: u16,
    dp: u16,
}

pub struct Local {
    dir: TempDir,
    bin: PathBuf,
    global: Process,
    zones: Vec<Process>,
    /// kuma-dp and intruder processes, killed on drop.
    others: Vec<Child>,
}

impl Local {
    pub async fn up() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let lab_files = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/compose/lab");
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).expect("certs dir");
        for (name, host) in [("kds", "localhost"), ("wrong-ca", "localhost")] {
            let (crt, key) = (certs.join(format!("{name}.crt")), certs.join(format!("{name}.key")));
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
        let kds = free_port();
        let global_env = cp_env(
            dir.path(),
            "global",
            "127.0.0.2",
            &[
                ("KUMA_MODE", "global"),
                ("KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT", &kds.to_string()),
                ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE", &path(&certs.join("kds.crt"))),
                ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE", &path(&certs.join("kds.key"))),
                ("KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS", "127.0.0.0/8"),
            ],
        );
        let mut lab = Self {
            global: Process::new(global_env, "127.0.0.2"),
            zones: Vec::new(),
            others: Vec::new(),
            bin,
            dir,
        };
        lab.global.start(&lab.bin).await;
        lab.kumactl_config(Node::Global).await;
        for file in ["mesh.yaml", "traffic-permission.yaml"] {
            let yaml = std::fs::read_to_string(lab_files.join(file)).expect("lab file");
            lab.kumactl(Node::Global, &["apply", "-f", "-"], Some(&yaml)).await;
        }
        for zone in ["zone-1", "zone-2", "zone-3"] {
            let token = lab.zone_token(zone).await;
            std::fs::write(lab.dir.path().join(format!("{zone}.token")), token).expect("token");
        }
        for (i, ip) in ["127.0.0.3", "127.0.0.4"].into_iter().enumerate() {
            let name = format!("zone-{}", i + 1);
            let env = lab.zone_env(&name, ip, "kds.crt", &name);
            let mut zone = Process::new(env, ip);
            zone.start(&lab.bin).await;
            lab.zones.push(zone);
            lab.kumactl_config(Node::Zone(i)).await;
            for dp in PROXIES[i] {
                let token = lab.dp_token(i, dp).await;
                let proxy = lab.kuma_dp(i, dp, &token);
                lab.others.push(proxy);
            }
        }
        lab
    }

    pub fn global(&self) -> Cp {
        self.global.cp()
    }

    pub fn zones(&self) -> [Cp; 2] {
        [self.zones[0].cp(), self.zones[1].cp()]
    }

    pub async fn kumactl(&self, node: Node, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = Command::new(self.bin.join("kumactl"));
        cmd.arg("--config-file").arg(self.kumactl_file(node)).args(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kumactl");
        let mut pipe = child.stdin.take().expect("stdin is piped");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.expect("writing kumactl's stdin");
        }
        drop(pipe);
        let out = child.wait_with_output().await.expect("kumactl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kumactl {args:?} on {node:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub async fn kill_global(&mut self) {
        self.global.kill().await;
    }

    pub async fn start_global(&mut self) {
        self.global.start(&self.bin).await;
    }

    pub async fn restart_zone(&mut self, i: usize) {
        self.zones[i].terminate().await;
        self.zones[i].start(&self.bin).await;
    }

    pub async fn start_late_proxy(&mut self, token: &str) {
        let proxy = self.kuma_dp(0, "dp-1c", token);
        self.others.push(proxy);
    }

    pub async fn start_intruders(&mut self) -> Intruders {
        let mut cps = Vec::new();
        for (name, ip, ca, token) in [
            ("zone-3", "127.0.0.5", "wrong-ca.crt", "zone-3"),
            ("zone-4", "127.0.0.6", "kds.crt", "zone-1"),
        ] {
            let mut zone = Process::new(self.zone_env(name, ip, ca, token), ip);
            zone.start(&self.bin).await;
            cps.push(zone.cp());
            self.others.extend(zone.child.take());
        }
        let impostor = cps.pop().expect("two intruders");
        let wrong_ca = cps.pop().expect("two intruders");
        Intruders { rogue: None, wrong_ca, impostor }
    }

    fn zone_env(&self, name: &str, ip: &str, ca: &str, token: &str) -> HashMap<String, String> {
        let certs = self.dir.path().join("certs");
        let global =
            format!("grpcs://localhost:{}", self.global.env["KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT"]);
        cp_env(
            self.dir.path(),
            name,
            ip,
            &[
                ("KUMA_MODE", "zone"),
                ("KUMA_MULTIZONE_ZONE_NAME", name),
                ("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", &global),
                ("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", &path(&certs.join(ca))),
                (
                    "KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH",
                    &path(&self.dir.path().join(format!("{token}.token"))),
                ),
                ("KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF", "500ms"),
                ("KUMA_GENERAL_RESILIENT_COMPONENT_MAX_BACKOFF", "3s"),
            ],
        )
    }

    fn kumactl_file(&self, node: Node) -> PathBuf {
        self.dir.path().join(format!("kumactl-{node:?}.yaml"))
    }

    /// Points a kumactl configuration at `node`'s API (a loopback caller: a local admin).
    async fn kumactl_config(&self, node: Node) {
        let cp = match node {
            Node::Global => &self.global,
            Node::Zone(i) => &self.zones[i],
        };
        let address = format!("http://{}:{}", cp.ip, cp.http);
        let args = ["config", "control-planes", "add", "--name", "lab", "--address", &address];
        self.kumactl(node, &args, None).await;
    }

    async fn zone_token(&self, zone: &str) -> String {
        let args =
            ["generate", "zone-token", "--zone", zone, "--scope", "cp", "--valid-for", "24h"];
        self.kumactl(Node::Global, &args, None).await.trim().to_owned()
    }

    /// A dataplane token from zone `i`, once the mesh and its signing key arrived from the global.
    async fn dp_token(&self, i: usize, name: &str) -> String {
        let what = format!("zone-{} to mint a token for {name}", i + 1);
        wait_for(&what, SETTLE, POLL, || async {
            let out = Command::new(self.bin.join("kumactl"))
                .arg("--config-file")
                .arg(self.kumactl_file(Node::Zone(i)))
                .args(["generate", "dataplane-token", "--mesh", "default", "--name", name])
                .args(["--valid-for", "24h"])
                .output()
                .await
                .ok()?;
            if !out.status.success() {
                eprintln!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .await
    }

    fn kuma_dp(&self, i: usize, name: &str, token: &str) -> Child {
        let zone = &self.zones[i];
        let dataplane = format!(
            r#"{{"type": "Dataplane", "mesh": "default", "name": "{name}", "networking": {{"address": "127.0.0.1", "inbound": [{{"port": 8080, "tags": {{"kuma.io/service": "{name}"}}}}]}}}}"#
        );
        Command::new(self.bin.join("kuma-dp"))
            .args(["run", "--cp-address", &format!("https://localhost:{}", zone.dp)])
            .arg("--ca-cert-file")
            .arg(self.dir.path().join(format!("zone-{}", i + 1)).join("kuma-cp.crt"))
            .args(["--admin-port", "0", "--dataplane", &dataplane])
            .env("KUMA_DATAPLANE_RUNTIME_TOKEN", token)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("kuma-dp")
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for cp in std::iter::once(&self.global).chain(&self.zones) {
                let log = std::fs::read_to_string(&cp.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("--- {} ---", cp.log.display());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

impl Process {
    fn new(env: HashMap<String, String>, ip: &'static str) -> Self {
        let port = |key: &str| env[key].parse().expect("a port");
        let (http, diagnostics, dp) = (
            port("KUMA_API_SERVER_HTTP_PORT"),
            port("KUMA_DIAGNOSTICS_SERVER_PORT"),
            port("KUMA_DP_SERVER_PORT"),
        );
        let log = PathBuf::from(&env["KUMA_GENERAL_WORK_DIR"]).with_extension("log");
        Self { env, log, child: None, ip, http, diagnostics, dp }
    }

    fn cp(&self) -> Cp {
        Cp::new(
            format!("http://{}:{}", self.ip, self.http),
            format!("http://127.0.0.1:{}", self.diagnostics),
        )
    }

    /// Starts `kuma-cp run` and waits for its "control plane ready" line.
    async fn start(&mut self, bin: &Path) {
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

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("killing kuma-cp");
        }
    }

    /// SIGTERM, then waits for the exit.
    async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id().expect("a running child").to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
        assert!(status.success());
        let exit = tokio::time::timeout(SETTLE, child.wait()).await;
        assert!(exit.is_ok(), "kuma-cp on {} did not stop on SIGTERM", self.ip);
    }
}

/// The environment of a CP named `name` serving its API on `ip`, work dir under `dir`.
fn cp_env(dir: &Path, name: &str, ip: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let work = dir.join(name);
    // Every listener gets a port first, so one added later cannot default to a fixed port; the
    // ones the drills talk to are picked here so they are known before the CP starts.
    let ports: Vec<String> = (0..5).map(|_| free_port().to_string()).collect();
    let work = path(&work);
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
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    listener.local_addr().expect("local address").port()
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_owned()
}

/// Where the workspace's binaries are: `KUMA_E2E_BIN_DIR`, else `target/debug`.
fn bin_dir() -> PathBuf {
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

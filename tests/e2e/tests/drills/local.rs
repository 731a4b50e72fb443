//! The lab without Docker: the same federation as `deploy/compose` (global, zone-1, zone-2, two
//! kuma-dp per zone, the lab's mesh and TrafficPermission files) as processes on loopback. Each
//! CP serves its API on its own address (global 127.0.0.2, zones 127.0.0.3 and .4); ports are
//! chosen by the OS once and kept, so a restarted CP comes back where its peers expect it. Every
//! zone reaches the global from 127.0.0.1, so the allowlist drill (rogue) and the network cut
//! need the compose lab.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::api::{Cp, wait_for};
use crate::lab::{Intruders, Node, POLL, PROXIES, SETTLE};
use crate::process::{
    Process, bin_dir, cp_env, envoy_bin, free_port, kill_children, kumactl, kumactl_config, path,
    tls_certificate, zone_env,
};

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
        for name in ["kds", "wrong-ca"] {
            tls_certificate(&bin, &certs, name, "localhost").await;
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
        let what = format!("kumactl {args:?} on {node:?}");
        kumactl(&self.bin, &self.kumactl_file(node), args, stdin, &what).await
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
        zone_env(
            self.dir.path(),
            name,
            ip,
            &self.global.env["KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT"],
            &self.dir.path().join("certs").join(ca),
            &self.dir.path().join(format!("{token}.token")),
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
        kumactl_config(&self.bin, &self.kumactl_file(node), cp).await;
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
            .args(["--dataplane", &dataplane, "--concurrency", "1", "--drain-time", "0s"])
            .arg("--binary-path")
            .arg(envoy_bin())
            .env("KUMA_DATAPLANE_RUNTIME_TOKEN", token)
            // Four proxies share this host: each takes a free readiness port.
            .env("KUMA_READINESS_PORT", "0")
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
        // The kuma-dp are killed when dropped; their Envoys must go first.
        for proxy in &self.others {
            if let Some(pid) = proxy.id() {
                kill_children(pid);
            }
        }
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

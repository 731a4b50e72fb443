//! The lab of `deploy/compose` driven through `docker-compose` (v1) or `docker compose` (v2):
//! one project per lab with a unique name, torn down with its volumes when dropped, even when a
//! drill panics (the containers' last log lines are printed first).

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::api::Cp;

/// Every profile, so `down` removes the containers of all of them.
const PROFILES: [&str; 3] = ["rogue", "drills", "postgres"];

/// A running compose project.
pub struct Compose {
    program: Vec<String>,
    file: PathBuf,
    project: String,
    /// First two octets of the lab's subnets (`KUMA_LAB_NET`).
    pub net: String,
    env: Vec<(String, String)>,
}

impl Compose {
    /// Whether a Docker engine answers.
    pub fn engine_available() -> bool {
        std::process::Command::new("docker")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Brings the lab up (`up -d`, waiting for the init steps) under a fresh project name, on
    /// the first subnet block from `KUMA_E2E_NET` (default `10.228`) that no network uses yet.
    pub async fn up(drill: &str) -> Self {
        Self::up_services(drill, &[]).await
    }

    /// Like [`Compose::up`], but only `services` and what they depend on, whatever their
    /// profile; every service of the default lab when empty.
    pub async fn up_services(drill: &str, services: &[&str]) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let image = std::env::var("KUMA_LAB_IMAGE").unwrap_or_else(|_| "kuma-rs-lab:dev".into());
        let mut env = vec![("KUMA_LAB_IMAGE".to_owned(), image.clone())];
        require_image(&image, "deploy/compose/build-images.sh").await;
        // The `postgres` profile's CPs are the services named `*-pg`; they need its image.
        if services.iter().any(|s| s.ends_with("-pg")) {
            let pg = std::env::var("KUMA_LAB_PG_IMAGE")
                .unwrap_or_else(|_| "kuma-rs-lab-postgres:15".into());
            require_image(&pg, "deploy/compose/build-images.sh --postgres").await;
            env.push(("KUMA_LAB_PG_IMAGE".to_owned(), pg));
        }
        let first = std::env::var("KUMA_E2E_NET").unwrap_or_else(|_| "10.228".into());
        let (a, b) = first.split_once('.').expect("KUMA_E2E_NET: two octets, e.g. 10.228");
        let b: u8 = b.parse().expect("KUMA_E2E_NET: two octets, e.g. 10.228");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/compose");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Both compose versions keep lowercase letters and digits as they are.
        let project = format!("kumae2e{}{drill}{n}", std::process::id()).replace('-', "");
        let mut last = String::new();
        for offset in 0..24u8 {
            let net = format!("{a}.{}", b.wrapping_add(offset));
            let lab = Self {
                program: compose_program().await,
                file: root.join("docker-compose.yml"),
                project: project.clone(),
                net,
                env: env.clone(),
            };
            let mut args = vec!["up", "-d"];
            args.extend_from_slice(services);
            let out = lab.compose(&args, &[]).await;
            if out.status.success() {
                eprintln!("lab {} up on {}.0.0/16 ({drill})", lab.project, lab.net);
                return lab;
            }
            last = text(&out);
            // Another network (another lab) holds this block: try the next one.
            if !last.contains("overlap") {
                panic!("compose up failed for {drill}:\n{last}");
            }
            lab.down();
        }
        panic!("no free subnet block from {first}: {last}");
    }

    pub fn cp(&self, ip: &str) -> Cp {
        let host = format!("{}.{ip}", self.net);
        Cp::new(format!("http://{host}:5681"), format!("http://{host}:5680"))
    }

    /// Runs a compose subcommand for this project with every profile on.
    pub async fn compose(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..]).arg("-f").arg(&self.file).args(["-p", &self.project]);
        // A bare `up` with every profile would start every profile's services; an `up` naming
        // services starts those and their dependencies only.
        let bare_up = args.first() == Some(&"up") && args[1..].iter().all(|a| a.starts_with('-'));
        for profile in PROFILES {
            if !bare_up {
                cmd.args(["--profile", profile]);
            }
        }
        cmd.args(args).env("KUMA_LAB_NET", &self.net).envs(self.env.iter().cloned());
        cmd.envs(env.iter().copied());
        run(&mut cmd).await
    }

    /// Starts services of a profile on their own (`up -d --no-deps`).
    pub async fn start(&self, services: &[&str], env: &[(&str, &str)]) {
        let mut args = vec!["up", "-d", "--no-deps"];
        args.extend_from_slice(services);
        let out = self.compose(&args, env).await;
        assert!(out.status.success(), "starting {services:?}: {}", text(&out));
    }

    /// Removes `service`'s container and creates a new one (`rm -sf`, then `up -d --no-deps`):
    /// nothing it wrote outside its volumes survives.
    pub async fn recreate(&self, service: &str) {
        let out = self.compose(&["rm", "-s", "-f", service], &[]).await;
        assert!(out.status.success(), "removing {service}: {}", text(&out));
        self.start(&[service], &[]).await;
    }

    /// Starts `service` (a CP that must refuse to start), waits for it to exit and returns its
    /// exit code and its log.
    pub async fn run_to_exit(&self, service: &str) -> (i64, String) {
        self.start(&[service], &[]).await;
        let code = self.docker(&["wait"], service).await;
        let code = code.trim().parse().unwrap_or_else(|_| panic!("docker wait said {code:?}"));
        let id = self.container(service).await;
        let out = run(Command::new("docker").args(["logs", &id])).await;
        (code, text(&out))
    }

    /// The container id of a service.
    pub async fn container(&self, service: &str) -> String {
        let out = self.compose(&["ps", "-q", service], &[]).await;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(!id.is_empty(), "no container for {service}: {}", text(&out));
        id
    }

    /// `docker <args…>` with the container id of `service` appended (or inserted at `{}`).
    pub async fn docker(&self, args: &[&str], service: &str) -> String {
        let id = self.container(service).await;
        let mut full: Vec<&str> =
            args.iter().map(|a| if *a == "{}" { id.as_str() } else { *a }).collect();
        if !args.contains(&"{}") {
            full.push(&id);
        }
        let out = run(Command::new("docker").args(&full)).await;
        assert!(out.status.success(), "docker {full:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker exec` of `command` in `service`'s container: whether it succeeded, and its
    /// stdout and stderr.
    pub async fn exec(&self, service: &str, env: &[&str], command: &[&str]) -> (bool, String) {
        let id = self.container(service).await;
        let mut cmd = Command::new("docker");
        cmd.arg("exec");
        for var in env {
            cmd.args(["-e", var]);
        }
        let out = run(cmd.arg(&id).args(command)).await;
        (out.status.success(), text(&out))
    }

    /// `kumactl` inside the service's container, where it reaches its CP as a local admin.
    pub async fn kumactl(&self, service: &str, args: &[&str], stdin: Option<&str>) -> String {
        let id = self.container(service).await;
        let mut cmd = Command::new("docker");
        cmd.args(["exec", "-i", &id, "kumactl"]).args(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("docker exec");
        let mut pipe = child.stdin.take().expect("stdin is piped");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.expect("writing kumactl's stdin");
        }
        drop(pipe);
        let out = child.wait_with_output().await.expect("docker exec");
        assert!(out.status.success(), "kumactl {args:?} in {service}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Disconnects `service` from the network shared with the global.
    pub async fn cut(&self, service: &str) {
        let network = format!("{}_kds", self.project);
        self.docker(&["network", "disconnect", &network], service).await;
    }

    /// Reconnects `service` to the network shared with the global at `ip` (`0.12`).
    pub async fn heal(&self, service: &str, ip: &str) {
        let network = format!("{}_kds", self.project);
        let ip = format!("{}.{ip}", self.net);
        self.docker(&["network", "connect", "--ip", &ip, &network], service).await;
    }

    /// `down -v`: containers, networks and volumes. Synchronous, as it runs from `Drop`.
    fn down(&self) {
        let compose = || {
            let mut cmd = std::process::Command::new(&self.program[0]);
            cmd.args(&self.program[1..]).arg("-f").arg(&self.file).args(["-p", &self.project]);
            for profile in PROFILES {
                cmd.args(["--profile", profile]);
            }
            cmd.env("KUMA_LAB_NET", &self.net).envs(self.env.iter().cloned());
            cmd
        };
        let status = compose()
            .args(["down", "-v", "--remove-orphans", "-t", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("warning: compose down failed for project {}", self.project);
        }
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = std::process::Command::new(&self.program[0])
                .args(&self.program[1..])
                .arg("-f")
                .arg(&self.file)
                .args(["-p", &self.project, "logs", "--no-color", "--tail", "30"])
                .env("KUMA_LAB_NET", &self.net)
                .envs(self.env.iter().cloned())
                .output();
            if let Ok(logs) = logs {
                eprintln!("--- lab {} logs ---\n{}", self.project, text(&logs));
            }
        }
        self.down();
    }
}

/// `docker compose` when the v2 plugin answers, `docker-compose` otherwise;
/// `KUMA_E2E_COMPOSE` (e.g. `docker-compose`) chooses.
async fn compose_program() -> Vec<String> {
    if let Ok(program) = std::env::var("KUMA_E2E_COMPOSE") {
        return program.split_whitespace().map(str::to_owned).collect();
    }
    let v2 = run(Command::new("docker").args(["compose", "version"])).await;
    if v2.status.success() {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

async fn require_image(image: &str, build: &str) {
    let inspect = run(Command::new("docker").args(["image", "inspect", image])).await;
    assert!(
        inspect.status.success(),
        "image {image} is missing: run {build} (./scripts/test does)"
    );
}

async fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().await.expect("running docker")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

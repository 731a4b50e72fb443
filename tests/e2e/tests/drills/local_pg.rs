//! The `postgres` profile without Docker: the PostgreSQL test server of `shared::testing` (TLS,
//! scram-sha-256 logins, a certificate for `localhost` and `127.0.0.1` only, signed by its own
//! CA), a global `kuma-cp` on it with verifyFull, and one zone, as processes on loopback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use store::testing::postgres::{self as pg, TestPostgres};
use tempfile::TempDir;
use tokio::process::Command;

use crate::api::Cp;
use crate::lab::SETTLE;
use crate::postgres::Refusal;
use crate::process::{
    Process, bin_dir, cp_env, free_port, kumactl, kumactl_config, path, tls_certificate, zone_env,
};

pub struct PgLocal {
    // Declared first, so the CPs stop before the server does.
    global: Process,
    zone: Process,
    bin: PathBuf,
    dir: TempDir,
    /// The global's store settings, varied by the refused starts.
    store: HashMap<String, String>,
    server: Arc<TestPostgres>,
}

impl PgLocal {
    /// # Panics
    /// When PostgreSQL is not installed (or `KUMA_TEST_POSTGRES=skip` is set): the drill must
    /// not pass without a server.
    pub async fn up() -> Self {
        let server = tokio::task::spawn_blocking(TestPostgres::shared)
            .await
            .expect("starting the test PostgreSQL")
            .expect("the postgres drill needs a PostgreSQL server: unset KUMA_TEST_POSTGRES");
        let db = server.create_database().await.expect("a database for the global");
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).expect("certs dir");
        tls_certificate(&bin, &certs, "kds", "localhost").await;

        let store: HashMap<String, String> = [
            ("KUMA_STORE_TYPE", "postgres".to_owned()),
            ("KUMA_STORE_POSTGRES_HOST", "localhost".to_owned()),
            ("KUMA_STORE_POSTGRES_PORT", server.port().to_string()),
            ("KUMA_STORE_POSTGRES_USER", pg::USER.to_owned()),
            ("KUMA_STORE_POSTGRES_PASSWORD", pg::PASSWORD.to_owned()),
            ("KUMA_STORE_POSTGRES_DB_NAME", db),
            ("KUMA_STORE_POSTGRES_TLS_MODE", "verifyFull".to_owned()),
            ("KUMA_STORE_POSTGRES_TLS_CA_PATH", path(server.ca_path())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let kds = free_port().to_string();
        let mut global_env = cp_env(
            dir.path(),
            "global-pg",
            "127.0.0.2",
            &[
                ("KUMA_MODE", "global"),
                ("KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT", &kds),
                ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE", &path(&certs.join("kds.crt"))),
                ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE", &path(&certs.join("kds.key"))),
                ("KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS", "127.0.0.0/8"),
            ],
        );
        global_env.extend(store.clone());
        let mut global = Process::new(global_env, "127.0.0.2");
        global.start(&bin).await;
        let global_kumactl = dir.path().join("kumactl-global.yaml");
        kumactl_config(&bin, &global_kumactl, &global).await;
        let lab_files = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/compose/lab");
        for file in ["mesh.yaml", "traffic-permission.yaml"] {
            let yaml = std::fs::read_to_string(lab_files.join(file)).expect("lab file");
            let args = ["apply", "-f", "-"];
            kumactl(&bin, &global_kumactl, &args, Some(&yaml), &format!("applying {file}")).await;
        }
        let args =
            ["generate", "zone-token", "--zone", "zone-pg", "--scope", "cp", "--valid-for", "24h"];
        let token = kumactl(&bin, &global_kumactl, &args, None, "a zone token").await;
        let token_file = dir.path().join("zone-pg.token");
        std::fs::write(&token_file, token.trim()).expect("writing the zone token");

        let env =
            zone_env(dir.path(), "zone-pg", "127.0.0.3", &kds, &certs.join("kds.crt"), &token_file);
        let mut zone = Process::new(env, "127.0.0.3");
        zone.start(&bin).await;
        Self { global, zone, bin, dir, store, server }
    }

    pub fn global(&self) -> Cp {
        self.global.cp()
    }

    pub fn zone(&self) -> Cp {
        self.zone.cp()
    }

    pub async fn kumactl(&self, args: &[&str], stdin: Option<&str>) -> String {
        let config = self.dir.path().join("kumactl-global.yaml");
        kumactl(&self.bin, &config, args, stdin, &format!("kumactl {args:?} on global-pg")).await
    }

    /// Kills the global, empties its work directory and starts it again on the same ports.
    pub async fn renew_global(&mut self) {
        self.global.kill().await;
        let work = PathBuf::from(&self.global.env["KUMA_GENERAL_WORK_DIR"]);
        std::fs::remove_dir_all(&work).expect("emptying the global's work directory");
        self.global.start(&self.bin).await;
    }

    /// Runs a second global (own ports and work directory) on the same database, set up to fail
    /// as `refusal` says; whether it exited with an error, and its log.
    pub async fn start_refused(&self, refusal: Refusal) -> (bool, String) {
        let name = format!("global-pg-{refusal:?}");
        let mut env = cp_env(self.dir.path(), &name, "127.0.0.2", &[("KUMA_MODE", "global")]);
        env.extend(self.store.clone());
        let (key, value) = match refusal {
            Refusal::WrongCa => {
                ("KUMA_STORE_POSTGRES_TLS_CA_PATH", path(self.server.wrong_ca_path()))
            }
            Refusal::WrongHost => ("KUMA_STORE_POSTGRES_HOST", pg::MISMATCHED_HOST.to_owned()),
        };
        env.insert(key.to_owned(), value);
        let child = Command::new(self.bin.join("kuma-cp"))
            .arg("run")
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(SETTLE, child).await;
        let out =
            out.unwrap_or_else(|_| panic!("{name} neither started nor exited")).expect("kuma-cp");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (!out.status.success(), log)
    }
}

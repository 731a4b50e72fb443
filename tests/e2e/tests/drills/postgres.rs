//! The `postgres` profile: a global whose store is PostgreSQL, reached over TLS verified in full
//! (CA and host name), federates with a zone; a new instance of it, with nothing but the
//! database, still knows everything and takes the zone back; a global trusting the wrong CA, or
//! dialing an address the server's certificate does not name, refuses to start. On the compose
//! lab that is `global-pg`, `zone-pg` and `postgres`; without Docker, processes and the test
//! server of `shared::testing`.

use serde_json::Value;

use crate::api::{Cp, wait_for};
use crate::compose::Compose;
use crate::lab::{POLL, SETTLE};
use crate::local_pg::PgLocal;

const TP_PG: &str = "type: TrafficPermission
mesh: default
name: allow-pg
sources: [{match: {kuma.io/service: web}}]
destinations: [{match: {kuma.io/service: backend}}]
";

const TP_AFTER: &str = "type: TrafficPermission
mesh: default
name: allow-after-restart
sources: [{match: {kuma.io/service: web}}]
destinations: [{match: {kuma.io/service: web}}]
";

/// The compose lab's login (`KUMA_LAB_PG_PASSWORD` overrides the password there too).
const LAB_PG_LOGIN: &str =
    "host=postgres user=kuma dbname=kuma sslmode=verify-full sslrootcert=/certs/postgres.crt";

/// A global that must not start.
#[derive(Clone, Copy, Debug)]
pub enum Refusal {
    /// Trusts a CA that did not sign the server's certificate.
    WrongCa,
    /// Dials an address that the server's certificate does not name.
    WrongHost,
}

enum Backend {
    Docker(Compose),
    Local(Box<PgLocal>),
}

struct PgLab {
    backend: Backend,
    global: Cp,
    zone: Cp,
}

impl PgLab {
    async fn up() -> Self {
        let docker = match std::env::var("KUMA_E2E_BACKEND").as_deref() {
            Ok("docker") => true,
            Ok("local") => false,
            Ok(other) => panic!("KUMA_E2E_BACKEND: `docker` or `local`, not {other:?}"),
            Err(_) => Compose::engine_available(),
        };
        if docker {
            let compose = Compose::up_services("postgres", &["zone-pg"]).await;
            let (global, zone) = (compose.cp("0.20"), compose.cp("0.21"));
            Self { backend: Backend::Docker(compose), global, zone }
        } else {
            eprintln!("no Docker engine answers: the postgres drill runs on processes on loopback");
            let local = Box::new(PgLocal::up().await);
            let (global, zone) = (local.global(), local.zone());
            Self { backend: Backend::Local(local), global, zone }
        }
    }

    async fn apply(&self, resource: &str) {
        let args = ["apply", "-f", "-"];
        match &self.backend {
            Backend::Docker(c) => drop(c.kumactl("global-pg", &args, Some(resource)).await),
            Backend::Local(l) => drop(l.kumactl(&args, Some(resource)).await),
        }
    }

    /// Replaces the global by a new instance with an empty work directory.
    async fn renew_global(&mut self) {
        match &mut self.backend {
            Backend::Docker(c) => c.recreate("global-pg").await,
            Backend::Local(l) => l.renew_global().await,
        }
    }

    /// Starts a global that must refuse to start: whether it exited with an error, and its log.
    async fn start_refused(&self, refusal: Refusal) -> (bool, String) {
        match &self.backend {
            Backend::Docker(c) => {
                let service = match refusal {
                    Refusal::WrongCa => "global-pg-wrong-ca",
                    Refusal::WrongHost => "global-pg-wrong-host",
                };
                let (code, log) = c.run_to_exit(service).await;
                (code != 0, log)
            }
            Backend::Local(l) => l.start_refused(refusal).await,
        }
    }

    /// The names of the rows of `kind` in the database, read with psql over TLS verify-full
    /// (compose only: the loopback server's rows are checked through the global alone).
    async fn stored(&self, kind: &str) -> Option<Vec<String>> {
        let Backend::Docker(c) = &self.backend else { return None };
        let query = format!("select name from resources where kind = '{kind}' order by name");
        let (ok, out) =
            c.exec("postgres", &[&password()], &["psql", LAB_PG_LOGIN, "-Atc", &query]).await;
        assert!(ok, "psql over TLS as kuma: {out}");
        Some(out.lines().map(str::to_owned).collect())
    }

    /// What the server answers a plain TCP login (compose only: the loopback test server also
    /// serves plain TCP logins for the store tests).
    async fn plain_tcp_login(&self) -> Option<(bool, String)> {
        let Backend::Docker(c) = &self.backend else { return None };
        let login = "host=postgres user=kuma dbname=kuma sslmode=disable";
        Some(c.exec("postgres", &[&password()], &["psql", login, "-Atc", "select 1"]).await)
    }

    /// zone-pg online on the global in a session newer than `sessions` earlier ones, and the zone
    /// connected; returns the number of sessions the global records.
    async fn wait_federated(&self, sessions: usize) -> usize {
        let count = wait_for("zone-pg online on the global", SETTLE, POLL, || async {
            let subscriptions = zone_pg_subscriptions(&self.global).await?;
            let online = subscriptions.last()?["disconnectTime"].is_null();
            (online && subscriptions.len() > sessions).then_some(subscriptions.len())
        })
        .await;
        wait_for("zone-pg connected", SETTLE, POLL, || async {
            self.zone.connected().await.then_some(())
        })
        .await;
        count
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_on_postgres_verify_full_federates_and_a_new_instance_keeps_its_data() {
    let mut lab = PgLab::up().await;

    let config = lab.global.get("/config").await.expect("the global's /config");
    assert_eq!(config["store"]["type"], "postgres", "{config}");
    assert_eq!(config["store"]["postgres"]["tls"]["mode"], "verifyFull", "{config}");
    let sessions = lab.wait_federated(0).await;

    lab.apply(TP_PG).await;
    wait_for("allow-pg on zone-pg", SETTLE, POLL, || async {
        (lab.zone.traffic_permissions().await? == ["allow-all", "allow-pg"]).then_some(())
    })
    .await;
    if let Some(rows) = lab.stored("TrafficPermission").await {
        assert_eq!(rows, ["allow-all", "allow-pg"], "the rows in PostgreSQL");
    }

    // Nothing of the old instance but the database: the resources, the zone's insight and the
    // zone token signing key (the zone's old token still admits it) all come from PostgreSQL.
    lab.renew_global().await;
    let tps =
        wait_for("the new global's API", SETTLE, POLL, || lab.global.traffic_permissions()).await;
    assert_eq!(tps, ["allow-all", "allow-pg"]);
    assert_eq!(lab.global.count("/meshes").await, Some(1));
    lab.wait_federated(sessions).await;
    lab.apply(TP_AFTER).await;
    wait_for("allow-after-restart on zone-pg", SETTLE, POLL, || async {
        let tps = lab.zone.traffic_permissions().await?;
        (tps == ["allow-after-restart", "allow-all", "allow-pg"]).then_some(())
    })
    .await;
    let zones = lab.global.zones().await.expect("the global's zones");
    assert_eq!(zones.keys().collect::<Vec<_>>(), ["zone-pg"], "{zones:?}");

    for refusal in [Refusal::WrongCa, Refusal::WrongHost] {
        let (failed, log) = lab.start_refused(refusal).await;
        assert!(failed, "a global with {refusal:?} started:\n{log}");
        let error = log.lines().find(|l| l.contains("could not open the postgres store"));
        let error = error.unwrap_or_else(|| panic!("{refusal:?}: no store error in:\n{log}"));
        assert!(error.contains("invalid peer certificate"), "{refusal:?}: {error}");
        eprintln!("refused ({refusal:?}): {error}");
    }
    if let Some((ok, out)) = lab.plain_tcp_login().await {
        assert!(!ok && out.contains("no pg_hba.conf entry"), "a plain TCP login: {out}");
    }
}

/// The global's sessions of zone-pg, oldest first.
async fn zone_pg_subscriptions(global: &Cp) -> Option<Vec<Value>> {
    let zone = global.get("/zones/zone-pg/_overview").await?;
    zone["zoneInsight"]["subscriptions"].as_array().cloned()
}

fn password() -> String {
    let password = std::env::var("KUMA_LAB_PG_PASSWORD").unwrap_or_else(|_| "kuma-lab".into());
    format!("PGPASSWORD={password}")
}

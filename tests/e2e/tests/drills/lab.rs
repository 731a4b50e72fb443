//! One federation for one drill: a global, zone-1 and zone-2, two proxies per zone, and the
//! intruders a drill may add. The same operations work on the compose lab (containers) and, where
//! no Docker engine runs, on `kuma-cp`/`kuma-dp` processes on loopback.

use std::time::Duration;

use crate::api::{Cp, wait_for};
use crate::compose::Compose;
use crate::local::Local;

/// How long a lab may take to come up, or to settle after a change.
pub const SETTLE: Duration = Duration::from_secs(120);
/// How often the drills poll.
pub const POLL: Duration = Duration::from_millis(500);
/// The proxies the lab starts, by zone.
pub const PROXIES: [[&str; 2]; 2] = [["dp-1a", "dp-1b"], ["dp-2a", "dp-2b"]];

/// A control plane of the lab.
#[derive(Clone, Copy, Debug)]
pub enum Node {
    Global,
    /// zone-1 (0) or zone-2 (1).
    Zone(usize),
}

enum Backend {
    Docker(Compose),
    Local(Box<Local>),
}

/// The zones that must be refused, as the drills see them.
pub struct Intruders {
    /// Outside the allowlist (compose only: on loopback every zone has the same address).
    pub rogue: Option<Cp>,
    /// Trusts an unrelated CA.
    pub wrong_ca: Cp,
    /// Calls itself zone-4 but presents zone-1's token.
    pub impostor: Cp,
}

pub struct Lab {
    backend: Backend,
    pub global: Cp,
    pub zones: [Cp; 2],
}

impl Lab {
    /// Starts a lab for `drill` and waits until it is whole (see [`Lab::wait_whole`]): the
    /// compose lab when a Docker engine answers, processes otherwise. `KUMA_E2E_BACKEND`
    /// (`docker` or `local`) chooses.
    pub async fn up(drill: &str) -> Self {
        let docker = match std::env::var("KUMA_E2E_BACKEND").as_deref() {
            Ok("docker") => true,
            Ok("local") => false,
            Ok(other) => panic!("KUMA_E2E_BACKEND: `docker` or `local`, not {other:?}"),
            Err(_) => Compose::engine_available(),
        };
        let lab = if docker {
            let compose = Compose::up(drill).await;
            let global = compose.cp("0.2");
            // Zones are read on their own network, which a partition leaves alone.
            let zones = [compose.cp("1.2"), compose.cp("2.2")];
            Self { backend: Backend::Docker(compose), global, zones }
        } else {
            eprintln!("no Docker engine answers: {drill} runs on kuma-cp processes on loopback");
            let local = Box::new(Local::up().await);
            let (global, zones) = (local.global(), local.zones());
            Self { backend: Backend::Local(local), global, zones }
        };
        lab.wait_whole().await;
        lab
    }

    /// Both zones online on the global and connected by their own account, the four proxies on
    /// the global, each with a certificate from its zone.
    pub async fn wait_whole(&self) {
        wait_for("both zones online on the global", SETTLE, POLL, || async {
            let online = self.global.online_zones().await?;
            (online == ["zone-1", "zone-2"]).then_some(())
        })
        .await;
        for (i, zone) in self.zones.iter().enumerate() {
            wait_for(&format!("zone-{} connected", i + 1), SETTLE, POLL, || async {
                zone.connected().await.then_some(())
            })
            .await;
            wait_for(&format!("the proxies of zone-{} certified", i + 1), SETTLE, POLL, || async {
                let certs = self.zones[i].dp_certs().await?;
                PROXIES[i]
                    .iter()
                    .all(|dp| certs.get(*dp).is_some_and(|c| c.regenerations >= 1))
                    .then_some(())
            })
            .await;
        }
        wait_for("the four proxies (at least) on the global", SETTLE, POLL, || async {
            (self.global.dataplanes().await?.len() >= 4).then_some(())
        })
        .await;
    }

    /// `kumactl` as a local admin of `node`, with `stdin` when given.
    pub async fn kumactl(&self, node: Node, args: &[&str], stdin: Option<&str>) -> String {
        match &self.backend {
            Backend::Docker(c) => c.kumactl(service(node), args, stdin).await,
            Backend::Local(l) => l.kumactl(node, args, stdin).await,
        }
    }

    /// Applies a resource (YAML) on `node`.
    pub async fn apply(&self, node: Node, resource: &str) {
        self.kumactl(node, &["apply", "-f", "-"], Some(resource)).await;
    }

    /// Kills the global (SIGKILL: no goodbye to the zones).
    pub async fn kill_global(&mut self) {
        match &mut self.backend {
            Backend::Docker(c) => drop(c.docker(&["kill"], "global").await),
            Backend::Local(l) => l.kill_global().await,
        }
    }

    /// Starts the killed global again, on the same store.
    pub async fn start_global(&mut self) {
        match &mut self.backend {
            Backend::Docker(c) => drop(c.docker(&["start"], "global").await),
            Backend::Local(l) => l.start_global().await,
        }
    }

    /// Stops zone `i`'s CP (SIGTERM) and starts it again on the same store.
    pub async fn restart_zone(&mut self, i: usize) {
        match &mut self.backend {
            Backend::Docker(c) => {
                drop(c.docker(&["restart", "-t", "10"], service(Node::Zone(i))).await)
            }
            Backend::Local(l) => l.restart_zone(i).await,
        }
    }

    /// Starts proxy dp-1c in zone-1 with `token`.
    pub async fn start_late_proxy(&mut self, token: &str) {
        match &mut self.backend {
            Backend::Docker(c) => c.start(&["dp-1c"], &[("KUMA_LAB_LATE_TOKEN", token)]).await,
            Backend::Local(l) => l.start_late_proxy(token).await,
        }
    }

    pub async fn start_intruders(&mut self) -> Intruders {
        match &mut self.backend {
            Backend::Docker(c) => {
                c.start(&["rogue", "zone-3", "zone-4"], &[]).await;
                Intruders {
                    rogue: Some(c.cp("0.200")),
                    wrong_ca: c.cp("0.13"),
                    impostor: c.cp("0.14"),
                }
            }
            Backend::Local(l) => l.start_intruders().await,
        }
    }

    /// Cuts zone `i` off the global's network; `false` where the lab cannot (processes).
    pub async fn cut(&self, i: usize) -> bool {
        match &self.backend {
            Backend::Docker(c) => {
                c.cut(service(Node::Zone(i))).await;
                true
            }
            Backend::Local(_) => false,
        }
    }

    /// Heals the cut of zone `i`.
    pub async fn heal(&self, i: usize) {
        if let Backend::Docker(c) = &self.backend {
            c.heal(service(Node::Zone(i)), &format!("0.1{}", i + 1)).await;
        }
    }
}

fn service(node: Node) -> &'static str {
    match node {
        Node::Global => "global",
        Node::Zone(0) => "zone-1",
        Node::Zone(_) => "zone-2",
    }
}

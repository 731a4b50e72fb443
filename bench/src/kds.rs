//! Figures 3 and 4: a global and zones in this process (the real `global::App` and `zone::App`,
//! KDS over TLS on loopback with zone tokens), timed through their stores: a write on the
//! global's store starts the clock, the change notification of each zone's store stops it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kuma_core::resources::{ResourceType, Spec};
use kuma_core::shutdown::{self, Trigger};
use serde_json::{Value, json};
use shared::kds::hashed_name;
use shared::testing::cp::{config, http_client};
use store::{ChangeKind, Changes, Event, Key, Store};
use tokio::task::JoinHandle;

use crate::args::StoreKind;
use crate::report::{Figure, thousands};

const MESH: &str = "default";
const TP: &str = "TrafficPermission";
/// How long one change or one full sync may take before the run gives up.
const GIVE_UP: Duration = Duration::from_secs(60);

/// A control plane running in this process.
struct Running {
    store: Store,
    trigger: Trigger,
    task: JoinHandle<anyhow::Result<()>>,
}

struct Global {
    running: Running,
    api: String,
    kds: String,
    ca: PathBuf,
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        self.trigger.fire();
        self.task.await.context("a control plane task panicked")?
    }
}

async fn start_global(dir: &Path, store: StoreKind) -> anyhow::Result<Global> {
    let env = [("KUMA_MODE", "global"), ("KUMA_STORE_TYPE", store.env())];
    let app = global::App::build(config(dir, &env)).await?;
    let addrs = app.addresses();
    let store = app.store().clone();
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(app.run(shutdown));
    let http = addrs.runtime.http.context("the global has no HTTP API")?;
    Ok(Global {
        running: Running { store, trigger, task },
        api: format!("http://127.0.0.1:{}", http.port()),
        kds: format!("grpcs://localhost:{}", addrs.kds.port()),
        ca: dir.join("kuma-cp.crt"),
    })
}

/// Builds a zone (token from the global's API) and returns it with a subscription to its store
/// taken before it runs, and the function that starts it.
async fn build_zone(
    global: &Global,
    dir: &Path,
    name: &str,
    store: StoreKind,
) -> anyhow::Result<(zone::App, Changes)> {
    let token = dir.with_extension("token");
    let resp = http_client()
        .post(format!("{}/tokens/zone", global.api))
        .json(&json!({"zone": name, "scope": ["cp"], "validFor": "1h"}))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("issuing a zone token: {}", resp.status());
    }
    std::fs::write(&token, resp.text().await?)?;
    let (token, ca) = (path_str(&token)?, path_str(&global.ca)?);
    let env = [
        ("KUMA_MULTIZONE_ZONE_NAME", name),
        ("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", global.kds.as_str()),
        ("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", ca.as_str()),
        ("KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH", token.as_str()),
        ("KUMA_STORE_TYPE", store.env()),
        ("KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF", "100ms"),
    ];
    let app = zone::App::build(config(dir, &env)).await?;
    let changes = app.store().changes();
    Ok((app, changes))
}

fn run_zone(app: zone::App) -> Running {
    let store = app.store().clone();
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(app.run(shutdown));
    Running { store, trigger, task }
}

fn path_str(path: &Path) -> anyhow::Result<String> {
    path.to_str().map(str::to_owned).with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Creates the mesh through the global's API, as a user would (so its keys and CA exist too).
async fn create_mesh(global: &Global) -> anyhow::Result<()> {
    let resp = http_client()
        .put(format!("{}/meshes/{MESH}", global.api))
        .json(&json!({"type": "Mesh", "name": MESH}))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("creating the mesh: {}", resp.status());
    }
    Ok(())
}

fn permission(service: &str) -> anyhow::Result<Value> {
    let value = json!({"sources": [{"match": {"kuma.io/service": "*"}}],
        "destinations": [{"match": {"kuma.io/service": service}}]});
    match Spec::from_value(ResourceType::TrafficPermission, value) {
        Ok(spec) => Ok(spec.to_value()),
        Err(_) => bail!("the benchmark's TrafficPermission does not validate"),
    }
}

/// Writes `n` TrafficPermissions straight into the global's store (setup, not measured).
async fn fill(store: &Store, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        let key = Key::mesh_scoped(TP, MESH, &format!("tp-{i}"));
        store.create(key, permission(&format!("svc-{i}"))?, BTreeMap::new()).await?;
    }
    Ok(())
}

/// Waits until `store` holds at least `n` TrafficPermissions, polling.
async fn wait_count(store: &Store, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + GIVE_UP;
    while store.list(TP, Some(MESH)).await?.len() < n {
        if Instant::now() > deadline {
            bail!("the zone did not receive {n} resources within {GIVE_UP:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits for the change of `name` in a zone's store; returns when it arrived.
async fn wait_change(changes: &mut Changes, name: &str) -> anyhow::Result<Instant> {
    loop {
        match tokio::time::timeout(GIVE_UP, changes.recv()).await {
            Err(_) => bail!("no change of {name} reached the zone within {GIVE_UP:?}"),
            Ok(Some(Event::Changed(c)))
                if c.key.kind == TP && c.key.name == name && c.kind != ChangeKind::Delete =>
            {
                return Ok(Instant::now());
            }
            Ok(Some(Event::Changed(_))) => {}
            Ok(Some(Event::Resync)) => bail!("the zone's change feed fell behind"),
            Ok(None) => bail!("the zone's store closed"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Figure 3: `changes` updates of one TrafficPermission on the global, each timed until every
/// zone's store has it; first with one zone, then with ten.
pub async fn propagation(
    store: StoreKind,
    background: usize,
    changes: usize,
) -> anyhow::Result<Vec<Figure>> {
    let dir = tempfile::tempdir()?;
    let global = start_global(&dir.path().join("global"), store).await?;
    create_mesh(&global).await?;
    fill(&global.running.store, background).await?;
    let changed = Key::mesh_scoped(TP, MESH, "changed");
    global.running.store.create(changed.clone(), permission("v0")?, BTreeMap::new()).await?;
    let on_zone = hashed_name(MESH, "changed", &[]);

    let mut zones = Vec::new();
    let mut feeds = Vec::new();
    let mut figures = Vec::new();
    for count in [1usize, 10] {
        while zones.len() < count {
            let name = format!("zone-{}", zones.len() + 1);
            let (app, feed) = build_zone(&global, &dir.path().join(&name), &name, store).await?;
            let running = run_zone(app);
            wait_count(&running.store, background + 1).await?;
            zones.push(running);
            feeds.push(feed);
        }
        // Forget what the zones received while joining.
        for (feed, zone) in feeds.iter_mut().zip(&zones) {
            *feed = zone.store.changes();
        }
        let mut all = Vec::with_capacity(changes);
        let mut each = Vec::with_capacity(changes * count);
        for i in 0..changes {
            let current = global.running.store.get(&changed).await?;
            let spec = permission(&format!("v{count}-{i}"))?;
            let start = Instant::now();
            global
                .running
                .store
                .update(changed.clone(), spec, BTreeMap::new(), current.version)
                .await?;
            let arrivals = futures::future::try_join_all(
                feeds.iter_mut().map(|feed| wait_change(feed, &on_zone)),
            )
            .await?;
            let lat: Vec<Duration> = arrivals.iter().map(|t| t.duration_since(start)).collect();
            all.push(lat.iter().copied().max().unwrap_or_default());
            each.extend(lat);
        }
        all.sort();
        each.sort();
        let p99 = percentile(&all, 99.0);
        let name = if count == 1 {
            "global change visible on 1 zone, p99".to_owned()
        } else {
            format!("global change visible on all {count} zones, p99")
        };
        figures.push(
            Figure::target(3, &name, ms(p99), "p99 ≤ 50 ms", p99 <= Duration::from_millis(50))
                .when(format!(
                    "{changes} updates of one TrafficPermission with {} others in the mesh, \
                     store {}; p50 {}, max {}; per zone: p50 {}, p99 {}; clock from the write \
                     call on the global's store to the zone's store change notification",
                    thousands(background as f64),
                    store.env(),
                    ms(percentile(&all, 50.0)),
                    ms(all.last().copied().unwrap_or_default()),
                    ms(percentile(&each, 50.0)),
                    ms(percentile(&each, 99.0)),
                )),
        );
    }
    for zone in zones {
        zone.stop().await?;
    }
    global.running.stop().await?;
    Ok(figures)
}

/// Figure 4: a new zone joins a global holding `n` TrafficPermissions; timed from the zone's
/// start (its listeners already bound) until its store holds all of them.
pub async fn full_sync(store: StoreKind, n: usize) -> anyhow::Result<Vec<Figure>> {
    let dir = tempfile::tempdir()?;
    let global = start_global(&dir.path().join("global"), store).await?;
    create_mesh(&global).await?;
    fill(&global.running.store, n).await?;
    let (app, mut feed) = build_zone(&global, &dir.path().join("zone-1"), "zone-1", store).await?;
    let start = Instant::now();
    let zone = run_zone(app);
    let mut created = 0usize;
    let mut lagged = false;
    let deadline = start + GIVE_UP;
    while created < n {
        match tokio::time::timeout_at(deadline.into(), feed.recv()).await {
            Err(_) => bail!("the zone received {created} of {n} resources within {GIVE_UP:?}"),
            Ok(Some(Event::Changed(c))) if c.key.kind == TP && c.kind == ChangeKind::Create => {
                created += 1;
            }
            Ok(Some(Event::Changed(_))) => {}
            Ok(Some(Event::Resync)) => {
                // Too many to follow one by one: count what the store holds instead.
                lagged = true;
                wait_count(&zone.store, n).await?;
                break;
            }
            Ok(None) => bail!("the zone's store closed"),
        }
    }
    let elapsed = start.elapsed();
    let figure = Figure::target(
        4,
        &format!("full sync of {} resources to a new zone", thousands(n as f64)),
        ms(elapsed),
        "≤ 1 s",
        elapsed <= Duration::from_secs(1),
    )
    .when(format!(
        "{} TrafficPermissions on the global, store {}; clock from starting the built zone \
         (KDS connect, TLS, token) until its store holds them all{}",
        thousands(n as f64),
        store.env(),
        if lagged { " (counted by polling the store every 20 ms)" } else { "" }
    ));
    zone.stop().await?;
    global.running.stop().await?;
    Ok(vec![figure])
}

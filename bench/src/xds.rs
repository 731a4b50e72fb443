//! Figures 8 to 10: the xDS side of the zone.
//!
//! 8. Configuration generated for one proxy of a mesh of 1,000 services and 5,000 Dataplanes
//!    (STRICT mTLS, a TrafficPermission per service, three outbounds per proxy): the pure
//!    generator alone, and with the snapshot (every resource encoded), in this process.
//! 9. A TrafficPermission change applied by 1,000 simulated ADS clients: each is what Envoy is
//!    on the wire (its own TLS connection to the DP server, a delta ADS stream with its own
//!    dataplane token, ACKs); the clock runs from the REST write to each client's receipt of
//!    the new listeners (it ACKs at once). Kuma's floor is its 1 s regeneration tick.
//! 10. Memory per connected ADS proxy: the zone `kuma-cp` process's RSS before and after the
//!     1,000 streams got their configuration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse,
};
use kuma_core::net::ChannelSettings;
use kuma_core::resources::{
    DataplaneSpec, Inbound, MeshSpec, Networking, Outbound, Selector, TrafficPermissionSpec,
};
use kuma_core::tokens::{self, DataplaneClaims};
use serde_json::json;
use shared::testing::cp::http_client;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use zone::xds::{self, Dataplane, MeshView, Policy, Snapshot};

use crate::dps::signing_key;
use crate::process;
use crate::report::{Figure, thousands};

const MESH: &str = "default";
const LDS: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CDS: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// Open files for the bench and the zone: one socket per client on each side, and headroom.
const NOFILE: u64 = 16_384;
/// DP server limits that fit every simulated client behind the one loopback address.
const DP_LIMITS: [(&str, &str); 3] = [
    ("KUMA_DP_SERVER_RATE_LIMIT_PER_SECOND", "100000"),
    ("KUMA_DP_SERVER_RATE_LIMIT_BURST", "100000"),
    ("KUMA_DP_SERVER_RATE_LIMIT_MAX_CONNECTIONS", "100000"),
];

/// Figure 8: generation time per proxy in a mesh of `services` services and `dps` Dataplanes.
pub fn generation(services: usize, dps: usize, time: Duration) -> Vec<Figure> {
    let mtls = json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]});
    let spec: MeshSpec = serde_json::from_value(json!({ "mtls": mtls })).unwrap_or_default();
    let service = |i: usize| format!("svc-{}", i % services);
    let tags = |s: String| [("kuma.io/service".to_owned(), s)].into_iter().collect();
    let dataplanes: Vec<Arc<Dataplane>> = (0..dps)
        .map(|i| {
            let outbound = (1..=3)
                .map(|k| Outbound {
                    port: 10_000 + k,
                    tags: tags(service(i + k as usize)),
                    ..Default::default()
                })
                .collect();
            let networking = Networking {
                address: format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256),
                inbound: vec![Inbound { port: 8080, tags: tags(service(i)), ..Default::default() }],
                outbound,
                ..Default::default()
            };
            let spec = DataplaneSpec { networking: Some(networking), ..Default::default() };
            Arc::new(Dataplane { name: format!("dp-{i}"), spec, labels: Default::default() })
        })
        .collect();
    let epoch = OffsetDateTime::UNIX_EPOCH;
    let permissions = (0..services)
        .map(|i| Policy {
            name: format!("to-svc-{i}"),
            created: epoch,
            spec: TrafficPermissionSpec {
                sources: vec![Selector { tags: tags(service(i + 1)) }],
                destinations: vec![Selector { tags: tags(service(i)) }],
            },
        })
        .collect();
    let started = Instant::now();
    let view = MeshView::new(MESH, &spec, dataplanes.iter().cloned(), permissions, Vec::new());
    let view_built = started.elapsed();

    let per_proxy = |encode: bool| {
        let deadline = Instant::now() + time;
        let mut n = 0usize;
        let started = Instant::now();
        while Instant::now() < deadline {
            for dp in dataplanes.iter().skip(n % dps).take(100) {
                let generated = xds::generate(&view, dp);
                if encode {
                    std::hint::black_box(Snapshot::next(
                        None,
                        generated.resources,
                        generated.warnings,
                    ));
                } else {
                    std::hint::black_box(generated);
                }
            }
            n += 100;
        }
        started.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let generate = per_proxy(false);
    let snapshot = per_proxy(true);
    let conditions = format!(
        "{} services, {} Dataplanes (1 inbound, 3 outbounds each), {} TrafficPermissions, \
         STRICT mTLS; one core, proxies taken in turn for {:.0} s; the mesh view (endpoint index of \
         all Dataplanes) is built once per store change and shared: {:.1} ms here",
        thousands(services as f64),
        thousands(dps as f64),
        thousands(services as f64),
        time.as_secs_f64(),
        view_built.as_secs_f64() * 1e3
    );
    vec![
        Figure::info(
            8,
            "xDS generated for one proxy (1,000 services, 5,000 DPs)",
            format!("{generate:.1} µs"),
        )
        .when(conditions.clone()),
        Figure::info(
            8,
            "  with its snapshot: every resource encoded, versions assigned",
            format!("{snapshot:.1} µs"),
        )
        .when(conditions),
    ]
}

/// Figures 9 and 10 against a zone `kuma-cp` process.
pub async fn ads(
    bin: &std::path::Path,
    clients: usize,
    changes: usize,
) -> anyhow::Result<Vec<Figure>> {
    let nofile = process::raise_nofile(NOFILE).await?.then_some(NOFILE);
    let home = tempfile::tempdir()?;
    let env = process::env(home.path(), &DP_LIMITS);
    let cp = process::spawn(bin, &env, nofile, "control plane ready").await?;
    let api = format!("http://127.0.0.1:{}", cp.ports.http.context("no HTTP API port logged")?);
    let dp_port = cp.ports.dp_server.context("no DP server port logged")?;
    let client = http_client();
    let put = |path: String, body: serde_json::Value| {
        let client = client.clone();
        let url = format!("{api}{path}");
        async move {
            let resp = client.put(url).json(&body).send().await?;
            if !resp.status().is_success() {
                bail!("PUT: {}", resp.status());
            }
            anyhow::Ok(())
        }
    };
    let mtls = json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]});
    put(format!("/meshes/{MESH}"), json!({"type": "Mesh", "name": MESH, "mtls": mtls})).await?;
    eprintln!("registering {clients} Dataplanes");
    for i in 0..clients {
        let dp = json!({"type": "Dataplane", "mesh": MESH, "name": format!("dp-{i}"),
            "networking": {"address": "127.0.0.1", "inbound": [{"port": 20_000 + i,
                "tags": {"kuma.io/service": format!("svc-{}", i % 100)}}]}});
        put(format!("/meshes/{MESH}/dataplanes/dp-{i}"), dp).await?;
    }
    let key = signing_key(&api).await?;
    let now = OffsetDateTime::now_utc();
    let settings = Arc::new(ChannelSettings {
        address: format!("grpcs://127.0.0.1:{dp_port}"),
        root_ca: Some(home.path().join(".kuma").join("kuma-cp.crt")),
        skip_verify: false,
        identity: None,
        local_ip: None,
    });
    let before = cp.rss_kib()?;
    let (events, mut received) = mpsc::unbounded_channel::<(usize, Instant)>();
    let mut tasks = Vec::new();
    let setup = Instant::now();
    for i in 0..clients {
        let name = format!("dp-{i}");
        let claims =
            DataplaneClaims { name: name.clone(), mesh: MESH.to_owned(), ..Default::default() };
        let token = tokens::Issuer.issue(&claims, &key, "1", Duration::from_secs(3600), now)?.token;
        tasks.push(tokio::spawn(stream(i, name, token, settings.clone(), events.clone())));
    }
    // Every client's first listeners.
    let first = arrivals(&mut received, clients, setup, Duration::from_secs(120)).await;
    if first.len() < clients {
        let mut reasons = Vec::new();
        for task in tasks.iter_mut().filter(|t| t.is_finished()).take(3) {
            if let Ok(Err(err)) = task.await {
                reasons.push(format!("{err:#}"));
            }
        }
        bail!("only {} of {clients} ADS clients got their listeners: {reasons:?}", first.len());
    }
    let setup = setup.elapsed();
    let after = cp.rss_kib()?;
    let per_proxy = after.saturating_sub(before) as f64 / clients as f64;

    let mut p99s = Vec::new();
    let mut all = Vec::new();
    for k in 0..changes {
        // An allow-all permission created later than the others wins everywhere (equal rank,
        // latest creation): every proxy's inbound RBAC changes.
        let tp = json!({"type": "TrafficPermission", "mesh": MESH, "name": format!("change-{k}"),
            "sources": [{"match": {"kuma.io/service": format!("svc-{k}")}}],
            "destinations": [{"match": {"kuma.io/service": "*"}}]});
        let started = Instant::now();
        put(format!("/meshes/{MESH}/traffic-permissions/change-{k}"), tp).await?;
        let mut times = arrivals(&mut received, clients, started, Duration::from_secs(30)).await;
        if times.len() < clients {
            bail!("change {k}: only {} of {clients} clients got it", times.len());
        }
        times.sort();
        p99s.push(quantile(&times, 0.99));
        all.extend(times);
    }
    all.sort();
    p99s.sort();
    for task in &tasks {
        task.abort();
    }
    cp.stop().await?;
    let p99 = quantile(&all, 0.99);
    Ok(vec![
        Figure::target(
            9,
            &format!(
                "TrafficPermission change ACKed by {} ADS clients, p99",
                thousands(clients as f64)
            ),
            format!("{:.1} ms", p99.as_secs_f64() * 1e3),
            "p99 ≤ 100 ms (Kuma: 1 s tick)",
            p99 <= Duration::from_millis(100),
        )
        .when(format!(
            "zone `kuma-cp` process (SQLite), {} delta ADS streams each on its own TLS \
             connection, {} changes one after the other; clock from the REST PUT to each \
             client's receipt of the new listeners (it ACKs at once); all samples: p50 {:.1} ms, \
             max {:.1} ms; worst per-change p99 {:.1} ms",
            thousands(clients as f64),
            changes,
            quantile(&all, 0.5).as_secs_f64() * 1e3,
            all.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            p99s.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        )),
        Figure::target(
            10,
            &format!(
                "memory per connected ADS proxy at the zone, {} proxies",
                thousands(clients as f64)
            ),
            format!("{per_proxy:.1} KiB"),
            "≤ 100 KiB (Kuma: about 1 MB)",
            per_proxy <= 100.0,
        )
        .when(format!(
            "zone RSS {} KiB with the Dataplanes registered, {} KiB once every stream got its \
             configuration (TLS connection, stream task, snapshot, insight); {} streams set up in \
             {:.1} s",
            thousands(before as f64),
            thousands(after as f64),
            thousands(clients as f64),
            setup.as_secs_f64()
        )),
    ])
}

/// Collects one arrival per client after `since`, until all `n` arrived or `limit` passed.
async fn arrivals(
    received: &mut mpsc::UnboundedReceiver<(usize, Instant)>,
    n: usize,
    since: Instant,
    limit: Duration,
) -> Vec<Duration> {
    let mut seen = vec![false; n];
    let mut out = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::from_std(since + limit);
    while out.len() < n {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some((i, at))) if at >= since && !seen[i] => {
                seen[i] = true;
                out.push(at - since);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    out
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).copied().unwrap_or_default()
}

/// One simulated Envoy: a delta ADS stream for CDS and LDS that ACKs everything and reports
/// each LDS response.
async fn stream(
    index: usize,
    name: String,
    token: String,
    settings: Arc<ChannelSettings>,
    events: mpsc::UnboundedSender<(usize, Instant)>,
) -> anyhow::Result<()> {
    let channel = kuma_core::net::connect(&settings).await?;
    let (tx, rx) = mpsc::channel(8);
    let node = Node { id: format!("{MESH}.{name}"), ..Default::default() };
    for type_url in [CDS, LDS] {
        let request = DeltaDiscoveryRequest {
            node: Some(node.clone()),
            type_url: type_url.to_owned(),
            ..Default::default()
        };
        tx.send(request).await?;
    }
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", token.parse()?);
    let mut responses = AggregatedDiscoveryServiceClient::new(channel)
        .delta_aggregated_resources(request)
        .await?
        .into_inner();
    while let Some(response) = responses.message().await? {
        let DeltaDiscoveryResponse { type_url, nonce, .. } = response;
        if type_url == LDS {
            let _ = events.send((index, Instant::now()));
        }
        let ack = DeltaDiscoveryRequest { type_url, response_nonce: nonce, ..Default::default() };
        tx.send(ack).await?;
    }
    Ok(())
}

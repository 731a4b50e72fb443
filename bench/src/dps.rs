//! Figures 5 and 7: thousands of simulated data plane proxies against a zone `kuma-cp` process.
//!
//! Each simulated proxy is what `kuma-dp` is on the wire: its own TCP connection and TLS session
//! to the DP server (verifying the CP certificate), one `kumars.dp.v1` Session stream carrying
//! its own dataplane token (RS256, signed with the mesh's key), a Hello that registers its
//! Dataplane, and a CSR from its own P-256 key whenever the control plane asks. It reconnects
//! with kuma-dp's backoff (500 ms doubling to 30 s, full jitter). Nothing of the zone is
//! simulated: it is the release binary, measured through `/proc/<pid>/status`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kuma_core::net::{Backoff, ChannelSettings};
use kuma_core::tokens::{self, DataplaneClaims, SigningKey};
use proto::kumars::dp::v1 as pb;
use proto::kumars::dp::v1::cp_message::Kind as CpKind;
use proto::kumars::dp::v1::dataplane_service_client::DataplaneServiceClient;
use proto::kumars::dp::v1::dp_message::Kind as DpKind;
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::{Value, json};
use shared::testing::cp::http_client;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::process::{self, Cp};
use crate::report::{Figure, thousands};

const MESH: &str = "default";
/// Open files for the bench and for the zone: one socket per proxy on each side, and headroom.
const NOFILE: u64 = 65_536;
/// How long the proxies may take to get their first certificates before the run gives up.
const SETUP_LIMIT: Duration = Duration::from_secs(600);
/// DP server limits that fit every simulated proxy behind the one loopback address.
const DP_LIMITS: [(&str, &str); 3] = [
    ("KUMA_DP_SERVER_RATE_LIMIT_PER_SECOND", "100000"),
    ("KUMA_DP_SERVER_RATE_LIMIT_BURST", "100000"),
    ("KUMA_DP_SERVER_RATE_LIMIT_MAX_CONNECTIONS", "100000"),
];
/// How long the storm is followed before the run reports what it has.
const STORM_LIMIT: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Simulated proxies.
    pub dps: usize,
    /// Proxies connecting at once during the setup.
    pub concurrency: usize,
    /// Restart the zone and time the reconnect storm (figure 7).
    pub storm: bool,
    /// Report memory per proxy (figure 5).
    pub memory: bool,
}

/// One simulated proxy's identity.
struct Dp {
    index: usize,
    name: String,
    token: String,
    csr: Vec<u8>,
    resource_json: String,
}

/// How to start the zone again: the same binary, environment and DP server port.
struct Restart<'a> {
    bin: &'a Path,
    env: &'a std::collections::HashMap<String, String>,
    nofile: Option<u64>,
    dp_port: u16,
}

/// A certificate arrived for proxy `.0` at `.1`.
type Event = (usize, Instant);

/// Runs the plan against a fresh zone process.
pub async fn run(bin: &Path, plan: Plan) -> anyhow::Result<Vec<Figure>> {
    let nofile = process::raise_nofile(NOFILE).await?.then_some(NOFILE);
    let home = tempfile::tempdir()?;
    // Every simulated proxy connects from 127.0.0.1, which the DP server's per-address defaults
    // (burst 1,000, 5,000 open) are not sized for: one address here stands for 10,000 hosts.
    let env = process::env(home.path(), &DP_LIMITS);
    let cp = process::spawn(bin, &env, nofile, "control plane ready").await?;
    let api = format!("http://127.0.0.1:{}", cp.ports.http.context("no HTTP API port logged")?);
    let dp_port = cp.ports.dp_server.context("no DP server port logged")?;
    let mesh = json!({"type": "Mesh", "name": MESH, "mtls": {"enabledBackend": "ca-1",
        "backends": [{"name": "ca-1", "type": "builtin"}]}});
    let resp = http_client().put(format!("{api}/meshes/{MESH}")).json(&mesh).send().await?;
    if !resp.status().is_success() {
        bail!("creating the mesh: {}", resp.status());
    }
    let key = signing_key(&api).await?;
    eprintln!("preparing {} proxies (keys, CSRs, tokens)", plan.dps);
    let dps = prepare(&key, plan.dps)?;
    let settings = Arc::new(ChannelSettings {
        address: format!("grpcs://127.0.0.1:{dp_port}"),
        root_ca: Some(home.path().join(".kuma").join("kuma-cp.crt")),
        skip_verify: false,
        identity: None,
        local_ip: None,
    });

    let before = cp.rss_kib()?;
    let (events, mut received) = mpsc::unbounded_channel::<Event>();
    let gate = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(dps.len());
    for dp in dps {
        let permit = gate.clone().acquire_owned().await?;
        let (settings, events) = (settings.clone(), events.clone());
        tasks.push(tokio::spawn(proxy(Arc::new(dp), settings, events, Some(permit))));
    }
    let mut held = vec![false; plan.dps];
    let connected =
        count_until(&mut received, &mut held, start, SETUP_LIMIT, &mut Vec::new()).await;
    if connected < plan.dps {
        bail!("only {connected} of {} proxies got a certificate within {SETUP_LIMIT:?}", plan.dps);
    }
    let setup = start.elapsed();
    let after = cp.rss_kib()?;
    let per_dp = (after.saturating_sub(before) as f64) * 1024.0 / plan.dps as f64;
    let mut figures = Vec::new();
    if plan.memory {
        figures.push(
            Figure::target(
                5,
                &format!("memory per connected DP at the zone, {} DPs", thousands(plan.dps as f64)),
                format!("{:.1} KiB", per_dp / 1024.0),
                "≤ 64 KiB",
                per_dp <= 64.0 * 1024.0,
            )
            .when(format!(
                "zone `kuma-cp` process (SQLite), RSS {} KiB before, {} KiB with every proxy \
                 connected over TLS and holding a certificate (each registered its Dataplane); \
                 {} proxies were set up {} at a time in {:.1} s",
                thousands(before as f64),
                thousands(after as f64),
                thousands(plan.dps as f64),
                plan.concurrency,
                setup.as_secs_f64()
            )),
        );
    }
    let cp = if plan.storm {
        storm(
            cp,
            Restart { bin, env: &env, nofile, dp_port },
            &mut received,
            &mut figures,
            plan.dps,
        )
        .await?
    } else {
        cp
    };
    for task in &tasks {
        task.abort();
    }
    cp.stop().await?;
    Ok(figures)
}

/// Figure 7: SIGTERM the zone, start it again on the same port and work dir, and time until
/// every proxy holds a certificate issued by the new process.
async fn storm(
    old: Cp,
    restart: Restart<'_>,
    received: &mut mpsc::UnboundedReceiver<Event>,
    figures: &mut Vec<Figure>,
    n: usize,
) -> anyhow::Result<Cp> {
    let stopping = Instant::now();
    old.stop().await?;
    let stopped = stopping.elapsed();
    // Whatever arrived before the restart does not count.
    while received.try_recv().is_ok() {}
    let mut env = restart.env.clone();
    env.insert("KUMA_DP_SERVER_PORT".to_owned(), restart.dp_port.to_string());
    let cp = process::spawn(restart.bin, &env, restart.nofile, "control plane ready").await?;
    let start = cp.spawned;
    let ready = start.elapsed();
    let mut held = vec![false; n];
    let mut arrivals = Vec::with_capacity(n);
    let ten = Duration::from_secs(10);
    let within = count_until(received, &mut held, start, ten, &mut arrivals).await;
    let mut all = None;
    if within == n {
        all = Some(start.elapsed());
    } else {
        let rest = count_until(received, &mut held, start, STORM_LIMIT, &mut arrivals).await;
        if within + rest == n {
            all = Some(start.elapsed());
        }
    }
    arrivals.sort();
    let at = |q: f64| {
        let i = ((arrivals.len() as f64 * q).ceil() as usize).clamp(1, arrivals.len().max(1)) - 1;
        arrivals.get(i).map_or(f64::NAN, Duration::as_secs_f64)
    };
    let peak = cp.peak_kib()?;
    let rss = cp.rss_kib()?;
    let measured = match all {
        Some(t) => format!("{:.2} s", t.as_secs_f64()),
        None => format!("> {} s", STORM_LIMIT.as_secs()),
    };
    let pass = all.is_some_and(|t| t <= Duration::from_secs(10));
    figures.push(
        Figure::target(
            7,
            &format!("reconnect storm of {} DPs after a zone restart", thousands(n as f64)),
            measured,
            "all fresh certs ≤ 10 s",
            pass,
        )
        .when(format!(
            "SIGTERM, then the same binary, work dir and DP port; clock from spawning the new \
             process until the last proxy received a certificate from it; the old process took \
             {:.2} s to stop, the new one was ready after {:.2} s; {} of {} within 10 s; \
             certificates at p50 {:.2} s, p90 {:.2} s, p99 {:.2} s; the new process peaked at {} \
             KiB RSS ({} KiB at the end)",
            stopped.as_secs_f64(),
            ready.as_secs_f64(),
            thousands(within as f64),
            thousands(n as f64),
            at(0.5),
            at(0.9),
            at(0.99),
            thousands(peak as f64),
            thousands(rss as f64)
        )),
    );
    figures.push(Figure::info(
        7,
        "  peak RSS of the restarted zone during the storm",
        format!("{} MiB", thousands(peak as f64 / 1024.0)),
    ));
    Ok(cp)
}

/// Counts proxies receiving a certificate (each once, after `since`) until all have, or
/// `limit` after `since` has passed. Returns how many newly got one; `arrivals` gets how long
/// after `since` each did.
async fn count_until(
    received: &mut mpsc::UnboundedReceiver<Event>,
    held: &mut [bool],
    since: Instant,
    limit: Duration,
    arrivals: &mut Vec<Duration>,
) -> usize {
    let mut count = 0;
    let missing = held.iter().filter(|h| !**h).count();
    let deadline = tokio::time::Instant::from_std(since + limit);
    while count < missing {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some((index, at))) if at >= since && !held[index] => {
                held[index] = true;
                arrivals.push(at - since);
                count += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    count
}

/// The mesh's dataplane token signing key, read from the zone's API as its local admin.
pub(crate) async fn signing_key(api: &str) -> anyhow::Result<SigningKey> {
    let name = tokens::KeyKind::Dataplane { mesh: MESH.to_owned() }.name(1);
    let url = format!("{api}/meshes/{MESH}/secrets/{name}");
    let secret: Value = http_client().get(&url).send().await?.error_for_status()?.json().await?;
    let data = secret["data"].as_str().context("the signing key secret has no data")?;
    Ok(SigningKey::from_pem(&STANDARD.decode(data)?)?)
}

/// Keys, CSRs, tokens and Dataplanes for `n` proxies, on every core.
fn prepare(key: &SigningKey, n: usize) -> anyhow::Result<Vec<Dp>> {
    let now = OffsetDateTime::now_utc();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = n.div_ceil(threads).max(1);
    let indexes: Vec<usize> = (0..n).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = indexes
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|i| one(key, *i, now)).collect()))
            .collect();
        let mut all = Vec::with_capacity(n);
        for handle in handles {
            let part: anyhow::Result<Vec<Dp>> =
                handle.join().map_err(|_| anyhow::anyhow!("a preparing thread panicked"))?;
            all.extend(part?);
        }
        Ok(all)
    })
}

fn one(key: &SigningKey, index: usize, now: OffsetDateTime) -> anyhow::Result<Dp> {
    let name = format!("dp-{index}");
    let service = format!("svc-{}", index % 100);
    let claims =
        DataplaneClaims { name: name.clone(), mesh: MESH.to_owned(), ..Default::default() };
    let valid_for = Duration::from_secs(24 * 3600);
    let token = tokens::Issuer.issue(&claims, key, "1", valid_for, now)?.token;
    let dp_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let csr = CertificateParams::default().serialize_request(&dp_key)?.der().to_vec();
    let resource_json = json!({"type": "Dataplane", "mesh": MESH, "name": name,
        "networking": {"address": "127.0.0.1",
            "inbound": [{"port": 8080, "tags": {"kuma.io/service": service}}]}})
    .to_string();
    Ok(Dp { index, name, token, csr, resource_json })
}

/// One proxy, forever: a session, then kuma-dp's backoff, then another session. The setup
/// permit is released at the first certificate.
async fn proxy(
    dp: Arc<Dp>,
    settings: Arc<ChannelSettings>,
    events: mpsc::UnboundedSender<Event>,
    mut permit: Option<OwnedSemaphorePermit>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        // Why a session ended does not matter to the bench: only certificates are counted.
        let _ = session(&dp, &settings, &events, &mut permit, &mut backoff).await;
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

async fn session(
    dp: &Dp,
    settings: &ChannelSettings,
    events: &mpsc::UnboundedSender<Event>,
    permit: &mut Option<OwnedSemaphorePermit>,
    backoff: &mut Backoff,
) -> anyhow::Result<()> {
    let channel = kuma_core::net::connect(settings).await?;
    let (tx, rx) = mpsc::channel(4);
    let hello = pb::Hello {
        mesh: MESH.to_owned(),
        name: dp.name.clone(),
        proxy_type: pb::ProxyType::Dataplane.into(),
        resource_json: dp.resource_json.clone(),
        version: "bench".to_owned(),
    };
    tx.send(pb::DpMessage { kind: Some(DpKind::Hello(hello)) }).await?;
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {}", dp.token).parse()?);
    let mut inbound = DataplaneServiceClient::new(channel).session(request).await?.into_inner();
    while let Some(message) = inbound.message().await? {
        match message.kind {
            Some(CpKind::Rotate(_)) => {
                let csr = pb::CertificateRequest { csr_der: dp.csr.clone() };
                tx.send(pb::DpMessage { kind: Some(DpKind::Csr(csr)) }).await?;
            }
            Some(CpKind::Identity(_)) => {
                backoff.reset();
                permit.take();
                let _ = events.send((dp.index, Instant::now()));
            }
            Some(CpKind::MtlsDisabled(_)) => bail!("the mesh has mTLS disabled"),
            Some(CpKind::ZoneProxyAccepted(_)) => bail!("accepted as a zone ingress"),
            None => {}
        }
    }
    Ok(())
}

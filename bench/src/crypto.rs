//! Figures 1 and 2: how close certificate issuance and token validation come to the raw
//! signature operations they are built on, on one core, measured back to back.
//!
//! Issuance goes through `kuma_core::ca::Issuer` (what the DP server calls for every CSR) and
//! validation through `shared::credentials::Credentials::validator` plus
//! `kuma_core::tokens::authorize_dataplane` (what the DP server calls for every stream). The raw
//! operations use aws-lc-rs directly on the very same keys.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kuma_core::ca::{self, BuiltinConf, DEFAULT_DP_CERT_VALIDITY, Issuer};
use kuma_core::identity::Subject;
use kuma_core::resources::{CaBackend, DataplaneSpec, MeshSpec, ResourceType, Spec};
use kuma_core::tokens::{DataplaneClaims, DataplaneIdentity, KeyKind, authorize_dataplane};
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use secrecy::ExposeSecret;
use serde_json::json;
use shared::audit::AuditLog;
use shared::credentials::{Credentials, Settings, TokenKind};
use store::{Key, Store};
use time::OffsetDateTime;

use crate::report::{Figure, Raw, thousands};

const MESH: &str = "default";
const DP: &str = "web-1";

/// Runs `op` for about `time` after a short warm-up and returns operations per second.
fn rate(time: Duration, mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let warm = Instant::now();
    while warm.elapsed() < time / 10 {
        op()?;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        op()?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// The Dataplane every figure signs for: one inbound tagged `kuma.io/service: web`.
pub fn dataplane_spec(address: &str, service: &str) -> anyhow::Result<DataplaneSpec> {
    let value = json!({"networking": {"address": address,
        "inbound": [{"port": 8080, "tags": {"kuma.io/service": service}}]}});
    match Spec::from_value(ResourceType::Dataplane, value) {
        Ok(Spec::Dataplane(spec)) => Ok(spec),
        _ => bail!("the benchmark's Dataplane spec does not validate"),
    }
}

/// Figure 1: DP certificates from CSRs per second on one core, against raw ECDSA P-256 signing
/// with the CA's key. The CSR signature check (proof of possession) is an ECDSA verify, also
/// measured raw, since it is part of every issuance. Also measured: the DP server's own path,
/// which takes the CA from `Credentials::issuer` for every CSR.
pub async fn issuance(time: Duration) -> anyhow::Result<Vec<Figure>> {
    let now = OffsetDateTime::now_utc();
    let root = ca::generate_builtin_root(MESH, &BuiltinConf::default(), now)?;
    let (cert_pem, key_pem) = (root.cert_pem.as_bytes(), root.key_pem.expose_secret().as_bytes());
    let issuer = Issuer::new(cert_pem, key_pem)?;
    let (credentials, backend) = mesh_with_builtin_ca(now).await?;
    let dp_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let csr = CertificateParams::default().serialize_request(&dp_key)?.der().to_vec();
    let spec = dataplane_spec("127.0.0.1", "web")?;
    let labels = BTreeMap::new();
    let subject = Subject { mesh: MESH, name: DP, spec: &spec, labels: &labels };

    let issue = || -> anyhow::Result<()> {
        let id = subject.mtls()?;
        issuer.issue(&csr, &id, DEFAULT_DP_CERT_VALIDITY, now)?;
        Ok(())
    };
    let issue_with_load = || -> anyhow::Result<()> {
        let issuer = Issuer::new(cert_pem, key_pem)?;
        let id = subject.mtls()?;
        issuer.issue(&csr, &id, DEFAULT_DP_CERT_VALIDITY, now)?;
        Ok(())
    };
    // The issuer lookup is async (it may read the store); time the whole loop inside it.
    let dp_server_path = async {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < time {
            let issuer = credentials.issuer(MESH, &backend).await?;
            let id = subject.mtls()?;
            issuer.issue(&csr, &id, DEFAULT_DP_CERT_VALIDITY, now)?;
            n += 1;
        }
        anyhow::Ok(n as f64 / start.elapsed().as_secs_f64())
    };

    let ca_key = pem::parse(key_pem).context("reading the CA key")?;
    let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, ca_key.contents())
        .map_err(|e| anyhow::anyhow!("loading the CA key into aws-lc-rs: {e}"))?;
    let rng = SystemRandom::new();
    // About the size of a leaf's to-be-signed part.
    let message = vec![0x5a_u8; 400];
    let signature = signer
        .sign(&rng, &message)
        .map_err(|e| anyhow::anyhow!("raw ECDSA signing failed: {e}"))?;
    let verifier = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, signer.public_key().as_ref());

    let raw_sign = rate(time, || {
        signer.sign(&rng, &message).map_err(|e| anyhow::anyhow!("raw ECDSA signing: {e}"))?;
        Ok(())
    })?;
    let raw_verify = rate(time, || {
        verifier
            .verify(&message, signature.as_ref())
            .map_err(|e| anyhow::anyhow!("raw ECDSA verify: {e}"))
    })?;
    let issued = rate(time, issue)?;
    let issued_with_load = rate(time, issue_with_load)?;
    let issued_dp_server = dp_server_path.await?;
    // Signing and verifying run back to back in an issuance, so this is the most it can reach.
    let bound = 1.0 / (1.0 / raw_sign + 1.0 / raw_verify);

    let ratio = issued / raw_sign;
    let mut main = Figure::target(
        1,
        "DP certificate issuance from a CSR, 1 core",
        format!("{}/s", thousands(issued)),
        "≥ 50 % of raw ECDSA P-256 sign",
        ratio >= 0.5,
    )
    .when(
        "`kuma_core::ca::Issuer::issue` with `identity::Subject::mtls`, CA loaded once, P-256 CA and CSR, \
         single thread",
    );
    main.raw = Some(Raw { op: "ECDSA P-256 sign".to_owned(), per_sec: raw_sign, ratio });
    let mut verify = Figure::info(
        1,
        "  raw ECDSA P-256 verify (the CSR's proof of possession)",
        format!("{}/s", thousands(raw_verify)),
    );
    verify.raw = Some(Raw {
        op: "ECDSA P-256 sign".to_owned(),
        per_sec: raw_sign,
        ratio: raw_verify / raw_sign,
    });
    let mut ceiling = Figure::info(
        1,
        "  ceiling: one sign + one verify back to back",
        format!("{}/s", thousands(bound)),
    );
    ceiling.raw =
        Some(Raw { op: "ECDSA P-256 sign".to_owned(), per_sec: raw_sign, ratio: bound / raw_sign });
    let mut dp_server = Figure::info(
        1,
        "  DP server path: CA from `Credentials::issuer` (cached) per CSR",
        format!("{}/s", thousands(issued_dp_server)),
    );
    dp_server.raw = Some(Raw {
        op: "ECDSA P-256 sign".to_owned(),
        per_sec: raw_sign,
        ratio: issued_dp_server / raw_sign,
    });
    let mut with_load = Figure::info(
        1,
        "  issuance with the CA parsed per CSR (no cache)",
        format!("{}/s", thousands(issued_with_load)),
    );
    with_load.raw = Some(Raw {
        op: "ECDSA P-256 sign".to_owned(),
        per_sec: raw_sign,
        ratio: issued_with_load / raw_sign,
    });
    Ok(vec![main, verify, ceiling, dp_server, with_load])
}

/// A store holding mesh `default` with the builtin CA backend `ca-1`, as the DP server sees it.
async fn mesh_with_builtin_ca(now: OffsetDateTime) -> anyhow::Result<(Credentials, CaBackend)> {
    let store = Store::memory();
    let credentials = Credentials::new(store.clone(), Settings::default(), AuditLog::memory());
    let mesh = json!({"mtls": {"enabledBackend": "ca-1",
        "backends": [{"name": "ca-1", "type": "builtin"}]}});
    let Ok(Spec::Mesh(spec)) = Spec::from_value(ResourceType::Mesh, mesh) else {
        bail!("the benchmark's Mesh spec does not validate");
    };
    credentials.ensure_mesh(MESH, &spec, now).await?;
    let backend = spec.mtls.and_then(|m| m.backends.into_iter().next());
    Ok((credentials, backend.context("the mesh has no backend")?))
}

/// Figure 2: dataplane tokens validated per second on one core (cached validator from the
/// store's keys, signature, claims, revocation list, then the claims against the Dataplane),
/// against raw RS256 verification of the same token with the same key.
pub async fn validation(time: Duration) -> anyhow::Result<Vec<Figure>> {
    let now = OffsetDateTime::now_utc();
    let store = Store::memory();
    let credentials = Credentials::new(store.clone(), Settings::default(), AuditLog::memory());
    credentials.ensure_mesh(MESH, &MeshSpec::default(), now).await?;
    let claims =
        DataplaneClaims { name: DP.to_owned(), mesh: MESH.to_owned(), ..Default::default() };
    let kind = KeyKind::Dataplane { mesh: MESH.to_owned() };
    let valid_for = Duration::from_secs(3600);
    let token = credentials.issue(&kind, &claims, valid_for, "bench", DP, now).await?.token;
    let identity = DataplaneIdentity {
        name: DP.to_owned(),
        mesh: MESH.to_owned(),
        tags: BTreeMap::from([("kuma.io/service".to_owned(), ["web".to_owned()].into())]),
        workload: None,
        workload_derives_identity: false,
    };

    let secret = store.get(&Key::mesh_scoped("Secret", MESH, &kind.name(1))).await?;
    let Ok(Spec::Secret(secret)) = Spec::from_value(ResourceType::Secret, secret.spec) else {
        bail!("the signing key secret does not parse");
    };
    let key_pem = secret.bytes().context("the signing key secret has no data")?;
    let key_der = pem::parse(&key_pem).context("reading the signing key")?;
    let rsa = RsaKeyPair::from_der(key_der.contents())
        .map_err(|e| anyhow::anyhow!("loading the signing key into aws-lc-rs: {e}"))?;
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa.public_key().as_ref());
    let (message, signature) = token.rsplit_once('.').context("the token has no signature")?;
    let signature = URL_SAFE_NO_PAD.decode(signature)?;

    let raw = rate(time, || {
        public
            .verify(message.as_bytes(), &signature)
            .map_err(|e| anyhow::anyhow!("raw RS256 verify: {e}"))
    })?;
    // The validator lookup is async (it may read the store); time the whole loop inside it.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        let validator =
            credentials.validator(TokenKind::Dataplane { mesh: MESH.to_owned() }).await?;
        let valid = validator.validate::<DataplaneClaims>(&token, now)?;
        authorize_dataplane(&valid.claims, &identity)?;
        n += 1;
    }
    let validated = n as f64 / start.elapsed().as_secs_f64();
    let ratio = validated / raw;
    let mut figure = Figure::target(
        2,
        "DP token validation, 1 core",
        format!("{}/s", thousands(validated)),
        "≥ 70 % of raw RS256 verify",
        ratio >= 0.7,
    )
    .when(
        "`Credentials::validator` (cached) + `Validator::validate` + `authorize_dataplane`, \
         RSA-2048 key from the mesh's Secret, single thread",
    );
    figure.raw = Some(Raw { op: "RS256 verify (RSA-2048)".to_owned(), per_sec: raw, ratio });
    Ok(vec![figure])
}

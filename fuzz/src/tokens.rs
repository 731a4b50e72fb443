//! Token targets. `tokens` feeds raw bytes to what reads a token or key material from a request
//! or a synced secret: the three validators (and the claim checks after them), public key
//! parsing, revocation lists and the token request bodies. A random token never carries a valid
//! signature, so `token_claims` signs its input as the payload of a real RS256 token (or issues a
//! token from it as a request body) to reach the claim decoding behind the signature check.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, EncodingKey};
use kuma_core::tokens::{
    DataplaneClaims, DataplaneIdentity, DataplaneTokenRequest, Issuer, KeyKind, KeySet, PublicKey,
    SigningKey, UserClaims, UserTokenRequest, Validator, ZoneClaims, ZoneTokenRequest,
    authorize_dataplane, authorize_zone_cp, authorize_zone_proxy, parse_revocations,
};
use time::OffsetDateTime;
use time::macros::datetime;

const KID: &str = "1";
const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

struct Fixture {
    key: SigningKey,
    encoding: EncodingKey,
    dataplane: Validator,
    zone: Validator,
    user: Validator,
    identity: DataplaneIdentity,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = SigningKey::generate().expect("generating an RSA key");
        let encoding =
            EncodingKey::from_rsa_pem(key.to_pem().as_bytes()).expect("reading the RSA key");
        let validator = |kind: KeyKind| {
            let mut keys = KeySet::signing_keys(&kind);
            keys.insert(1, key.public_key().clone());
            Validator::new(kind, keys, HashSet::from(["revoked".to_owned()]))
        };
        let identity = DataplaneIdentity {
            name: "web-1".into(),
            mesh: "default".into(),
            tags: BTreeMap::from([(
                "kuma.io/service".to_owned(),
                BTreeSet::from(["web".to_owned()]),
            )]),
            workload: Some("web".into()),
            workload_derives_identity: false,
        };
        Fixture {
            dataplane: validator(KeyKind::Dataplane { mesh: "default".into() }),
            zone: validator(KeyKind::Zone),
            user: validator(KeyKind::User),
            key,
            encoding,
            identity,
        }
    })
}

/// Raw bytes as a token, key material, a revocation list and token request bodies.
pub fn run(data: &[u8]) {
    if let Ok(token) = std::str::from_utf8(data) {
        validate_all(token);
    }
    let _ = PublicKey::from_key_material(data);
    let _ = parse_revocations(data);
    if let Ok(request) = serde_json::from_slice::<DataplaneTokenRequest>(data) {
        let _ = request.validate();
    }
    if let Ok(request) = serde_json::from_slice::<ZoneTokenRequest>(data) {
        let _ = request.validate();
    }
    if let Ok(request) = serde_json::from_slice::<UserTokenRequest>(data) {
        let _ = request.validate();
    }
}

/// The first byte picks what the rest is: a token payload to sign, or a token request body to
/// issue a token from. Either way the token then goes through every validator.
pub fn run_claims(data: &[u8]) {
    if let Some(token) = token_from(data) {
        validate_all(&token);
    }
}

fn token_from(data: &[u8]) -> Option<String> {
    let (&mode, rest) = data.split_first()?;
    match mode % 4 {
        0 => signed(rest),
        1 => issue_from::<DataplaneTokenRequest, _>(rest, |r| r.validate()),
        2 => issue_from::<ZoneTokenRequest, _>(rest, |r| r.validate()),
        _ => issue_from::<UserTokenRequest, _>(rest, |r| r.validate()),
    }
}

fn validate_all(token: &str) {
    let f = fixture();
    if let Ok(valid) = f.dataplane.validate::<DataplaneClaims>(token, NOW) {
        let _ = authorize_dataplane(&valid.claims, &f.identity);
    }
    if let Ok(valid) = f.zone.validate::<ZoneClaims>(token, NOW) {
        let _ = authorize_zone_proxy(&valid.claims, "ingress", "zone-1");
        let _ = authorize_zone_cp(&valid.claims, "zone-1");
    }
    let _ = f.user.validate::<UserClaims>(token, NOW);
}

/// `payload` as the claims of an RS256 token signed with the validators' key.
fn signed(payload: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"RS256","kid":"1","typ":"JWT"}"#);
    let message = format!("{header}.{}", b64.encode(payload));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &fixture().encoding, Algorithm::RS256)
            .expect("RS256 signing");
    Some(format!("{message}.{signature}"))
}

/// Issues a token from a request body, as `POST /tokens/...` does once the caller may.
fn issue_from<R, C>(
    body: &[u8],
    validate: impl Fn(&R) -> Result<(C, std::time::Duration), kuma_core::resources::ValidationError>,
) -> Option<String>
where
    R: serde::de::DeserializeOwned,
    C: serde::Serialize,
{
    let request: R = serde_json::from_slice(body).ok()?;
    let (claims, valid_for) = validate(&request).ok()?;
    let issued = Issuer.issue(&claims, &fixture().key, KID, valid_for, NOW).ok()?;
    Some(issued.token)
}

/// Tokens of every kind, request bodies and key material.
pub fn seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut seeds: Vec<Vec<u8>> =
        claim_seeds().iter().filter_map(|s| token_from(s)).map(String::into_bytes).collect();
    seeds.extend(claim_seeds().into_iter().map(|s| s[1..].to_vec()));
    seeds.push(f.key.public_key_pem().into_bytes());
    seeds.push(f.key.to_pem().into_bytes());
    seeds.push(b"a,b,,revoked\n".to_vec());
    seeds.push(b"eyJhbGciOiJub25lIiwia2lkIjoxfQ.e30.".to_vec());
    seeds
}

/// Payloads (mode 0) and request bodies (modes 1 to 3) for `token_claims`.
pub fn claim_seeds() -> Vec<Vec<u8>> {
    let with_mode = |mode: u8, body: &str| [&[mode][..], body.as_bytes()].concat();
    vec![
        with_mode(
            0,
            r#"{"Name":"web-1","Mesh":"default","Tags":{"kuma.io/service":["web"]},"Type":"",
               "Workload":"web","exp":1800000000,"nbf":1700000000,"iat":1700000000,"jti":"a"}"#,
        ),
        with_mode(0, r#"{"Zone":"zone-1","Scope":["cp","ingress"],"exp":1.8e9,"jti":"revoked"}"#),
        with_mode(0, r#"{"Name":"admin","Groups":["mesh-system:admin"],"nbf":1.9e9}"#),
        with_mode(0, r#"{"name":null,"tags":null,"exp":1000}"#),
        with_mode(
            1,
            r#"{"name":"web-1","mesh":"default","tags":{"kuma.io/service":["web"]},
                        "type":"dataplane","workload":"web","validFor":"24h"}"#,
        ),
        with_mode(2, r#"{"zone":"zone-1","scope":["cp"],"validFor":"1h30m"}"#),
        with_mode(3, r#"{"name":"john","groups":["users"],"validFor":"87600h"}"#),
    ]
}

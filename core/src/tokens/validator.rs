//! Checks a token the way Kuma's `pkg/core/tokens/validator.go` does, but RS256 only: size,
//! header, `kid`, `alg`, the key the `kid` names, the signature, `exp`/`nbf` against the caller's
//! `now` with a 30 s leeway, then the revocation list.
//!
//! The header is parsed here rather than by `jsonwebtoken`, so that a missing or numeric `kid` and
//! an algorithm `jsonwebtoken` does not know (`none`) get Kuma's own errors; `jsonwebtoken` only
//! checks the signature. Claims are deserialized after the signature holds, never before.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use super::claims::Registered;
use super::keys::{ZONE_PUBLIC_KEY_PREFIX, parse_decimal, parse_serial_after};
use super::{Error, KeyKind, PublicKey};

/// Tokens longer than this are rejected unparsed. Kuma's own tokens are well under 2 KiB; a
/// dataplane token with many tags stays far below this too.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY: time::Duration = time::Duration::seconds(30);
const RS256: &str = "RS256";

/// A public key from the CP config (`…validator.publicKeys: [{kid, mesh, key}]`), for tokens
/// signed offline with `kumactl generate … --signing-key-path --kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticKey {
    /// The `kid` tokens signed with the matching private key carry; compared as a string.
    pub kid: String,
    /// For dataplane tokens: the mesh this key applies to; `None` applies to every mesh.
    pub mesh: Option<String>,
    /// The key.
    pub key: PublicKey,
}

/// The keys a [`Validator`] may verify with: static keys from config, checked first, then the
/// keys read from secrets, by serial.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// The secret name prefix the serials belong to; also names a missing key in errors.
    prefix: String,
    statics: Vec<StaticKey>,
    secrets: HashMap<u64, PublicKey>,
}

/// The validator for one kind of token, over a snapshot of keys and revoked ids.
#[derive(Debug, Clone)]
pub struct Validator {
    kind: KeyKind,
    keys: KeySet,
    revoked: HashSet<String>,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated<C> {
    /// The token's own claims.
    pub claims: C,
    /// The `kid` it was verified with.
    pub kid: String,
    /// Its `jti`; empty when the token has none (only possible for externally issued tokens).
    pub jti: String,
    /// `iat`, if present.
    pub issued_at: Option<OffsetDateTime>,
    /// `nbf`, if present.
    pub not_before: Option<OffsetDateTime>,
    /// `exp`, if present. golang-jwt does not require it, so neither do we.
    pub expires: Option<OffsetDateTime>,
}

impl KeySet {
    /// An empty set for the signing keys of `kind` (`<prefix>-<serial>` secrets).
    pub fn signing_keys(kind: &KeyKind) -> Self {
        Self::with_prefix(kind.prefix())
    }

    /// An empty set for the zone token public keys a federated zone receives from the global
    /// (`zone-token-signing-public-key-<serial>` GlobalSecrets).
    pub fn zone_public_keys() -> Self {
        Self::with_prefix(ZONE_PUBLIC_KEY_PREFIX.to_owned())
    }

    fn with_prefix(prefix: String) -> Self {
        Self { prefix, statics: Vec::new(), secrets: HashMap::new() }
    }

    /// Adds the key from a secret named `name` whose data is a public or private key. Returns
    /// `Ok(false)` and adds nothing when the name is not one of this set's keys.
    pub fn insert_secret(&mut self, name: &str, data: &[u8]) -> Result<bool, Error> {
        let Some(serial) = parse_serial_after(&self.prefix, name) else {
            return Ok(false);
        };
        self.insert(serial, PublicKey::from_key_material(data)?);
        Ok(true)
    }

    /// Adds the key with this serial (`kid`).
    pub fn insert(&mut self, serial: u64, key: PublicKey) {
        self.secrets.insert(serial, key);
    }

    /// Adds a key from config; these are tried before the secrets.
    pub fn insert_static(&mut self, key: StaticKey) {
        self.statics.push(key);
    }

    /// Whether the set holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.statics.is_empty() && self.secrets.is_empty()
    }

    fn find(&self, kid: &str, mesh: Option<&str>) -> Option<&PublicKey> {
        let static_key = self.statics.iter().find(|k| {
            k.kid == kid && (k.mesh.is_none() || mesh.is_none() || k.mesh.as_deref() == mesh)
        });
        if let Some(found) = static_key {
            return Some(&found.key);
        }
        // Kuma reads the kid with strconv.Atoi, so `01` finds serial 1.
        self.secrets.get(&parse_decimal(kid)?)
    }

    fn missing_key_name(&self, kid: &str) -> String {
        if kid == "0" { self.prefix.clone() } else { format!("{}-{kid}", self.prefix) }
    }
}

impl Validator {
    /// A validator for tokens of `kind`, with the keys and revoked `jti`s known right now.
    pub fn new(kind: KeyKind, keys: KeySet, revoked: HashSet<String>) -> Self {
        Self { kind, keys, revoked }
    }

    /// Checks `token` at time `now` and returns its claims.
    pub fn validate<C: DeserializeOwned>(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Validated<C>, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::TooLarge { len: token.len() });
        }
        let segments: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = segments[..] else {
            return Err(malformed("token contains an invalid number of segments"));
        };
        let header: serde_json::Map<String, Value> = decode_segment(header, "header")?;
        let Some(alg) = header.get("alg").and_then(Value::as_str) else {
            return Err(malformed("signing method (alg) is unspecified"));
        };
        let kid = match header.get("kid") {
            None | Some(Value::Null) => return Err(Error::MissingKid),
            Some(Value::String(kid)) => kid.clone(),
            Some(_) => return Err(Error::KidNotString),
        };
        if alg != RS256 {
            return Err(Error::UnsupportedAlg { alg: alg.to_owned() });
        }
        let mesh = self.kind.mesh();
        let key = self.keys.find(&kid, mesh).ok_or_else(|| Error::UnknownKid {
            key_name: self.keys.missing_key_name(&kid),
            mesh: mesh.map(str::to_owned),
            kid: kid.clone(),
        })?;

        let message = &token[..token.len() - signature.len() - 1];
        match jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            key.decoding(),
            Algorithm::RS256,
        ) {
            Ok(true) => {}
            Ok(false) => return Err(Error::BadSignature),
            Err(e) => return Err(malformed(format!("could not base64 decode signature: {e}"))),
        }

        let registered: Registered = decode_segment(payload, "claim")?;
        let claims: C = decode_segment(payload, "claim")?;
        let expires = registered.exp.map(timestamp).transpose()?;
        let not_before = registered.nbf.map(timestamp).transpose()?;
        let issued_at = registered.iat.map(timestamp).transpose()?;
        // Saturating: a signed `exp` may sit at the last representable second (year 9999).
        if let Some(exp) = expires
            && now > exp.saturating_add(LEEWAY)
        {
            return Err(Error::Expired { ago: (now - exp).unsigned_abs() });
        }
        if let Some(nbf) = not_before
            && now.saturating_add(LEEWAY) < nbf
        {
            return Err(Error::NotYetValid);
        }
        let jti = registered.jti.unwrap_or_default();
        if self.revoked.contains(&jti) {
            return Err(Error::Revoked { jti });
        }
        Ok(Validated { claims, kid, jti, issued_at, not_before, expires })
    }
}

/// Parses a revocation secret's data: comma-separated `jti`s with one trailing newline trimmed,
/// blanks ignored (Kuma's `pkg/core/tokens/revocations.go`).
pub fn parse_revocations(data: &[u8]) -> HashSet<String> {
    let text = String::from_utf8_lossy(data);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    text.split(',').filter(|id| !id.is_empty()).map(str::to_owned).collect()
}

fn decode_segment<T: DeserializeOwned>(segment: &str, what: &str) -> Result<T, Error> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| malformed(format!("could not base64 decode {what}: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| malformed(format!("could not JSON decode {what}: {e}")))
}

fn timestamp(seconds: f64) -> Result<OffsetDateTime, Error> {
    // `as` saturates; anything out of range is then rejected by `from_unix_timestamp`.
    OffsetDateTime::from_unix_timestamp(seconds.floor() as i64)
        .map_err(|_| malformed(format!("timestamp {seconds} is out of range")))
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed { reason: reason.into() }
}

#[cfg(test)]
mod tests;

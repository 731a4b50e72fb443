//! Signs claims into RS256 JWTs the way Kuma's `pkg/core/tokens/issuer.go` does: header
//! `{alg: RS256, typ: JWT, kid: <serial>}`, a fresh UUID v4 `jti`, `iat` = `nbf` = now − 5 s and
//! `exp` = now + validFor.
//!
//! It does not choose the key: the caller passes the one [`super::latest_signing_key`] picked, so
//! the issuer stays free of any storage.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::claims::Payload;
use super::{Error, SigningKey};

/// How far `iat` and `nbf` are backdated, to absorb small clock differences (Kuma's value).
const BACKDATE: time::Duration = time::Duration::seconds(5);

/// Issues tokens. It holds no state: keys and the clock come with each call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Issuer;

/// A freshly signed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The compact JWT.
    pub token: String,
    /// Its `jti`, the id a revocation list names.
    pub jti: String,
    /// Its `nbf` (and `iat`).
    pub not_before: OffsetDateTime,
    /// Its `exp`.
    pub expires: OffsetDateTime,
}

impl Issuer {
    /// Signs `claims` with `key`, naming it `kid` (the key's serial as a decimal string), valid
    /// from `now` − 5 s until `now` + `valid_for`.
    pub fn issue<C: Serialize>(
        &self,
        claims: &C,
        key: &SigningKey,
        kid: &str,
        valid_for: Duration,
        now: OffsetDateTime,
    ) -> Result<Issued, Error> {
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let not_before = now - BACKDATE;
        let expires = time::Duration::try_from(valid_for)
            .ok()
            .and_then(|d| now.checked_add(d))
            .ok_or(Error::InvalidValidity { valid_for })?;
        let jti = Uuid::new_v4().to_string();
        let payload = Payload {
            claims,
            exp: expires.unix_timestamp(),
            nbf: not_before.unix_timestamp(),
            iat: not_before.unix_timestamp(),
            jti: &jti,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let token = jsonwebtoken::encode(&header, &payload, key.encoding()).map_err(Error::Sign)?;
        Ok(Issued { token, jti, not_before, expires })
    }
}

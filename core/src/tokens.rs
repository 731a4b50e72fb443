//! JWTs for dataplanes, zones and users, as Kuma issues and checks them: RS256 signing keys and
//! their secret names, claims, the [`Issuer`], the [`Validator`], the claim checks that bind a
//! token to a dataplane or zone, and the REST request bodies that ask for a token.
//!
//! This module knows nothing of the store, the API or KDS: signing keys, public keys and
//! revocation lists come in as values, and every check takes `now` so that callers (and tests)
//! decide the clock. Wiring it to Secrets/GlobalSecrets and to the servers is the caller's job.
//!
//! One deliberate difference from Kuma: only RS256 is accepted. Kuma also verifies legacy HS256
//! tokens with the secret of "kid 0" (pre-1.4 keys); we reject them like any other algorithm.

use std::time::Duration;

mod authorize;
mod claims;
mod duration;
mod issuer;
mod keys;
mod request;
mod validator;

pub use authorize::{
    AuthError, DataplaneIdentity, authorize_dataplane, authorize_zone_cp, authorize_zone_proxy,
};
pub use claims::{DataplaneClaims, UserClaims, ZoneClaims};
pub use duration::{DurationError, parse_go_duration};
pub use issuer::{Issued, Issuer};
pub use keys::{
    KeyKind, PublicKey, SigningKey, ZONE_PUBLIC_KEY_PREFIX, latest_signing_key,
    parse_zone_public_key_serial, zone_public_key_name,
};
pub use request::{
    DEFAULT_VALID_FOR, DataplaneTokenRequest, UserTokenRequest, ZONE_SCOPES, ZoneTokenRequest,
};
pub use validator::{KeySet, MAX_TOKEN_LEN, StaticKey, Validated, Validator, parse_revocations};

/// Why a key could not be used, a token could not be issued, or a token was rejected.
///
/// The texts of the validation variants are Kuma's (`pkg/core/tokens/validator.go` with the
/// golang-jwt messages), so logs and API responses read the same as Kuma's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The RSA key generator failed.
    #[error("could not generate an RSA signing key")]
    GenerateKey,
    /// Key material could not be parsed.
    #[error("invalid RSA key: {reason}")]
    InvalidKey {
        /// What was wrong with it.
        reason: String,
    },
    /// The validity period does not fit in a timestamp.
    #[error("token validity {valid_for:?} is out of range")]
    InvalidValidity {
        /// The requested validity.
        valid_for: Duration,
    },
    /// The claims could not be serialized or signed.
    #[error("could not sign the token")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// The token is longer than [`MAX_TOKEN_LEN`]; it was not parsed.
    #[error("could not parse token: token is too large")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// The token is not three base64url segments of JSON, or its claims do not fit.
    #[error("could not parse token: token is malformed: {reason}")]
    Malformed {
        /// What did not parse.
        reason: String,
    },
    /// The header has no `kid`.
    #[error("could not parse token: JWT token must have kid header")]
    MissingKid,
    /// The header's `kid` is not a JSON string.
    #[error("could not parse token: JWT token kid header must be a string")]
    KidNotString,
    /// The header's `alg` is not RS256.
    #[error("could not parse token: unsupported token alg {alg}. Allowed algorithms are RS256")]
    UnsupportedAlg {
        /// The algorithm the token names.
        alg: String,
    },
    /// No known key has this `kid`. Kuma returns this one unwrapped; its API answers 404.
    #[error(
        "there is no signing key with KID {kid}. {}. If signing key was rotated, regenerate the token",
        missing_secret(.key_name, .mesh.as_deref())
    )]
    UnknownKid {
        /// The token's `kid`.
        kid: String,
        /// The secret that would hold the key.
        key_name: String,
        /// The mesh of that secret, for dataplane tokens.
        mesh: Option<String>,
    },
    /// The signature does not match the key named by `kid`.
    #[error("could not parse token: token signature is invalid: crypto/rsa: verification error")]
    BadSignature,
    /// `exp` is more than the leeway in the past.
    #[error("could not parse token: token has invalid claims: token is expired")]
    Expired {
        /// How long ago it expired.
        ago: Duration,
    },
    /// `nbf` is more than the leeway in the future.
    #[error(
        "token is not yet valid: 'valid_from' date is in the future. Check if the system clock \
         on the instance that issued the token is set correctly: token has invalid claims: \
         token is not valid yet"
    )]
    NotYetValid,
    /// The token's `jti` is on the revocation list.
    #[error("token is revoked")]
    Revoked {
        /// The revoked token id.
        jti: String,
    },
}

impl Error {
    /// A short, stable label for metrics and audit logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::GenerateKey => "generate_key",
            Self::InvalidKey { .. } => "invalid_key",
            Self::InvalidValidity { .. } => "invalid_validity",
            Self::Sign(_) => "sign",
            Self::TooLarge { .. } => "too_large",
            Self::Malformed { .. } => "malformed",
            Self::MissingKid => "missing_kid",
            Self::KidNotString => "kid_not_string",
            Self::UnsupportedAlg { .. } => "unsupported_alg",
            Self::UnknownKid { .. } => "unknown_kid",
            Self::BadSignature => "bad_signature",
            Self::Expired { .. } => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Revoked { .. } => "revoked",
        }
    }
}

fn missing_secret(key_name: &str, mesh: Option<&str>) -> String {
    match mesh {
        Some(mesh) => format!("Secret of name {key_name:?} in mesh {mesh:?} is not found"),
        None => format!("GlobalSecret of name {key_name:?} is not found"),
    }
}

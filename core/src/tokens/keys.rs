//! RSA signing keys and public keys in the forms Kuma stores them, and the names of the secrets
//! that hold them.
//!
//! Kuma keeps a signing key as PEM PKCS#1 (`RSA PRIVATE KEY`) in a Secret or GlobalSecret named
//! `<prefix>-<serial>`; the serial is the token's `kid`. This module parses and prints that key
//! material and those names. It never reads a secret itself: the caller hands in the bytes.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use jsonwebtoken::{DecodingKey, EncodingKey};
use x509_parser::der_parser::der::parse_der_sequence;

use super::Error;

const PKCS1_PRIVATE_TAG: &str = "RSA PRIVATE KEY";
const PKCS8_PRIVATE_TAG: &str = "PRIVATE KEY";
const PKCS1_PUBLIC_TAG: &str = "RSA PUBLIC KEY";
const SPKI_PUBLIC_TAG: &str = "PUBLIC KEY";

/// An RSA private key that signs tokens. `Debug` never prints the key.
#[derive(Clone)]
pub struct SigningKey {
    /// PKCS#1 `RSAPrivateKey` DER, the form Kuma stores.
    pkcs1: Vec<u8>,
    encoding: EncodingKey,
    public: PublicKey,
}

/// An RSA public key that verifies tokens.
#[derive(Clone)]
pub struct PublicKey {
    /// PKCS#1 `RSAPublicKey` DER.
    pkcs1: Vec<u8>,
    decoding: DecodingKey,
}

/// Which family of tokens a key or revocation list belongs to; decides the secret names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Dataplane proxy tokens: mesh-scoped Secrets.
    Dataplane {
        /// The mesh whose keys sign and verify these tokens.
        mesh: String,
    },
    /// Zone tokens (zone ingress and egress, and our zone CP extension): GlobalSecrets.
    Zone,
    /// API server user tokens: GlobalSecrets.
    User,
}

impl SigningKey {
    /// Generates a new RSA 2048 key, the size Kuma uses.
    pub fn generate() -> Result<Self, Error> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| Error::GenerateKey)?;
        let pkcs8 = pair.as_der().map_err(|_| Error::GenerateKey)?;
        let pkcs1 = pkcs1_from_pkcs8(pkcs8.as_ref()).ok_or(Error::GenerateKey)?;
        Self::from_pkcs1_der(pkcs1)
    }

    /// Parses PEM PKCS#1 (`RSA PRIVATE KEY`), PEM PKCS#8 (`PRIVATE KEY`), or the raw PKCS#1 DER
    /// that old Kuma versions stored.
    pub fn from_pem(data: &[u8]) -> Result<Self, Error> {
        let Ok(block) = pem::parse(data) else {
            // Kuma accepts a non-PEM PKCS#1 DER key for legacy reasons.
            return Self::from_pkcs1_der(data.to_vec());
        };
        match block.tag() {
            PKCS1_PRIVATE_TAG => Self::from_pkcs1_der(block.into_contents()),
            PKCS8_PRIVATE_TAG => {
                KeyPair::from_pkcs8(block.contents()).map_err(|e| invalid_key(e.to_string()))?;
                let pkcs1 = pkcs1_from_pkcs8(block.contents())
                    .ok_or_else(|| invalid_key("PKCS#8 key holds no RSA key"))?;
                Self::from_pkcs1_der(pkcs1)
            }
            other => Err(invalid_key(format!("unexpected PEM block {other:?}"))),
        }
    }

    fn from_pkcs1_der(pkcs1: Vec<u8>) -> Result<Self, Error> {
        let pair = KeyPair::from_der(&pkcs1).map_err(|e| invalid_key(e.to_string()))?;
        let public = PublicKey::from_pkcs1_der(pair.public_key().as_ref().to_vec());
        Ok(Self { encoding: EncodingKey::from_rsa_der(&pkcs1), pkcs1, public })
    }

    /// The key as PEM PKCS#1 (`RSA PRIVATE KEY`), the form Kuma keeps in secrets.
    pub fn to_pem(&self) -> String {
        encode_pem(PKCS1_PRIVATE_TAG, &self.pkcs1)
    }

    /// The public half as PEM PKCS#1 (`RSA PUBLIC KEY`), as Kuma syncs zone token keys to zones.
    pub fn public_key_pem(&self) -> String {
        self.public.to_pem()
    }

    /// The public half, to verify tokens this key signed.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(super) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Parses PEM PKCS#1 (`RSA PUBLIC KEY`) or SPKI (`PUBLIC KEY`).
    pub fn from_pem(data: &[u8]) -> Result<Self, Error> {
        let block = pem::parse(data).map_err(|e| invalid_key(e.to_string()))?;
        match block.tag() {
            PKCS1_PUBLIC_TAG | SPKI_PUBLIC_TAG => {
                // aws-lc-rs takes either encoding and hands back PKCS#1.
                let key = aws_lc_rs::rsa::PublicKey::from_der(block.contents())
                    .map_err(|e| invalid_key(e.to_string()))?;
                Ok(Self::from_pkcs1_der(key.as_ref().to_vec()))
            }
            other => Err(invalid_key(format!("unexpected PEM block {other:?}"))),
        }
    }

    /// Takes a secret's data that holds either a public key or a whole signing key, as the
    /// validator reads `zone-token-signing-public-key-*` and `*-signing-key-*` secrets alike.
    pub fn from_key_material(data: &[u8]) -> Result<Self, Error> {
        Self::from_pem(data).or_else(|_| Ok(SigningKey::from_pem(data)?.public))
    }

    fn from_pkcs1_der(pkcs1: Vec<u8>) -> Self {
        Self { decoding: DecodingKey::from_rsa_der(&pkcs1), pkcs1 }
    }

    /// The key as PEM PKCS#1 (`RSA PUBLIC KEY`).
    pub fn to_pem(&self) -> String {
        encode_pem(PKCS1_PUBLIC_TAG, &self.pkcs1)
    }

    pub(super) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").finish_non_exhaustive()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.pkcs1 == other.pkcs1
    }
}

impl Eq for PublicKey {}

impl KeyKind {
    /// The signing key name for serial 0, and the prefix of every other serial's name.
    pub fn prefix(&self) -> String {
        match self {
            Self::Dataplane { mesh } => format!("dataplane-token-signing-key-{mesh}"),
            Self::Zone => "zone-token-signing-key".to_owned(),
            Self::User => "user-token-signing-key".to_owned(),
        }
    }

    /// The name of the signing key with this serial: `<prefix>-<serial>`, or the bare prefix for
    /// serial 0 (pre-1.4 keys).
    pub fn name(&self, serial: u64) -> String {
        match serial {
            0 => self.prefix(),
            n => format!("{}-{n}", self.prefix()),
        }
    }

    /// The serial in a signing key name, or `None` when the name is not one of this kind's keys.
    /// Like Kuma's `strconv.Atoi`, leading zeros are accepted: `…-0002` is serial 2, so it signs
    /// with kid `2`, which later validation looks up as `…-2` (Kuma has the same mismatch).
    pub fn parse_serial(&self, name: &str) -> Option<u64> {
        parse_serial_after(&self.prefix(), name)
    }

    /// The name of the secret listing this kind's revoked token ids.
    pub fn revocations_name(&self) -> String {
        match self {
            Self::Dataplane { mesh } => format!("dataplane-token-revocations-{mesh}"),
            Self::Zone => "zone-token-revocations".to_owned(),
            Self::User => "user-token-revocations".to_owned(),
        }
    }

    /// The mesh that scopes this kind's keys, for dataplane tokens.
    pub fn mesh(&self) -> Option<&str> {
        match self {
            Self::Dataplane { mesh } => Some(mesh),
            Self::Zone | Self::User => None,
        }
    }
}

/// The GlobalSecret prefix under which a federated zone receives the zone token public keys.
pub const ZONE_PUBLIC_KEY_PREFIX: &str = "zone-token-signing-public-key";

/// The name of the zone token public key with this serial, as synced to zones:
/// `zone-token-signing-public-key-{serial}`.
pub fn zone_public_key_name(serial: u64) -> String {
    format!("{ZONE_PUBLIC_KEY_PREFIX}-{serial}")
}

/// The serial in a `zone-token-signing-public-key-{serial}` name.
pub fn parse_zone_public_key_serial(name: &str) -> Option<u64> {
    parse_serial_after(ZONE_PUBLIC_KEY_PREFIX, name)
}

/// Picks the signing key with the highest serial from `(name, data)` pairs of secrets, skipping
/// names that are not `kind`'s keys, and parses it. New tokens are always signed with it.
/// Returns `None` when there is no key of this kind.
pub fn latest_signing_key<'a>(
    kind: &KeyKind,
    secrets: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Option<(u64, SigningKey)>, Error> {
    let latest = secrets
        .into_iter()
        .filter_map(|(name, data)| Some((kind.parse_serial(name)?, data)))
        .max_by_key(|(serial, _)| *serial);
    latest.map(|(serial, data)| Ok((serial, SigningKey::from_pem(data)?))).transpose()
}

/// The serial of a secret named `<prefix>-<serial>`, or 0 for the bare prefix.
pub(super) fn parse_serial_after(prefix: &str, name: &str) -> Option<u64> {
    if name == prefix {
        return Some(0);
    }
    parse_decimal(name.strip_prefix(prefix)?.strip_prefix('-')?)
}

/// Unsigned decimal digits, leading zeros allowed, as `strconv.Atoi` reads a serial. Signs are
/// refused: a negative serial never names a key.
pub(super) fn parse_decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// PKCS#8 `PrivateKeyInfo` is `SEQUENCE { version, algorithm, privateKey OCTET STRING }`; for RSA
/// the octet string holds the PKCS#1 key.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (_, info) = parse_der_sequence(pkcs8).ok()?;
    let fields = info.as_sequence().ok()?;
    Some(fields.get(2)?.as_slice().ok()?.to_vec())
}

fn encode_pem(tag: &str, der: &[u8]) -> String {
    // Go's pem.Encode writes LF line endings; the pem crate defaults to CRLF.
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der), config)
}

fn invalid_key(reason: impl Into<String>) -> Error {
    Error::InvalidKey { reason: reason.into() }
}

#[cfg(test)]
mod tests;

//! The `provided` backend: its `conf` (two data sources), loading them, and Kuma's checks on a
//! user-supplied CA chain and key.
//!
//! Secrets are resolved through a caller-supplied function, so this module never touches the
//! store. The checks follow Kuma's `ValidateBackend` and `ValidateCaCert`, with its messages.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::KeyPair;
use serde_json::{Map, Value};
use x509_parser::certificate::X509Certificate;

use super::{Error, x509};
use crate::resources::{ValidationError, Violation};

const CHOOSE_SOURCE: &str = "data source has to be chosen. Available sources: secret, file, inline";
const CA_FLAG: &str = "basic constraint 'CA' must be set to 'true' (see X509-SVID: 4.1. Basic \
    Constraints)";
const KEY_CERT_SIGN: &str =
    "key usage extension 'keyCertSign' must be set (see X509-SVID: 4.3. Key Usage)";
const KEY_AGREEMENT: &str = "key usage extension 'keyAgreement' must NOT be set (see X509-SVID: \
    Appendix A. X.509 Field Reference)";
const DIGITAL_SIGNATURE: &str = "key usage extension 'digitalSignature' should NOT be set to be \
    SPIFFE compliant (see X509-SVID: Appendix A. X.509 Field Reference)";
const KEY_ENCIPHERMENT: &str = "key usage extension 'keyEncipherment' should NOT be set to be \
    SPIFFE compliant (see X509-SVID: Appendix A. X.509 Field Reference)";

/// Where a provided CA's certificate or key comes from (Kuma's `DataSource`).
#[derive(Clone, PartialEq, Eq)]
pub enum DataSource {
    /// `secret`: a Secret of the same mesh, by name.
    Secret(String),
    /// `file`: a file on the control plane's disk (deprecated in Kuma).
    File(PathBuf),
    /// `inline`: the bytes, base64 in JSON.
    Inline(Vec<u8>),
    /// `inlineString`: the text itself.
    InlineString(String),
}

/// A provided backend's `conf`: `{ cert: DataSource, key: DataSource }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedConf {
    /// The CA certificate chain: the signing certificate first, then its issuers.
    pub cert: DataSource,
    /// The private key of the first certificate.
    pub key: DataSource,
}

impl DataSource {
    /// The bytes behind the source. `resolve_secret` returns a secret's data by name, or `None`
    /// when `mesh` has no such secret.
    pub fn load(
        &self,
        mesh: &str,
        resolve_secret: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        match self {
            Self::Secret(name) => resolve_secret(name)
                .ok_or_else(|| Error::SecretNotFound { name: name.clone(), mesh: mesh.to_owned() }),
            Self::File(path) => {
                std::fs::read(path).map_err(|source| Error::ReadFile { path: path.clone(), source })
            }
            Self::Inline(bytes) => Ok(bytes.clone()),
            Self::InlineString(text) => Ok(text.clone().into_bytes()),
        }
    }

    /// The secret this source names, if any.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Self::Secret(name) => Some(name),
            _ => None,
        }
    }

    /// Reads one source at `path`; `Err(Some(_))` is a conversion failure (reported on the whole
    /// conf, as Kuma does), `Err(None)` means violations were recorded in `err`.
    fn parse(value: &Value, path: &str, err: &mut ValidationError) -> Result<Option<Self>, String> {
        let Value::Object(fields) = value else {
            return Err(format!("{path}: expected an object"));
        };
        let mut chosen = None;
        for (key, value) in fields {
            if value.is_null() {
                continue;
            }
            let name = match key.as_str() {
                "secret" | "file" | "inline" => key.as_str(),
                "inlineString" | "inline_string" => "inlineString",
                _ => return Err(format!("unknown field {key:?}")),
            };
            let Value::String(text) = value else {
                return Err(format!("{path}.{name}: expected a string"));
            };
            if chosen.is_some() {
                return Err(format!("{path}: only one data source may be set"));
            }
            chosen = Some((name, text.as_str()));
        }
        let Some((name, text)) = chosen else {
            err.push(path, CHOOSE_SOURCE);
            return Ok(None);
        };
        if text.is_empty() && name != "inlineString" {
            err.push(format!("{path}.{name}"), "cannot be empty");
            return Ok(None);
        }
        Ok(Some(match name {
            "secret" => Self::Secret(text.to_owned()),
            "file" => Self::File(PathBuf::from(text)),
            "inline" => {
                Self::Inline(STANDARD.decode(text).map_err(|e| format!("{path}.inline: {e}"))?)
            }
            _ => Self::InlineString(text.to_owned()),
        }))
    }
}

impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Inline sources may hold a private key: never print their content.
        match self {
            Self::Secret(name) => f.debug_tuple("Secret").field(name).finish(),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Inline(_) => f.write_str("Inline([redacted])"),
            Self::InlineString(_) => f.write_str("InlineString([redacted])"),
        }
    }
}

impl ProvidedConf {
    /// Reads a backend's `conf` with Kuma's messages; `at` is its field path
    /// (`mtls.backends[0].conf`).
    pub fn parse(conf: Option<&Map<String, Value>>, at: &str) -> Result<Self, ValidationError> {
        let convert = |e: String| {
            ValidationError::single(at, format!("could not convert backend config: {e}"))
        };
        let empty = Map::new();
        let conf = conf.unwrap_or(&empty);
        if let Some(key) = conf.keys().find(|k| !matches!(k.as_str(), "cert" | "key")) {
            return Err(convert(format!("unknown field {key:?}")));
        }
        let mut err = ValidationError::default();
        let mut source = |name: &str| -> Result<Option<DataSource>, ValidationError> {
            let path = format!("{at}.{name}");
            match conf.get(name).filter(|v| !v.is_null()) {
                None => {
                    err.push(path, "has to be defined");
                    Ok(None)
                }
                Some(value) => DataSource::parse(value, &path, &mut err).map_err(convert),
            }
        };
        let cert = source("cert")?;
        let key = source("key")?;
        err.into_result()?;
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Self { cert, key }),
            // Every `None` above recorded a violation, so `err` was not empty.
            _ => Err(ValidationError::single(at, CHOOSE_SOURCE)),
        }
    }
}

/// Kuma's checks on a provided CA: `cert_pem` and `key_pem` must form a TLS key pair, and every
/// certificate of the chain must be a CA with keyCertSign and without keyAgreement. Violations are
/// reported under `at` (`mtls.backends[0].conf`) as `cert` or `cert[i]`.
///
/// The SPIFFE SHOULD-NOT rules (digitalSignature or keyEncipherment set) come back as warnings,
/// in the same shape, for the caller to show without refusing the Mesh.
pub fn validate_provided(
    at: &str,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Vec<Violation>, ValidationError> {
    let pair_path = format!("{at}.cert");
    let not_a_pair = |reason: &str| {
        ValidationError::single(&pair_path, format!("not a valid TLS key pair: {reason}"))
    };
    let chain = crate::tls::decode_certificates(cert_pem)
        .map_err(|_| not_a_pair("tls: failed to find any PEM data in certificate input"))?;
    let key = crate::tls::decode_private_key(key_pem)
        .map_err(|_| not_a_pair("tls: failed to find any PEM data in key input"))?;
    let key =
        KeyPair::try_from(&key).map_err(|_| not_a_pair("tls: failed to parse private key"))?;
    // Like Go's tls.X509KeyPair, only the first certificate is parsed before the pair check.
    let first = x509::parse(&chain[0]).map_err(|e| not_a_pair(&format!("x509: {e}")))?;
    if !x509::key_matches(&first, &key) {
        return Err(not_a_pair("tls: private key does not match public key"));
    }

    let mut err = ValidationError::default();
    let mut warnings = Vec::new();
    for (i, der) in chain.iter().enumerate() {
        let path = format!("{at}.cert[{i}]");
        match x509::parse(der) {
            Ok(cert) => check_ca(&cert, &path, &mut err, &mut warnings),
            Err(reason) => {
                err.push(path, format!("not a valid x509 certificate: {reason}"));
                break;
            }
        }
    }
    err.into_result().map(|()| warnings)
}

fn check_ca(
    cert: &X509Certificate<'_>,
    path: &str,
    err: &mut ValidationError,
    warnings: &mut Vec<Violation>,
) {
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    if !is_ca {
        err.push(path, CA_FLAG);
    }
    let usage = match cert.key_usage() {
        Ok(Some(ku)) => Some(*ku.value),
        _ => None,
    };
    if !usage.is_some_and(|u| u.key_cert_sign()) {
        err.push(path, KEY_CERT_SIGN);
    }
    if usage.is_some_and(|u| u.key_agreement()) {
        err.push(path, KEY_AGREEMENT);
    }
    let mut warn = |message: &str| {
        warnings.push(Violation { field: path.to_owned(), message: message.to_owned() });
    };
    if usage.is_some_and(|u| u.digital_signature()) {
        warn(DIGITAL_SIGNATURE);
    }
    if usage.is_some_and(|u| u.key_encipherment()) {
        warn(KEY_ENCIPHERMENT);
    }
}

#[cfg(test)]
mod tests;

//! Token settings: user tokens (`apiServer.authn.tokens.*`), dataplane tokens
//! (`dpServer.authn.dpProxy.dpToken.*`) and zone tokens (`dpServer.authn.zoneProxy.zoneToken.*`),
//! with their static public keys.
//!
//! Public keys are YAML-only lists of `{kid, mesh?, key | keyFile}`; a `keyFile` is read here, at
//! load time, into PEM text. The PEM is only checked to look like PEM: parsing it is
//! `kuma_core::tokens`' job.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::error::{Error, Problem};
use super::parse;
use super::source::{Loader, Setting};

const fn t(env: &'static str, yaml: &'static str) -> Setting {
    Setting { env, yaml }
}

const USER_BOOTSTRAP_ADMIN_TOKEN: Setting = t(
    "KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN",
    "apiServer.authn.tokens.bootstrapAdminToken",
);
const USER_ENABLE_ISSUER: Setting =
    t("KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER", "apiServer.authn.tokens.enableIssuer");
const USER_USE_SECRETS: Setting = t(
    "KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS",
    "apiServer.authn.tokens.validator.useSecrets",
);
const USER_PUBLIC_KEYS: &str = "apiServer.authn.tokens.validator.publicKeys";

const DP_ENABLE_ISSUER: Setting = t(
    "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_ENABLE_ISSUER",
    "dpServer.authn.dpProxy.dpToken.enableIssuer",
);
const DP_USE_SECRETS: Setting = t(
    "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_VALIDATOR_USE_SECRETS",
    "dpServer.authn.dpProxy.dpToken.validator.useSecrets",
);
const DP_PUBLIC_KEYS: &str = "dpServer.authn.dpProxy.dpToken.validator.publicKeys";

const ZONE_ENABLE_ISSUER: Setting = t(
    "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_ENABLE_ISSUER",
    "dpServer.authn.zoneProxy.zoneToken.enableIssuer",
);
const ZONE_USE_SECRETS: Setting = t(
    "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_VALIDATOR_USE_SECRETS",
    "dpServer.authn.zoneProxy.zoneToken.validator.useSecrets",
);
const ZONE_PUBLIC_KEYS: &str = "dpServer.authn.zoneProxy.zoneToken.validator.publicKeys";

/// `apiServer.authn.tokens.*`: user tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTokens {
    /// `KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN` (true): create `admin-user-token`.
    pub bootstrap_admin_token: bool,
    /// `KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER` (true): the CP issues user tokens.
    pub enable_issuer: bool,
    /// `KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS` (true): the `user-token-signing-key`
    /// global secrets validate tokens.
    pub use_secrets: bool,
    /// `apiServer.authn.tokens.validator.publicKeys` (YAML only, none): tried before secrets.
    pub public_keys: Vec<StaticPublicKey>,
}

/// `dpServer.authn.dpProxy.dpToken.*`: dataplane tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpTokens {
    /// `KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_ENABLE_ISSUER` (true).
    pub enable_issuer: bool,
    /// `KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_VALIDATOR_USE_SECRETS` (true): the
    /// `dataplane-token-signing-key-{mesh}` secrets validate tokens.
    pub use_secrets: bool,
    /// `dpServer.authn.dpProxy.dpToken.validator.publicKeys` (YAML only, none); a key without
    /// `mesh` applies to every mesh.
    pub public_keys: Vec<StaticPublicKey>,
}

/// `dpServer.authn.zoneProxy.zoneToken.*`: zone tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTokens {
    /// `KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_ENABLE_ISSUER` (true).
    pub enable_issuer: bool,
    /// `KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_VALIDATOR_USE_SECRETS` (true): the
    /// `zone-token-signing-key` global secrets validate tokens.
    pub use_secrets: bool,
    /// `dpServer.authn.zoneProxy.zoneToken.validator.publicKeys` (YAML only, none).
    pub public_keys: Vec<StaticPublicKey>,
}

/// One static public key for validating tokens issued offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPublicKey {
    /// The `kid` header of the tokens it validates; non-empty and unique within its list.
    pub kid: String,
    /// The mesh it is limited to (dataplane tokens only); `None`: every mesh.
    pub mesh: Option<String>,
    /// The key as PEM text (from `key`, or read from `keyFile`); not parsed here.
    pub pem: String,
}

impl UserTokens {
    pub(super) fn load(loader: &Loader<'_>) -> Result<Self, Error> {
        Ok(Self {
            bootstrap_admin_token: loader.or(&USER_BOOTSTRAP_ADMIN_TOKEN, true, parse::boolean)?,
            enable_issuer: loader.or(&USER_ENABLE_ISSUER, true, parse::boolean)?,
            use_secrets: loader.or(&USER_USE_SECRETS, true, parse::boolean)?,
            public_keys: public_keys(loader, USER_PUBLIC_KEYS, false)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "bootstrapAdminToken": self.bootstrap_admin_token,
            "enableIssuer": self.enable_issuer,
            "validator": validator_json(self.use_secrets, &self.public_keys),
        })
    }
}

impl DpTokens {
    pub(super) fn load(loader: &Loader<'_>) -> Result<Self, Error> {
        Ok(Self {
            enable_issuer: loader.or(&DP_ENABLE_ISSUER, true, parse::boolean)?,
            use_secrets: loader.or(&DP_USE_SECRETS, true, parse::boolean)?,
            public_keys: public_keys(loader, DP_PUBLIC_KEYS, true)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "enableIssuer": self.enable_issuer,
            "validator": validator_json(self.use_secrets, &self.public_keys),
        })
    }
}

impl ZoneTokens {
    pub(super) fn load(loader: &Loader<'_>) -> Result<Self, Error> {
        Ok(Self {
            enable_issuer: loader.or(&ZONE_ENABLE_ISSUER, true, parse::boolean)?,
            use_secrets: loader.or(&ZONE_USE_SECRETS, true, parse::boolean)?,
            public_keys: public_keys(loader, ZONE_PUBLIC_KEYS, false)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "enableIssuer": self.enable_issuer,
            "validator": validator_json(self.use_secrets, &self.public_keys),
        })
    }
}

/// `{useSecrets, publicKeys}`, the keys shown inline (`key`) so the dump loads back unchanged.
fn validator_json(use_secrets: bool, keys: &[StaticPublicKey]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut entry = json!({ "kid": k.kid, "key": k.pem });
            if let Some(mesh) = &k.mesh {
                super::merge(&mut entry, json!({ "mesh": mesh }));
            }
            entry
        })
        .collect();
    json!({ "useSecrets": use_secrets, "publicKeys": keys })
}

/// Reads the public key list at `key`; `meshed` allows the `mesh` field.
fn public_keys(
    loader: &Loader<'_>,
    key: &'static str,
    meshed: bool,
) -> Result<Vec<StaticPublicKey>, Error> {
    let Some(records) = loader.records(key)? else {
        return Ok(Vec::new());
    };
    let (file, entries) = (records.path, records.entries);
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for (index, mut entry) in entries.into_iter().enumerate() {
        let at = format!("{key}[{index}]");
        let entry_error = |field: &str, problem| Error::Entry {
            path: file.to_owned(),
            key: field_key(&at, field),
            problem,
        };
        let kid = entry.remove("kid").unwrap_or_default();
        let mesh = match meshed {
            true => entry.remove("mesh").filter(|m| !m.is_empty()),
            false => None,
        };
        let key_text = entry.remove("key").filter(|k| !k.is_empty());
        let key_file = entry.remove("keyFile").filter(|k| !k.is_empty());
        reject_unknown(file, &at, &entry)?;
        if kid.is_empty() {
            return Err(entry_error("kid", Problem::KidRequired));
        }
        if !seen.insert(kid.clone()) {
            return Err(entry_error("kid", Problem::DuplicateKid(kid)));
        }
        let (pem, field) = match (key_text, key_file) {
            (Some(pem), None) => (pem, "key"),
            (None, Some(path)) => (read_key_file(file, &at, PathBuf::from(path))?, "keyFile"),
            (None, None) => return Err(entry_error("", Problem::PublicKeyMissing)),
            (Some(_), Some(_)) => return Err(entry_error("", Problem::KeyAndKeyFile)),
        };
        if !pem.contains("-----BEGIN") {
            return Err(entry_error(field, Problem::NotPem));
        }
        out.push(StaticPublicKey { kid, mesh, pem });
    }
    Ok(out)
}

/// `at.field`, or `at` for a problem with the entry as a whole.
fn field_key(at: &str, field: &str) -> String {
    match field.is_empty() {
        true => at.to_owned(),
        false => format!("{at}.{field}"),
    }
}

/// Fails on the first field (sorted) that no public key has, as the strict loader does.
fn reject_unknown(file: &Path, at: &str, rest: &BTreeMap<String, String>) -> Result<(), Error> {
    match rest.keys().next() {
        Some(field) => Err(Error::UnknownKey { path: file.to_owned(), key: field_key(at, field) }),
        None => Ok(()),
    }
}

fn read_key_file(file: &Path, at: &str, path: PathBuf) -> Result<String, Error> {
    fs::read_to_string(&path).map_err(|source| Error::EntryFile {
        path: file.to_owned(),
        key: field_key(at, "keyFile"),
        file: path,
        source,
    })
}

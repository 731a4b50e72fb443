//! `kumactl generate dataplane-token|zone-token|user-token`: a token from the control plane's
//! `POST /tokens/*`, or, with `--signing-key-path` and `--kid`, signed right here.
//!
//! Both ways start from the same request body (`kuma_core::tokens::*TokenRequest`), so an offline
//! token carries exactly the claims the control plane would have put in. Checking the flags is
//! this module's job; checking the request is `kuma_core::tokens`'; access is the server's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use kuma_core::resources::ValidationError;
use kuma_core::tokens::{
    DataplaneTokenRequest, Issuer, SigningKey, UserTokenRequest, ZONE_SCOPES as SCOPES,
    ZoneTokenRequest, parse_go_duration,
};
use serde::Serialize;
use time::OffsetDateTime;

/// What `--scope` is when not given, as in Kuma.
const DEFAULT_SCOPES: [&str; 2] = ["ingress", "egress"];

/// Where the token comes from: the control plane unless a signing key is given.
#[derive(Debug, clap::Args)]
pub struct Signing {
    /// Path to a file that contains a private signing key. When specified, the control plane
    /// is not used to issue the token.
    #[arg(long)]
    signing_key_path: Option<PathBuf>,
    /// ID of the key that is used to issue a token. Required when --signing-key-path is used.
    #[arg(long)]
    kid: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DataplaneArgs {
    /// Name of the Dataplane.
    #[arg(long, default_value = "")]
    name: String,
    /// Mesh to use.
    #[arg(short, long, default_value = "default")]
    mesh: String,
    /// Type of the Dataplane: `dataplane`, `ingress` or `egress`.
    #[arg(long)]
    proxy_type: Option<String>,
    /// Deprecated: use --proxy-type.
    #[arg(long = "type", hide = true, conflicts_with = "proxy_type")]
    deprecated_type: Option<String>,
    /// Required tag values for the dataplane, `key=value` (split values by comma to provide
    /// multiple values); repeatable.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Workload (`kuma.io/workload` label) the dataplane must carry.
    #[arg(long, default_value = "")]
    workload: String,
    /// How long the token will be valid (for example "24h").
    #[arg(long)]
    valid_for: Option<String>,
    #[command(flatten)]
    signing: Signing,
}

#[derive(Debug, clap::Args)]
pub struct ZoneArgs {
    /// Name of the zone the token is for.
    #[arg(long)]
    zone: String,
    /// What the token may identify: `ingress`, `egress`, `cp` (comma-separated or repeated).
    #[arg(long = "scope", value_delimiter = ',')]
    scopes: Vec<String>,
    /// How long the token will be valid (for example "24h").
    #[arg(long)]
    valid_for: Option<String>,
    #[command(flatten)]
    signing: Signing,
}

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    /// Name of the user.
    #[arg(long)]
    name: String,
    /// Group of the user (comma-separated or repeated).
    #[arg(long = "group", value_delimiter = ',')]
    groups: Vec<String>,
    /// How long the token will be valid (for example "24h").
    #[arg(long)]
    valid_for: Option<String>,
    #[command(flatten)]
    signing: Signing,
}

/// A token request body and what the control plane would sign for it.
trait TokenRequest: Serialize {
    /// The REST path that issues it.
    const PATH: &'static str;
    /// The token's kind in messages.
    const WHAT: &'static str;
    type Claims: Serialize;
    fn claims(&self) -> Result<(Self::Claims, Duration), ValidationError>;
}

pub async fn dataplane(
    args: DataplaneArgs,
    config_path: &Path,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if args.deprecated_type.is_some() {
        eprintln!("Flag --type has been deprecated, please use --proxy-type instead");
    }
    let key = offline_key(args.signing)?;
    let request = DataplaneTokenRequest {
        name: args.name,
        mesh: args.mesh,
        tags: parse_tags(&args.tags)?,
        proxy_type: args.proxy_type.or(args.deprecated_type).unwrap_or_default(),
        workload: args.workload,
        valid_for: valid_for(args.valid_for)?,
    };
    issue(&request, key, config_path, out).await
}

pub async fn zone(args: ZoneArgs, config_path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let scope = scopes(args.scopes)?;
    let key = offline_key(args.signing)?;
    let request =
        ZoneTokenRequest { zone: args.zone, scope, valid_for: valid_for(args.valid_for)? };
    issue(&request, key, config_path, out).await
}

pub async fn user(args: UserArgs, config_path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let key = offline_key(args.signing)?;
    let request = UserTokenRequest {
        name: args.name,
        groups: args.groups,
        valid_for: valid_for(args.valid_for)?,
    };
    issue(&request, key, config_path, out).await
}

/// Signs `request` with `key` when there is one, otherwise asks the current control plane.
async fn issue<R: TokenRequest>(
    request: &R,
    key: Option<(SigningKey, String)>,
    config_path: &Path,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let token = match key {
        Some((key, kid)) => {
            let (claims, valid_for) = request.claims()?;
            let now = OffsetDateTime::now_utc();
            Issuer.issue(&claims, &key, &kid, valid_for, now)?.token
        }
        None => {
            let body = serde_json::to_value(request)?;
            super::super::client(config_path)?
                .post_text(R::PATH, &body)
                .await
                .with_context(|| format!("failed to generate a {} token", R::WHAT))?
        }
    };
    writeln!(out, "{token}")?;
    Ok(())
}

/// Kuma's rule: `--signing-key-path` and `--kid` come together or not at all.
fn offline_key(signing: Signing) -> anyhow::Result<Option<(SigningKey, String)>> {
    let kid = signing.kid.filter(|k| !k.is_empty());
    let path = signing.signing_key_path.filter(|p| !p.as_os_str().is_empty());
    match (path, kid) {
        (None, None) => Ok(None),
        (Some(_), None) => bail!("--kid is required when --signing-key-path is used"),
        // Kuma's text, though it is the path that is missing.
        (None, Some(_)) => bail!("--kid cannot be used when --signing-key-path is used"),
        (Some(path), Some(kid)) => {
            let data = std::fs::read(&path)
                .with_context(|| format!("could not read a signing key file {}", path.display()))?;
            let key = SigningKey::from_pem(&data)
                .with_context(|| format!("could not parse the signing key {}", path.display()))?;
            Ok(Some((key, kid)))
        }
    }
}

/// `--valid-for` is a Go duration and must be set and non-zero, as Kuma's token clients insist.
/// The text goes to the server as given; it parses it the same way.
fn valid_for(arg: Option<String>) -> anyhow::Result<String> {
    let Some(text) = arg else {
        bail!("You must set a token validFor value");
    };
    let duration = parse_go_duration(&text)
        .with_context(|| format!("invalid argument {text:?} for \"--valid-for\" flag"))?;
    if duration.is_zero() {
        bail!("You must set a token validFor value");
    }
    Ok(text)
}

/// `--scope` values, defaulting to ingress and egress, with Kuma's message for unknown ones.
fn scopes(given: Vec<String>) -> anyhow::Result<Vec<String>> {
    if given.is_empty() {
        return Ok(DEFAULT_SCOPES.map(str::to_owned).to_vec());
    }
    let unsupported: Vec<&str> =
        given.iter().map(String::as_str).filter(|s| !SCOPES.contains(s)).collect();
    if !unsupported.is_empty() {
        bail!(
            "invalid --scope values: [{}] (supported scopes: [{}])",
            unsupported.join(" "),
            SCOPES.join(" ")
        );
    }
    Ok(given)
}

/// `--tag k=v1,v2` (repeatable; `--tag a=1,b=2` also works): a piece without `=` is one more
/// value of the key before it. A key given again replaces its values, as pflag's map does.
fn parse_tags(args: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for arg in args {
        let mut current: Option<&str> = None;
        for piece in arg.split(',') {
            match (piece.split_once('='), current) {
                (Some((key, value)), _) if !key.is_empty() => {
                    tags.insert(key.to_owned(), vec![value.to_owned()]);
                    current = Some(key);
                }
                (None, Some(key)) => tags.entry(key.to_owned()).or_default().push(piece.to_owned()),
                _ => bail!(
                    "invalid argument {arg:?} for \"--tag\" flag: {piece} must be formatted as key=value"
                ),
            }
        }
    }
    Ok(tags)
}

impl TokenRequest for DataplaneTokenRequest {
    const PATH: &'static str = "/tokens/dataplane";
    const WHAT: &'static str = "dataplane";
    type Claims = kuma_core::tokens::DataplaneClaims;
    fn claims(&self) -> Result<(Self::Claims, Duration), ValidationError> {
        self.validate()
    }
}

impl TokenRequest for ZoneTokenRequest {
    const PATH: &'static str = "/tokens/zone";
    const WHAT: &'static str = "zone";
    type Claims = kuma_core::tokens::ZoneClaims;
    fn claims(&self) -> Result<(Self::Claims, Duration), ValidationError> {
        self.validate()
    }
}

impl TokenRequest for UserTokenRequest {
    const PATH: &'static str = "/tokens/user";
    const WHAT: &'static str = "user";
    type Claims = kuma_core::tokens::UserClaims;
    fn claims(&self) -> Result<(Self::Claims, Duration), ValidationError> {
        self.validate()
    }
}

#[cfg(test)]
mod tests;

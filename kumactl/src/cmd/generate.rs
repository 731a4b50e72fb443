//! `kumactl generate …`: certificates, token signing keys and tokens.
//!
//! Only the token commands without `--signing-key-path` talk to a control plane; everything else
//! works offline and must not read the kumactl configuration.

use std::io::Write;
use std::path::Path;

mod keys;
mod tls;
mod tokens;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate a TLS certificate (leaf followed by its CA) and its key.
    TlsCertificate(tls::TlsCertificate),
    /// Generate a private key for signing tokens (RSA 2048, PKCS#1).
    SigningKey(keys::SigningKeyArgs),
    /// Print the public key of a signing key, for validating tokens.
    PublicKey(keys::PublicKeyArgs),
    /// Generate a token that proves a dataplane's identity.
    DataplaneToken(tokens::DataplaneArgs),
    /// Generate a token that proves the identity of a zone's ingress, egress or control plane.
    ZoneToken(tokens::ZoneArgs),
    /// Generate a token that proves a user's identity to the API server.
    UserToken(tokens::UserArgs),
}

pub async fn run(cmd: Command, config_path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        Command::TlsCertificate(args) => tls::run(args, out),
        Command::SigningKey(args) => keys::signing_key(args, out),
        Command::PublicKey(args) => keys::public_key(args, out),
        Command::DataplaneToken(args) => tokens::dataplane(args, config_path, out).await,
        Command::ZoneToken(args) => tokens::zone(args, config_path, out).await,
        Command::UserToken(args) => tokens::user(args, config_path, out).await,
    }
}

//! `kumactl generate tls-certificate`: a CA-signed leaf for a server or a client.
//!
//! Files are written as Kuma writes them: the key 0400, the certificate 0600; `-` prints to
//! stdout instead.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kuma_core::tls::{CertKind, KeyType};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

#[derive(Debug, clap::Args)]
pub struct TlsCertificate {
    /// Type of the certificate: `server` or `client`.
    #[arg(long = "type")]
    kind: String,
    /// Host names (IP addresses become IP SANs), comma-separated or repeated.
    #[arg(long = "hostname", value_delimiter = ',')]
    hostnames: Vec<String>,
    /// Key type: `rsa` (2048 bits) or `ecdsa` (P-256).
    #[arg(long, default_value = "rsa")]
    key_type: String,
    /// Where to write the key; `-` for stdout.
    #[arg(long, default_value = "key.pem")]
    key_file: PathBuf,
    /// Where to write the certificate; `-` for stdout.
    #[arg(long, default_value = "cert.pem")]
    cert_file: PathBuf,
}

pub fn run(args: TlsCertificate, out: &mut impl Write) -> anyhow::Result<()> {
    let kind = match args.kind.as_str() {
        "server" => CertKind::Server,
        "client" => CertKind::Client,
        other => bail!("invalid certificate type {other:?}"),
    };
    let key_type = match args.key_type.as_str() {
        "rsa" => KeyType::Rsa,
        "ecdsa" => KeyType::Ecdsa,
        other => bail!("invalid key type {other:?}"),
    };
    let pair = kuma_core::tls::generate_certificate(
        kind,
        &args.hostnames,
        key_type,
        OffsetDateTime::now_utc(),
    )?;
    emit(&args.key_file, pair.key_pem.expose_secret(), 0o400, "Private key", out)?;
    emit(&args.cert_file, &pair.cert_pem, 0o600, "Certificate", out)?;
    Ok(())
}

fn emit(path: &Path, pem: &str, mode: u32, what: &str, out: &mut impl Write) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        out.write_all(pem.as_bytes())?;
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(pem.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(out, "{what} saved in {}", path.display())?;
    Ok(())
}

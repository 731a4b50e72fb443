//! `kumactl generate signing-key` and `kumactl generate public-key`: token key material for
//! signing offline and for the control plane's static validator keys.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kuma_core::tokens::SigningKey;

#[derive(Debug, clap::Args)]
pub struct SigningKeyArgs {
    /// `pem-base64` (ready for a Secret's `data`) or `pem`.
    #[arg(long, value_enum, default_value_t = KeyFormat::PemBase64)]
    format: KeyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KeyFormat {
    PemBase64,
    Pem,
}

#[derive(Debug, clap::Args)]
pub struct PublicKeyArgs {
    /// Path to a file with a PEM-encoded private signing key.
    #[arg(long)]
    signing_key_path: PathBuf,
}

pub fn signing_key(args: SigningKeyArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let key = SigningKey::generate().context("could not generate signing key")?;
    let pem = key.to_pem();
    match args.format {
        KeyFormat::Pem => out.write_all(pem.as_bytes())?,
        KeyFormat::PemBase64 => writeln!(out, "{}", STANDARD.encode(pem))?,
    }
    Ok(())
}

pub fn public_key(args: PublicKeyArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let data =
        std::fs::read(&args.signing_key_path).context("could not read a signing key file")?;
    // `SigningKey::from_pem` also takes raw DER, which Kuma's command refuses.
    if pem_private_key(&data).is_none() {
        anyhow::bail!("provided file is not a PEM-encoded signing key");
    }
    let key = SigningKey::from_pem(&data).context("could not extract public key")?;
    out.write_all(key.public_key_pem().as_bytes())?;
    Ok(())
}

/// The label of the first PEM block when it is a private key.
fn pem_private_key(data: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(data).ok()?;
    ["RSA PRIVATE KEY", "PRIVATE KEY"]
        .into_iter()
        .find(|label| text.trim_start().starts_with(&format!("-----BEGIN {label}-----")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_in_both_formats_parses_back() {
        let mut out = Vec::new();
        signing_key(SigningKeyArgs { format: KeyFormat::Pem }, &mut out).unwrap();
        let pem = String::from_utf8(out).unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{pem}");
        SigningKey::from_pem(pem.as_bytes()).unwrap();

        let mut out = Vec::new();
        signing_key(SigningKeyArgs { format: KeyFormat::PemBase64 }, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let decoded = STANDARD.decode(text.trim_end()).unwrap();
        assert!(decoded.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
        SigningKey::from_pem(&decoded).unwrap();
    }

    #[test]
    fn only_pem_private_keys_are_signing_keys() {
        assert_eq!(pem_private_key(b"-----BEGIN RSA PRIVATE KEY-----\n"), Some("RSA PRIVATE KEY"));
        assert_eq!(pem_private_key(b"-----BEGIN PRIVATE KEY-----\n"), Some("PRIVATE KEY"));
        assert_eq!(pem_private_key(b"-----BEGIN RSA PUBLIC KEY-----\n"), None);
        assert_eq!(pem_private_key(&[0x30, 0x82]), None);
    }
}

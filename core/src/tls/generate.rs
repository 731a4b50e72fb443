//! Minting self-signed certificates: the control plane's own and `kumactl generate
//! tls-certificate`'s.
//!
//! Both have the same shape: a throwaway CA (`CA:TRUE`, keyCertSign) signs a leaf (`CA:FALSE`,
//! digitalSignature, the EKU, the SANs), and the certificate PEM holds the leaf then the CA. Kuma
//! makes a single self-signed certificate marked as a CA, which rustls-webpki and strict scanners
//! refuse as a server certificate; the chain works for them and for curl alike. Only the leaf key
//! leaves this file: the CA key is dropped once it has signed. Everything takes `now`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, RsaKeySize,
};
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use super::{CertPair, Error, load_pair};

/// File name of the control plane certificate (leaf then CA) in the work directory.
pub const CP_CERT_FILE: &str = "kuma-cp.crt";
/// File name of the control plane key in the work directory.
pub const CP_KEY_FILE: &str = "kuma-cp.key";

const BACKDATE: Duration = Duration::minutes(5);
const VALIDITY: Duration = Duration::days(3650);

/// What a generated certificate is for: its extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// EKU serverAuth.
    Server,
    /// EKU clientAuth.
    Client,
}

/// The key algorithm of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA 2048 (kumactl's default, as Kuma's).
    Rsa,
    /// ECDSA P-256.
    Ecdsa,
}

/// Whether [`load_or_generate_cp_cert`] found the files or made them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Made now and written to the work directory.
    Generated,
    /// Read from the work directory.
    Loaded,
}

/// Everything one generated chain needs.
struct Spec<'a> {
    ca_name: &'a str,
    leaf_name: &'a str,
    sans: &'a [String],
    usages: &'a [ExtendedKeyUsagePurpose],
    key_type: KeyType,
}

/// Loads `<work_dir>/kuma-cp.crt` and `kuma-cp.key`, or generates and writes them.
///
/// The files are reused when both are present and non-empty (and must then belong together).
/// Otherwise an ECDSA P-256 chain is generated for the host name, `localhost` and every interface
/// address, valid from `now` − 5 minutes for 10 years, with EKU serverAuth and clientAuth. A
/// missing work directory is created 0700; the files are written 0600.
pub fn load_or_generate_cp_cert(
    work_dir: &Path,
    now: OffsetDateTime,
) -> Result<(CertPair, Provenance), Error> {
    let cert_path = work_dir.join(CP_CERT_FILE);
    let key_path = work_dir.join(CP_KEY_FILE);
    if non_empty(&cert_path) && non_empty(&key_path) {
        return Ok((load_pair(&cert_path, &key_path)?, Provenance::Loaded));
    }
    let pair = issue(
        &Spec {
            ca_name: "kuma-cp CA",
            leaf_name: "kuma-cp",
            sans: &cp_hosts()?,
            usages: &[ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
            key_type: KeyType::Ecdsa,
        },
        now,
    )?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(work_dir)
        .map_err(|source| Error::Write { path: work_dir.to_owned(), source })?;
    // The key first: a crash in between leaves a key without a certificate, which is regenerated.
    write_private(&key_path, secrecy::ExposeSecret::expose_secret(&pair.key_pem).as_bytes())?;
    write_private(&cert_path, pair.cert_pem.as_bytes())?;
    Ok((pair, Provenance::Generated))
}

/// Generates a chain for `kumactl generate tls-certificate`, valid for 10 years from `now` − 5
/// minutes. Host names that parse as IP addresses become IP SANs.
pub fn generate_certificate(
    kind: CertKind,
    hostnames: &[String],
    key_type: KeyType,
    now: OffsetDateTime,
) -> Result<CertPair, Error> {
    let Some(first) = hostnames.first() else {
        return Err(Error::NoHostname);
    };
    let usage = match kind {
        CertKind::Server => ExtendedKeyUsagePurpose::ServerAuth,
        CertKind::Client => ExtendedKeyUsagePurpose::ClientAuth,
    };
    issue(
        &Spec {
            ca_name: "kumactl CA",
            leaf_name: first,
            sans: hostnames,
            usages: &[usage],
            key_type,
        },
        now,
    )
}

/// The control plane's SANs: host name, `localhost` and every interface IP, sorted as strings
/// (as Kuma sorts them), without duplicates.
fn cp_hosts() -> Result<Vec<String>, Error> {
    let hostname = hostname::get().map_err(Error::Hostname)?;
    let mut hosts = vec![hostname.to_string_lossy().into_owned(), "localhost".to_owned()];
    let interfaces = local_ip_address::list_afinet_netifas().map_err(Error::Interfaces)?;
    hosts.extend(interfaces.into_iter().map(|(_, ip)| ip.to_string()));
    hosts.sort();
    hosts.dedup();
    Ok(hosts)
}

fn issue(spec: &Spec<'_>, now: OffsetDateTime) -> Result<CertPair, Error> {
    let not_before = now - BACKDATE;
    let not_after = not_before + VALIDITY;

    let mut ca = CertificateParams::default();
    ca.distinguished_name = name(spec.ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca = CertifiedIssuer::self_signed(ca, new_key(spec.key_type)?).map_err(Error::Generate)?;

    let mut leaf = CertificateParams::new(spec.sans.to_vec()).map_err(Error::Generate)?;
    leaf.distinguished_name = name(spec.leaf_name);
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = match spec.key_type {
        KeyType::Ecdsa => vec![KeyUsagePurpose::DigitalSignature],
        // RSA key exchange (TLS 1.2 without ECDHE) needs keyEncipherment, as Kuma sets it.
        KeyType::Rsa => vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment],
    };
    leaf.extended_key_usages = spec.usages.to_vec();
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_key = new_key(spec.key_type)?;
    let leaf = leaf.signed_by(&leaf_key, &ca).map_err(Error::Generate)?;

    Ok(CertPair {
        cert_pem: format!("{}{}", leaf.pem(), ca.pem()),
        key_pem: SecretString::from(leaf_key.serialize_pem()),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn new_key(key_type: KeyType) -> Result<KeyPair, Error> {
    match key_type {
        KeyType::Ecdsa => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
        KeyType::Rsa => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
    }
    .map_err(Error::Generate)
}

fn non_empty(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Writes `bytes` to `path` readable by the owner only, whatever mode an older file had.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|source| Error::Write { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests;

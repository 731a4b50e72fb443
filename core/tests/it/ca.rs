//! The mesh CA end to end: certificates issued by `kuma_core::ca` checked by three independent
//! verifiers (rustls-webpki, the `openssl` binary, Python's `cryptography`), for a builtin root and
//! for a provided CA with an intermediate, including one made by the `openssl` binary itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kuma_core::ca::{
    BuiltinConf, DEFAULT_DP_CERT_VALIDITY, IssuedCert, Issuer, generate_builtin_root,
    validate_provided,
};
use kuma_core::identity::Identity;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

const PYTHON_SKIP: &str = "KUMA_TEST_PYTHON";

fn web(mesh: &str) -> Identity {
    Identity {
        mesh: mesh.to_owned(),
        tags: BTreeMap::from([
            (
                "kuma.io/service".to_owned(),
                BTreeSet::from(["web".to_owned(), "web-api".to_owned()]),
            ),
            ("version".to_owned(), BTreeSet::from(["v1".to_owned()])),
        ]),
    }
}

fn csr() -> String {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["ignored.example".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "ignored");
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().unwrap()
}

/// rustls-webpki: the leaf must verify for both client and server auth, from `anchors_pem`,
/// with the intermediates of `issued.chain_pem`.
fn webpki_verify(issued: &IssuedCert, anchors_pem: &str) -> Result<(), webpki::Error> {
    let chain = certs(&issued.chain_pem);
    let anchors_der = certs(anchors_pem);
    let anchors: Vec<_> = anchors_der
        .iter()
        .map(|c| webpki::anchor_from_trusted_cert(c).unwrap().to_owned())
        .collect();
    let leaf = webpki::EndEntityCert::try_from(&chain[0]).unwrap();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(
        OffsetDateTime::now_utc().unix_timestamp().try_into().unwrap(),
    ));
    for usage in [webpki::KeyUsage::client_auth(), webpki::KeyUsage::server_auth()] {
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &chain[1..],
            now,
            usage,
            None,
            None,
        )?;
    }
    Ok(())
}

struct Files {
    _dir: tempfile::TempDir,
    leaf: PathBuf,
    chain: PathBuf,
    bundle: PathBuf,
    intermediates: PathBuf,
}

fn write_files(issued: &IssuedCert) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let intermediates: String = issued.chain_pem[issued.cert_pem.len()..].to_owned();
    Files {
        leaf: write("leaf.pem", &issued.cert_pem),
        chain: write("chain.pem", &issued.chain_pem),
        bundle: write("bundle.pem", &issued.trust_bundle_pem),
        // openssl wants a file even when there is no intermediate.
        intermediates: write(
            "intermediates.pem",
            if intermediates.is_empty() { &issued.trust_bundle_pem } else { &intermediates },
        ),
        _dir: dir,
    }
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl").args(args).output().expect("the openssl binary must be installed")
}

fn openssl_verify(files: &Files, ca_file: &Path) -> Result<(), String> {
    let out = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca_file.to_str().unwrap(),
        "-untrusted",
        files.intermediates.to_str().unwrap(),
        files.leaf.to_str().unwrap(),
    ]);
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(()) } else { Err(text) }
}

/// Runs the Python X509-SVID check, or says why it cannot run.
fn python_check(mesh: &str, files: &Files) -> Option<Result<(), String>> {
    if std::env::var_os(PYTHON_SKIP).is_some_and(|v| v == "skip") {
        return None;
    }
    let probe = Command::new("python3").args(["-c", "import cryptography"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        panic!(
            "python3 with the `cryptography` package is needed for the X509-SVID check: install \
             python3-cryptography (apt) or `pip install cryptography`, or set {PYTHON_SKIP}=skip"
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/check_svid.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(mesh)
        .arg(&files.leaf)
        .arg(&files.bundle)
        .arg(&files.chain)
        .output()
        .unwrap();
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

fn check_everywhere(mesh: &str, issued: &IssuedCert) {
    webpki_verify(issued, &issued.trust_bundle_pem).unwrap();
    let files = write_files(issued);
    openssl_verify(&files, &files.bundle).unwrap();
    if let Some(result) = python_check(mesh, &files) {
        result.unwrap();
    }
}

#[test]
fn builtin_root_issues_leaves_every_verifier_accepts() {
    let now = OffsetDateTime::now_utc();
    for rsa_bits in [None, Some(2048)] {
        let conf = BuiltinConf { rsa_bits, expiration: None };
        let root = generate_builtin_root("default", &conf, now).unwrap();
        let issuer =
            Issuer::new(root.cert_pem.as_bytes(), root.key_pem.expose_secret().as_bytes()).unwrap();
        let issued =
            issuer.issue(csr().as_bytes(), &web("default"), DEFAULT_DP_CERT_VALIDITY, now).unwrap();
        assert_eq!(certs(&issued.trust_bundle_pem), certs(&root.cert_pem));
        check_everywhere("default", &issued);
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.distinguished_name.push(DnType::OrganizationName, "Example");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

#[test]
fn provided_ca_with_an_intermediate_issues_verifiable_chains() {
    let now = OffsetDateTime::now_utc();
    let root =
        CertifiedIssuer::self_signed(ca_params("root"), KeyPair::generate().unwrap()).unwrap();
    let inter_key = KeyPair::generate().unwrap();
    let inter_key_pem = inter_key.serialize_pem();
    let inter = CertifiedIssuer::signed_by(ca_params("intermediate"), inter_key, &root).unwrap();
    let chain = format!("{}{}", inter.pem(), root.pem());
    assert!(
        validate_provided("conf", chain.as_bytes(), inter_key_pem.as_bytes()).unwrap().is_empty()
    );

    let issuer = Issuer::new(chain.as_bytes(), inter_key_pem.as_bytes()).unwrap();
    let issued =
        issuer.issue(csr().as_bytes(), &web("payments"), Duration::from_secs(3600), now).unwrap();
    assert_eq!(certs(&issued.chain_pem).len(), 2);
    check_everywhere("payments", &issued);

    // Path building through the intermediate, with only the root trusted.
    webpki_verify(&issued, &root.pem()).unwrap();
    let files = write_files(&issued);
    let root_file = files.bundle.with_file_name("root.pem");
    std::fs::write(&root_file, root.pem()).unwrap();
    openssl_verify(&files, &root_file).unwrap();
}

#[test]
fn verifiers_reject_a_leaf_from_another_ca() {
    let now = OffsetDateTime::now_utc();
    let conf = BuiltinConf::default();
    let ours = generate_builtin_root("default", &conf, now).unwrap();
    let theirs = generate_builtin_root("default", &conf, now).unwrap();
    let issuer =
        Issuer::new(theirs.cert_pem.as_bytes(), theirs.key_pem.expose_secret().as_bytes()).unwrap();
    let mut issued =
        issuer.issue(csr().as_bytes(), &web("default"), Duration::from_secs(3600), now).unwrap();
    issued.trust_bundle_pem = ours.cert_pem.clone();

    assert!(webpki_verify(&issued, &ours.cert_pem).is_err());
    let files = write_files(&issued);
    assert!(openssl_verify(&files, &files.bundle).is_err());
    if let Some(result) = python_check("default", &files) {
        assert!(result.is_err());
    }
}

#[test]
fn python_check_rejects_a_ca_as_leaf_and_a_foreign_trust_domain() {
    let now = OffsetDateTime::now_utc();
    let root = generate_builtin_root("default", &BuiltinConf::default(), now).unwrap();
    let issuer =
        Issuer::new(root.cert_pem.as_bytes(), root.key_pem.expose_secret().as_bytes()).unwrap();
    let issued =
        issuer.issue(csr().as_bytes(), &web("default"), Duration::from_secs(3600), now).unwrap();
    let files = write_files(&issued);
    if let Some(result) = python_check("other-mesh", &files) {
        let err = result.unwrap_err();
        assert!(err.contains("trust domain"), "{err}");
    }
    std::fs::write(&files.leaf, &root.cert_pem).unwrap();
    if let Some(result) = python_check("default", &files) {
        let err = result.unwrap_err();
        assert!(err.contains("leaf is a CA"), "{err}");
    }
}

#[test]
fn provided_ca_and_csr_made_by_openssl_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    // The sample CA from Kuma's documentation: CA:TRUE,pathlen:0 and keyUsage=keyCertSign.
    let config = path("ca.cnf");
    std::fs::write(
        &config,
        "[req]\ndistinguished_name=dn\n[ dn ]\n[ ext ]\nbasicConstraints=CA:TRUE,pathlen:0\n\
         keyUsage=keyCertSign\n",
    )
    .unwrap();
    let out = openssl(&[
        "req",
        "-config",
        &config,
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/C=GB/O=Alice Ltd/CN=Hello",
        "-x509",
        "-extensions",
        "ext",
        "-keyout",
        &path("key.pem"),
        "-out",
        &path("crt.pem"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=admin",
        "-keyout",
        &path("dp.key"),
        "-out",
        &path("dp.csr"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cert = std::fs::read(path("crt.pem")).unwrap();
    let key = std::fs::read(path("key.pem")).unwrap();
    let csr = std::fs::read(path("dp.csr")).unwrap();

    assert!(validate_provided("conf", &cert, &key).unwrap().is_empty());
    let issuer = Issuer::new(&cert, &key).unwrap();
    let issued = issuer
        .issue(&csr, &web("default"), Duration::from_secs(3600), OffsetDateTime::now_utc())
        .unwrap();
    check_everywhere("default", &issued);
}

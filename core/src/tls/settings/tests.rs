use rustls::CipherSuite;

use super::*;

fn opts(min: Version, max: Option<Version>, suites: &[&str]) -> ServerTlsOptions {
    ServerTlsOptions {
        min_version: min,
        max_version: max,
        cipher_suites: suites.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn go_names_and_aliases_map_onto_rustls_suites() {
    let cases = [
        ("TLS_AES_128_GCM_SHA256", CipherSuite::TLS13_AES_128_GCM_SHA256),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ];
    for (name, want) in cases {
        assert_eq!(cipher_suite(name).unwrap().suite(), want, "{name}");
    }
}

#[test]
fn unsupported_cipher_names_are_refused_by_name() {
    for name in ["TLS_RSA_WITH_AES_128_CBC_SHA", "tls_aes_128_gcm_sha256", "bogus"] {
        let err = cipher_suite(name).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
    let err =
        opts(Version::Tls12, None, &["TLS_AES_128_GCM_SHA256", "nope"]).provider().unwrap_err();
    assert_eq!(err.to_string(), "cipher suite \"nope\" is unknown or not supported");
}

#[test]
fn tls12_only_list_keeps_every_tls13_suite() {
    let provider = opts(Version::Tls12, None, &["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"])
        .provider()
        .unwrap();
    let tls12: Vec<_> =
        provider.cipher_suites.iter().filter(|s| s.tls13().is_none()).map(|s| s.suite()).collect();
    assert_eq!(tls12, [CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]);
    assert_eq!(provider.cipher_suites.iter().filter(|s| s.tls13().is_some()).count(), 3);
}

#[test]
fn naming_a_tls13_suite_filters_tls13_too() {
    let provider = opts(Version::Tls13, None, &["TLS_AES_256_GCM_SHA384"]).provider().unwrap();
    let names: Vec<_> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
    assert_eq!(names, [CipherSuite::TLS13_AES_256_GCM_SHA384]);
}

#[test]
fn versions_follow_min_and_max() {
    let v =
        |o: ServerTlsOptions| o.versions().unwrap().iter().map(|v| v.version).collect::<Vec<_>>();
    use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
    assert_eq!(v(opts(Version::Tls12, None, &[])), [TLSv1_2, TLSv1_3]);
    assert_eq!(v(opts(Version::Tls13, None, &[])), [TLSv1_3]);
    assert_eq!(v(opts(Version::Tls12, Some(Version::Tls12), &[])), [TLSv1_2]);
    let err = opts(Version::Tls13, Some(Version::Tls12), &[]).versions().unwrap_err();
    assert_eq!(err.to_string(), "TLS min version TLSv1_3 is above max version TLSv1_2");
}

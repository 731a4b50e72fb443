//! rustls client configurations for kumactl and the zone's connections to the global.
//!
//! Verification is on unless the caller goes through [`dangerous_unverified_client_config`],
//! whose name makes the choice visible where it is made.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::server::root_store;
use super::{CertPair, Error};

/// A client configuration that verifies the server against `roots_pem`, or against the Mozilla
/// roots when `None`. TLS 1.2 and 1.3, aws-lc-rs, no client certificate.
pub fn client_config(roots_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, Error> {
    let roots = match roots_pem {
        Some(pem) => root_store(pem, "CA bundle")?,
        None => RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
    };
    Ok(builder()?.with_root_certificates(roots).with_no_client_auth())
}

/// As [`client_config`], presenting `identity` (a client certificate chain and its key) to servers
/// that ask for one: kumactl's `--client-cert-file`/`--client-key-file`, a zone's KDS certificate.
pub fn client_config_with_identity(
    roots_pem: Option<&[u8]>,
    identity: &CertPair,
) -> Result<rustls::ClientConfig, Error> {
    let roots = match roots_pem {
        Some(pem) => root_store(pem, "CA bundle")?,
        None => RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
    };
    builder()?
        .with_root_certificates(roots)
        .with_client_auth_cert(identity.chain()?, identity.key()?)
        .map_err(Error::Config)
}

/// A client configuration that accepts any server certificate (Kuma's `skip-verify`). The
/// handshake signature is still checked, so the peer must hold the key of what it presents.
pub fn dangerous_unverified_client_config() -> Result<rustls::ClientConfig, Error> {
    let algorithms = aws_lc_rs::default_provider().signature_verification_algorithms;
    Ok(builder()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { algorithms }))
        .with_no_client_auth())
}

fn builder() -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, Error> {
    rustls::ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(Error::Config)
}

#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

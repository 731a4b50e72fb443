//! The check Kuma's bootstrap makes before a proxy may connect: the host of `--cp-address` must be
//! one of the SANs of the control plane's certificate, or kuma-dp stops with Kuma's message.
//!
//! [`fetch_sans`] reads the certificate the server presents without verifying it (only its names
//! are used; trust is checked afterwards by `kuma_core::net::connect`). This module must not decide
//! whether the certificate is trusted.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use x509_parser::extensions::GeneralName;

/// Deadline of the TCP connect plus the TLS handshake.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the SANs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TLS configuration could not be built.
    #[error("building the TLS configuration")]
    Tls(#[source] kuma_core::tls::Error),
    /// The host is not a valid server name.
    #[error("invalid host {0:?}")]
    Host(String),
    /// Nobody answered, or the handshake failed or timed out.
    #[error("{address} is unreachable")]
    Unreachable {
        /// `host:port`.
        address: String,
        /// The socket or handshake error.
        #[source]
        source: std::io::Error,
    },
    /// The server sent no certificate.
    #[error("{0} presented no certificate")]
    NoCertificate(String),
    /// The server answered the handshake in plain text: not a TLS port.
    #[error("{0} answered in plain text, not TLS")]
    NotTls(String),
}

/// The DNS and IP SANs of the certificate `host:port` presents, in certificate order.
pub async fn fetch_sans(host: &str, port: u16) -> Result<Vec<String>, Error> {
    let mut config = kuma_core::tls::dangerous_unverified_client_config().map_err(Error::Tls)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from(host.to_owned()).map_err(|_| Error::Host(host.to_owned()))?;
    let address = format!("{host}:{port}");
    let unreachable = |source| Error::Unreachable { address: address.clone(), source };
    let handshake = async {
        let tcp = TcpStream::connect((host, port)).await?;
        TlsConnector::from(Arc::new(config)).connect(name, tcp).await
    };
    let tls = tokio::time::timeout(FETCH_TIMEOUT, handshake)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        .map_err(|err| {
            let inner = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
            match inner {
                Some(rustls::Error::InvalidMessage(_)) => Error::NotTls(address.clone()),
                _ => unreachable(err),
            }
        })?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or_else(|| Error::NoCertificate(address.clone()))?;
    Ok(sans(leaf))
}

/// The DNS and IP SANs of a DER certificate (empty when it has none or does not parse).
pub fn sans(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(name) => Some((*name).to_owned()),
            GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

/// Whether `host` is one of `sans`: IPs compare as addresses, names case-insensitively, and
/// `*.example.com` stands for exactly one leftmost label.
pub fn host_matches(host: &str, sans: &[String]) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return sans.iter().any(|san| san.parse::<IpAddr>().is_ok_and(|s| s == ip));
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    sans.iter().any(|san| {
        let san = san.trim_end_matches('.').to_ascii_lowercase();
        match san.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => san == host,
        }
    })
}

/// Kuma's message for a `--cp-address` whose host is not a SAN (`%q` of a Go string and of a Go
/// string slice), ending with the fix.
pub fn mismatch_message(host: &str, sans: &[String]) -> String {
    let quoted: Vec<String> = sans.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "A data plane proxy is trying to connect to the control plane using {host:?} address, but \
         the certificate in the control plane has the following SANs [{}]. Either change the \
         --cp-address in kuma-dp to one of those or execute the following steps: regenerate the \
         control plane certificate with {host:?} among its SANs (for example 'kumactl generate \
         tls-certificate --type=server --hostname={host}'), point KUMA_GENERAL_TLS_CERT_FILE and \
         KUMA_GENERAL_TLS_KEY_FILE at it and restart the control plane.",
        quoted.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_match_case_insensitively_and_ips_as_addresses() {
        let sans = list(&["Kuma-CP.example.com", "127.0.0.1", "::1"]);
        assert!(host_matches("kuma-cp.example.com", &sans));
        assert!(host_matches("kuma-cp.example.com.", &sans));
        assert!(host_matches("127.0.0.1", &sans));
        assert!(host_matches("0:0:0:0:0:0:0:1", &sans));
        assert!(!host_matches("localhost", &sans));
        assert!(!host_matches("127.0.0.2", &sans));
        // An IP is never matched by a DNS SAN spelling it.
        assert!(!host_matches("10.0.0.1", &list(&["10.0.0.1.nip.io"])));
    }

    #[test]
    fn a_wildcard_stands_for_one_label() {
        let sans = list(&["*.mesh.local"]);
        assert!(host_matches("cp.mesh.local", &sans));
        assert!(!host_matches("a.cp.mesh.local", &sans));
        assert!(!host_matches("mesh.local", &sans));
    }

    #[test]
    fn sans_reads_dns_and_ip_names_in_order() {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params.subject_alt_names.push(rcgen::SanType::URI("spiffe://x/y".try_into().unwrap()));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(sans(cert.der()), list(&["localhost", "127.0.0.1"]));
        assert!(sans(b"not a certificate").is_empty());
    }

    #[test]
    fn the_message_is_kumas_with_go_quoting() {
        let msg = mismatch_message("cp.example", &list(&["localhost", "127.0.0.1"]));
        assert!(msg.starts_with(
            "A data plane proxy is trying to connect to the control plane using \"cp.example\" \
             address, but the certificate in the control plane has the following SANs \
             [\"localhost\" \"127.0.0.1\"]. Either change the --cp-address in kuma-dp to one of \
             those or execute the following steps: "
        ));
        assert!(msg.ends_with("restart the control plane."));
    }
}

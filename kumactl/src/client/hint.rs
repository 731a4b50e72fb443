//! What a failed connection most likely means, in words that say what to do: a certificate the
//! CA file does not vouch for, a plain-HTTP port dialed with `https://` (and the reverse), a
//! certificate made for another name. Decided from the error types in the chain (rustls, hyper),
//! never from message text.

use std::error::Error as StdError;
use std::path::Path;

use rustls::CertificateError;

/// The hint for a request to `url` that failed with `err`, if the cause is recognised.
/// `ca_file` is the `--ca-cert-file` the client trusts, if any.
pub(super) fn for_request(
    err: &reqwest::Error,
    url: &str,
    ca_file: Option<&Path>,
) -> Option<String> {
    if let Some(tls) = find::<rustls::Error>(err) {
        return Some(tls_hint(tls, url, ca_file));
    }
    let hyper = find::<hyper::Error>(err);
    if url.starts_with("http://")
        && hyper.is_some_and(|h| h.is_parse() || h.is_incomplete_message())
    {
        return Some(format!(
            "the server at {url} did not answer in HTTP: this looks like an HTTPS port (the \
             API serves HTTPS on 5682 and plain HTTP on 5681); use https:// with --ca-cert-file"
        ));
    }
    None
}

fn tls_hint(err: &rustls::Error, url: &str, ca_file: Option<&Path>) -> String {
    match err {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => match ca_file {
            Some(ca) => format!(
                "the server's certificate is not signed by --ca-cert-file {}; if the control \
                 plane was restarted with a new work dir its certificate changed: add it again \
                 with its current <work dir>/kuma-cp.crt",
                ca.display()
            ),
            None => "the server's certificate is not signed by a public CA: add the control \
                     plane again with --ca-cert-file (its <work dir>/kuma-cp.crt unless it was \
                     given its own certificate)"
                .to_owned(),
        },
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the server's certificate is not valid for the host of {url}: use a name or address \
             the certificate was made for"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired".to_owned(),
        rustls::Error::InvalidMessage(_) => format!(
            "the server at {url} answered in plain HTTP, not TLS: use http:// for this port (the \
             API serves plain HTTP on 5681 and HTTPS on 5682)"
        ),
        other => format!("the TLS handshake failed: {other}"),
    }
}

/// The first error of type `T` in `err`'s chain, looking inside I/O errors too (their `source`
/// skips the error they wrap).
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = current.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && let Some(found) = find::<T>(inner)
        {
            return Some(found);
        }
        next = current.source();
    }
    None
}

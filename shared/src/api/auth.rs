//! Who is calling: a verified client certificate, Kuma's localhost-is-admin rule, a bearer user
//! token, else an anonymous user.
//!
//! A client certificate that verified against `KUMA_API_SERVER_HTTPS_TLS_CA_FILE` makes an admin
//! (Kuma's `adminClientCerts`). Authorization decisions live with the handlers; this module only
//! says who the caller is.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use time::OffsetDateTime;

use super::ApiState;
use super::error::ApiError;
use super::serve::VerifiedClientCert;
use crate::config::Allowed;
use crate::credentials;

/// Kuma's built-in admin user and group.
pub const ADMIN: &str = "mesh-system:admin";
/// The user of requests without credentials.
pub const ANONYMOUS: &str = "mesh-system:anonymous";
/// The group of requests without credentials.
pub const UNAUTHENTICATED: &str = "mesh-system:unauthenticated";
/// The group every authenticated user is in.
pub const AUTHENTICATED: &str = "mesh-system:authenticated";

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name, e.g. `mesh-system:admin`.
    pub name: String,
    /// Groups, e.g. `mesh-system:admin`, `mesh-system:authenticated`.
    pub groups: Vec<String>,
    /// The peer address, for the audit log (empty when unknown).
    pub source: String,
}

impl User {
    /// The admin Kuma makes of a local caller.
    pub fn admin() -> Self {
        Self {
            name: ADMIN.to_owned(),
            groups: vec![ADMIN.to_owned(), AUTHENTICATED.to_owned()],
            source: String::new(),
        }
    }

    /// A caller without credentials.
    pub fn anonymous() -> Self {
        Self {
            name: ANONYMOUS.to_owned(),
            groups: vec![UNAUTHENTICATED.to_owned()],
            source: String::new(),
        }
    }

    /// Whether the request carried no credentials.
    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS
    }

    /// Whether `allowed` names this user or one of its groups.
    pub fn is_in(&self, allowed: &Allowed) -> bool {
        allowed.users.contains(&self.name) || self.groups.iter().any(|g| allowed.groups.contains(g))
    }

    /// Kuma's 403 detail for this user and action.
    pub fn denied(&self, action: &str) -> ApiError {
        ApiError::Forbidden {
            detail: format!("user {:?} cannot access {action}", self.to_string()),
        }
    }

    fn from(mut self, peer: Option<SocketAddr>) -> Self {
        self.source = peer.map(|p| p.to_string()).unwrap_or_default();
        self
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.groups.join(","))
    }
}

impl FromRequestParts<ApiState> for User {
    type Rejection = ApiError;

    /// Client certificate, then Kuma's localhost rule, then a bearer user token; else anonymous.
    /// A bearer token that fails validation is a 401, never a silent downgrade to anonymous.
    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        if parts.extensions.get::<VerifiedClientCert>().is_some() {
            return Ok(User::admin().from(peer));
        }
        if state.auth().localhost_is_admin
            && peer.is_some_and(|p| is_local_request(p.ip(), &parts.headers))
        {
            return Ok(User::admin().from(peer));
        }
        let Some(authorization) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(User::anonymous().from(peer));
        };
        let source = peer.map(|p| p.to_string()).unwrap_or_default();
        let token = authorization
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let Some(token) = token else {
            state.auth_failed(
                "malformed_header",
                "the Authorization header is not `Bearer <token>`".into(),
                &source,
            );
            return Err(ApiError::Unauthenticated);
        };
        match state.credentials().authenticate_user(token, OffsetDateTime::now_utc()).await {
            Ok(valid) => {
                let mut groups = valid.claims.groups;
                groups.push(AUTHENTICATED.to_owned());
                Ok(User { name: valid.claims.name, groups, source })
            }
            Err(credentials::Error::Token(err)) => {
                state.auth_failed(err.reason(), err.to_string(), &source);
                Err(ApiError::Unauthenticated)
            }
            Err(other) => Err(ApiError::Internal(Box::new(other))),
        }
    }
}

/// Kuma's localhost rule, decided by the peer address: the TCP peer is loopback, nothing says
/// the request was relayed by a proxy on this host, and no browser says a page of another site
/// drives it.
///
/// Unlike Kuma, the `Host` header (HTTP/1) or `:authority` (HTTP/2) plays no part: a caller
/// chooses it freely, so it cannot make a request local, and HTTP/2 requests carry none, so
/// requiring one turned local h2c callers into anonymous ones. Browsers are told apart by the
/// fetch metadata they send instead: a request a page makes (`Sec-Fetch-Site` other than `none`)
/// is local only when it is same-origin with a loopback `Origin`, so a page that rebinds its own DNS name to 127.0.0.1
/// (same-origin in the browser's eyes, with no `Origin` on a GET) is not an admin.
pub fn is_local_request(peer: IpAddr, headers: &HeaderMap) -> bool {
    if !peer.to_canonical().is_loopback() {
        return false;
    }
    if ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| headers.contains_key(*h)) {
        return false;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let origin_is_local = header("origin").is_some_and(origin_is_loopback);
    match header("sec-fetch-site") {
        // Not a browser, or a user typing the URL.
        None | Some("" | "none") => header("origin").is_none() || origin_is_local,
        // A page's request to its own origin: only a page served from loopback itself.
        Some("same-origin") => origin_is_local,
        // Another site's page, even one on another port of this host (Kuma refuses it too).
        Some(_) => false,
    }
}

/// An `Origin` of `http(s)://` and a loopback host (`localhost`, `127.x.y.z`, `[::1]`).
fn origin_is_loopback(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    is_loopback_host(rest)
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let host = strip_port(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

fn strip_port(host: &str) -> &str {
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address, not host:port.
        Some((h, _)) if !h.contains(':') => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn plain_local_request_is_admin_whatever_the_host_header() {
        assert!(is_local_request(LOOPBACK, &headers(&[("host", "localhost:5681")])));
        assert!(is_local_request(LOOPBACK, &headers(&[("host", "127.0.0.1:5682")])));
        assert!(is_local_request("::1".parse().unwrap(), &headers(&[("host", "[::1]:5681")])));
        // HTTP/2 has no Host header; a name the machine is known by is still this machine.
        assert!(is_local_request(LOOPBACK, &headers(&[])));
        assert!(is_local_request(LOOPBACK, &headers(&[("host", "cp.example.com:5681")])));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(is_local_request(mapped, &headers(&[])));
    }

    #[test]
    fn remote_peer_is_not_admin_whatever_the_host_header() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(!is_local_request(peer, &headers(&[("host", "localhost:5681")])));
        assert!(!is_local_request(peer, &headers(&[])));
    }

    #[test]
    fn proxied_request_is_not_admin() {
        for h in ["forwarded", "x-forwarded-for", "x-real-ip"] {
            let map = headers(&[("host", "localhost"), (h, "10.0.0.1")]);
            assert!(!is_local_request(LOOPBACK, &map), "{h}");
        }
    }

    #[test]
    fn cross_site_browser_request_is_not_admin() {
        let map = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(!is_local_request(LOOPBACK, &map));
        let map = headers(&[("origin", "http://evil.example")]);
        assert!(!is_local_request(LOOPBACK, &map));
        let map = headers(&[("origin", "http://localhost:5681")]);
        assert!(is_local_request(LOOPBACK, &map));
        let map = headers(&[("sec-fetch-site", "none")]);
        assert!(is_local_request(LOOPBACK, &map));
        let map = headers(&[("sec-fetch-site", "same-site"), ("origin", "http://localhost:3000")]);
        assert!(!is_local_request(LOOPBACK, &map));
    }

    #[test]
    fn a_rebound_page_is_not_admin() {
        // evil.example resolved to 127.0.0.1: the browser calls its GET same-origin and sends
        // no Origin; its POST carries the page's origin.
        let get = headers(&[("host", "evil.example:5681"), ("sec-fetch-site", "same-origin")]);
        assert!(!is_local_request(LOOPBACK, &get));
        let post =
            headers(&[("sec-fetch-site", "same-origin"), ("origin", "http://evil.example:5681")]);
        assert!(!is_local_request(LOOPBACK, &post));
        let local_page =
            headers(&[("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:5681")]);
        assert!(is_local_request(LOOPBACK, &local_page));
    }

    #[test]
    fn user_display_matches_kuma() {
        let err = User::anonymous().denied("the resource of type \"Secret\"");
        assert_eq!(
            err.to_string(),
            "user \"mesh-system:anonymous/mesh-system:unauthenticated\" cannot access the \
             resource of type \"Secret\""
        );
    }
}

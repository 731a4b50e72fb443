//! The HTTP client for one control plane's REST API, with Kuma's error body decoded.
//!
//! TLS comes from `kuma_core::tls`; this module must not build rustls configurations itself, nor
//! know which resource a path names.

use std::fmt;
use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::config::{AUTH_CONF_TOKEN, AUTH_TYPE_TOKENS, ApiServer, ControlPlane};

mod hint;

/// Errors talking to the control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading CA certificate {path}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuring TLS")]
    Tls(#[source] kuma_core::tls::Error),
    #[error("loading the client certificate")]
    ClientCert(#[source] kuma_core::tls::Error),
    #[error("Both --client-cert-file and --client-key-file needs to be specified")]
    HalfClientCert,
    #[error("authentication plugin of type {0:?} is not found")]
    UnknownAuthType(String),
    #[error("--auth-conf is not valid: provide token=YOUR_TOKEN")]
    MissingToken,
    #[error("building the HTTP client")]
    Build(#[source] reqwest::Error),
    #[error("{method} {url}")]
    Request {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A request failed for a reason we recognise; `hint` says what to do.
    #[error("{method} {url}: {hint}")]
    Diagnosed {
        method: Method,
        url: String,
        hint: String,
        #[source]
        source: reqwest::Error,
    },
    /// The control plane refused the user token saved for it.
    #[error(
        "the control plane refused the user token saved for Control Plane {cp:?} ({error}): it \
         may have expired, been revoked, or been signed by a key that no longer exists; generate \
         a new one and run `kumactl config control-planes add --name {cp} --overwrite ... \
         --auth-type tokens --auth-conf token=<new token>`"
    )]
    TokenRefused { cp: String, error: ApiError },
    /// The server answered with a non-2xx status.
    #[error("{0}")]
    Api(ApiError),
}

/// Kuma's error body (`{type, status, title, detail, invalid_parameters}`), or the bare status
/// when the body is something else.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub invalid_parameters: Vec<InvalidParameter>,
}

/// One field the server refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InvalidParameter {
    pub field: String,
    pub reason: String,
}

/// A client for one control plane.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    /// The control plane's name in the configuration, for messages.
    name: String,
    /// `--ca-cert-file`, for messages.
    ca_file: Option<PathBuf>,
    http: reqwest::Client,
    /// The user token sent as `Authorization: Bearer` on every request.
    token: Option<SecretString>,
}

impl Client {
    /// A client for `cp`; HTTPS is verified against its CA file, or the Mozilla roots, and
    /// presents the configured client certificate. With `authType: tokens`, every request
    /// carries the configured user token.
    pub fn new(cp: &ControlPlane) -> Result<Self, Error> {
        let api = &cp.coordinates.api_server;
        let token = bearer_token(api)?;
        let roots = match &api.ca_cert_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|source| Error::ReadCa { path: path.clone(), source })?,
            ),
            None => None,
        };
        let tls = match (&api.client_cert_file, &api.client_key_file) {
            (Some(cert), Some(key)) => {
                let pair = kuma_core::tls::load_pair(cert, key).map_err(Error::ClientCert)?;
                kuma_core::tls::client_config_with_identity(roots.as_deref(), &pair)
            }
            (None, None) => kuma_core::tls::client_config(roots.as_deref()),
            _ => return Err(Error::HalfClientCert),
        }
        .map_err(Error::Tls)?;
        let http =
            reqwest::Client::builder().use_preconfigured_tls(tls).build().map_err(Error::Build)?;
        Ok(Self {
            base: api.url.trim_end_matches('/').to_owned(),
            name: cp.name.clone(),
            ca_file: api.ca_cert_file.clone(),
            http,
            token,
        })
    }

    /// The API server's URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`, decoded as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Error> {
        let bytes = self.send(Method::GET, path, None).await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        // A 2xx body that is not JSON carries nothing we use.
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<(), Error> {
        self.send(Method::PUT, path, Some(body)).await.map(drop)
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<(), Error> {
        self.send(Method::DELETE, path, None).await.map(drop)
    }

    /// `POST path` with a JSON body; the answer is text (a token endpoint's raw token).
    pub async fn post_text(&self, path: &str, body: &Value) -> Result<String, Error> {
        let bytes = self.send(Method::POST, path, Some(body)).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, Error> {
        let url = format!("{}{path}", self.base);
        let request_error = |source: reqwest::Error| match hint::for_request(
            &source,
            &url,
            self.ca_file.as_deref(),
        ) {
            Some(hint) => {
                Error::Diagnosed { method: method.clone(), url: url.clone(), hint, source }
            }
            None => Error::Request { method: method.clone(), url: url.clone(), source },
        };
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(request_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(request_error)?;
        if !status.is_success() {
            let error = ApiError::from_body(status, &bytes);
            if status == StatusCode::UNAUTHORIZED && self.token.is_some() {
                return Err(Error::TokenRefused { cp: self.name.clone(), error });
            }
            return Err(Error::Api(error));
        }
        Ok(bytes.to_vec())
    }
}

/// The token of Kuma's `tokens` auth plugin, checked as `config control-planes add` checks it, so
/// that a hand-edited file fails the same way.
fn bearer_token(api: &ApiServer) -> Result<Option<SecretString>, Error> {
    match api.auth_type.as_deref() {
        None | Some("") => Ok(None),
        Some(AUTH_TYPE_TOKENS) => match api.auth_conf.get(AUTH_CONF_TOKEN) {
            Some(token) if !token.is_empty() => Ok(Some(SecretString::from(token.as_str()))),
            _ => Err(Error::MissingToken),
        },
        Some(other) => Err(Error::UnknownAuthType(other.to_owned())),
    }
}

impl ApiError {
    fn from_body(status: StatusCode, body: &[u8]) -> Self {
        let mut error = serde_json::from_slice::<Self>(body).unwrap_or_else(|_| Self {
            status: 0,
            title: String::new(),
            detail: String::from_utf8_lossy(body).trim().to_owned(),
            invalid_parameters: Vec::new(),
        });
        error.status = status.as_u16();
        if error.title.is_empty() {
            error.title = status.canonical_reason().unwrap_or("error").to_owned();
        }
        error
    }
}

impl fmt::Display for ApiError {
    /// `title (detail)` then one `* field: reason` line per invalid parameter, as kumactl prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title)?;
        if !self.detail.is_empty() && self.detail != self.title {
            write!(f, " ({})", self.detail)?;
        }
        for p in &self.invalid_parameters {
            write!(f, "\n* {}: {}", p.field, p.reason)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kuma_error_body_prints_title_detail_and_fields() {
        let body = br#"{"type":"/std-errors","status":400,"title":"Resource is not valid",
            "detail":"mesh: must not be empty","invalid_parameters":[
            {"field":"mtls.backends[0].name","reason":"cannot be empty"},
            {"field":"name","reason":"invalid characters"}]}"#;
        let err = ApiError::from_body(StatusCode::BAD_REQUEST, body);
        assert_eq!(err.status, 400);
        assert_eq!(
            err.to_string(),
            "Resource is not valid (mesh: must not be empty)\n\
             * mtls.backends[0].name: cannot be empty\n\
             * name: invalid characters"
        );
    }

    #[test]
    fn non_json_error_body_keeps_status_and_text() {
        let err = ApiError::from_body(StatusCode::BAD_GATEWAY, b"upstream down\n");
        assert_eq!(err.status, 502);
        assert_eq!(err.to_string(), "Bad Gateway (upstream down)");
    }

    #[test]
    fn tokens_auth_needs_a_token_and_other_types_are_unknown() {
        let mut cp = ControlPlane::new("cp", "http://127.0.0.1:1", None);
        assert!(Client::new(&cp).unwrap().token.is_none());

        let api = &mut cp.coordinates.api_server;
        api.auth_type = Some("tokens".to_owned());
        let err = Client::new(&cp).unwrap_err();
        assert_eq!(err.to_string(), "--auth-conf is not valid: provide token=YOUR_TOKEN");

        let api = &mut cp.coordinates.api_server;
        api.auth_conf.insert("token".to_owned(), "t".to_owned());
        let client = Client::new(&cp).unwrap();
        assert_eq!(client.token.as_ref().map(|t| t.expose_secret()), Some("t"));

        cp.coordinates.api_server.auth_type = Some("ldap".to_owned());
        let err = Client::new(&cp).unwrap_err();
        assert_eq!(err.to_string(), "authentication plugin of type \"ldap\" is not found");
    }

    #[test]
    fn client_cert_and_key_come_together() {
        let mut cp = ControlPlane::new("cp", "https://127.0.0.1:1", None);
        cp.coordinates.api_server.client_cert_file = Some("/c.pem".into());
        let err = Client::new(&cp).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Both --client-cert-file and --client-key-file needs to be specified"
        );
    }
}

//! `ApiError`: every failure of a REST handler, mapped once onto Kuma's error body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kuma_core::resources::ValidationError;
use serde::Serialize;
use store;

/// A REST failure. Client errors carry what the client needs; server errors carry nothing that
/// would leak internals (the cause is logged where the error is turned into a response).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request body or path failed validation.
    #[error("resource is not valid")]
    Invalid(#[from] ValidationError),
    /// The request is malformed (bad JSON, bad query, …).
    #[error("{detail}")]
    BadRequest {
        /// Shown to the client.
        detail: String,
    },
    /// Nothing under that path.
    #[error("not found")]
    NotFound,
    /// No endpoint has that path at all.
    #[error("there is no endpoint at {path}")]
    UnknownPath {
        /// The path asked for.
        path: String,
    },
    /// The path names a resource type this control plane does not have (or not there).
    #[error("{detail}")]
    UnknownType {
        /// Which type, and the ones that exist.
        detail: String,
    },
    /// The request carried credentials that did not validate.
    #[error("the credentials were rejected")]
    Unauthenticated,
    /// No key to sign the requested token with.
    #[error("{detail}")]
    SigningKeyNotFound {
        /// Which key is missing.
        detail: String,
    },
    /// Token issuing through the API is turned off.
    #[error("issuing tokens using the control plane is disabled.")]
    IssuerDisabled,
    /// The caller is known but may not do this.
    #[error("{detail}")]
    Forbidden {
        /// Kuma's `user "<name>/<groups>" cannot access <action>`.
        detail: String,
    },
    /// This control plane refuses writes to that type (multizone rules, read-only mode).
    #[error("{detail}")]
    MethodNotAllowed {
        /// Why, in Kuma's words.
        detail: String,
    },
    /// A concurrent write won, or the resource already exists.
    #[error("{detail}")]
    Conflict {
        /// What clashed.
        detail: String,
    },
    /// The body is neither JSON nor YAML (or says nothing about what it is).
    #[error("{detail}")]
    UnsupportedMediaType {
        /// What was sent and what is accepted.
        detail: String,
    },
    /// The body is larger than `KUMA_API_SERVER_MAX_BODY_BYTES`.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The caller's address went over a per-client limit (`KUMA_API_SERVER_RATE_LIMIT_*`).
    #[error("too many requests from this address; retry in {retry_after_secs} s")]
    TooManyRequests {
        /// Sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// Anything else: the store failed, a bug. Logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Kuma's error body (`pkg/core/rest/errors/types`).
#[derive(Debug, Serialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: &'static str,
    status: u16,
    title: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    invalid_parameters: Vec<InvalidParameter>,
}

#[derive(Debug, Serialize)]
struct InvalidParameter {
    field: String,
    reason: String,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "Resource is not valid"),
            Self::BadRequest { .. } => (StatusCode::BAD_REQUEST, "Bad Request"),
            Self::NotFound | Self::UnknownPath { .. } => (StatusCode::NOT_FOUND, "Not found"),
            Self::UnknownType { .. } => (StatusCode::NOT_FOUND, "Unknown resource type"),
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "Unauthenticated"),
            Self::SigningKeyNotFound { .. } => (StatusCode::NOT_FOUND, "Signing Key not found"),
            Self::IssuerDisabled => (StatusCode::BAD_REQUEST, "Bad Request"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "Access Denied"),
            Self::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            Self::Conflict { .. } => (StatusCode::CONFLICT, "Conflict"),
            Self::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type")
            }
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title) = self.parts();
        let invalid_parameters = match &self {
            Self::Invalid(e) => e
                .violations
                .iter()
                .map(|v| InvalidParameter { field: v.field.clone(), reason: v.message.clone() })
                .collect(),
            _ => Vec::new(),
        };
        let detail = match &self {
            Self::Internal(cause) => {
                tracing::error!(error = %cause, source = ?cause.source(), "api request failed");
                "internal server error, see the control plane log".to_owned()
            }
            Self::Invalid(e) => e.to_string(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            kind: "/std-errs",
            status: status.as_u16(),
            title,
            detail,
            invalid_parameters,
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::TooManyRequests { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<store::Error> for ApiError {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::NotFound { .. } => Self::NotFound,
            store::Error::AlreadyExists { key } => {
                Self::Conflict { detail: format!("resource already exists: {key}") }
            }
            store::Error::Conflict { key, expected, actual } => Self::Conflict {
                detail: format!(
                    "resource {key} was modified concurrently: expected version {expected}, \
                     found {actual}; read it again and retry"
                ),
            },
            other => Self::Internal(Box::new(other)),
        }
    }
}

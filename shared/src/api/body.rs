//! Request bodies: the media type, the size limit, the syntax and the typed read.
//!
//! Every handler that takes a body reads it here, so the rules hold for all of them: the
//! `Content-Type` must be JSON or YAML (else 415, as Kuma's API answers), the body is parsed
//! into a JSON value, and typed reads go through `resources::strict`, which never fills a struct
//! from an array. It does not know which resource or request a body is.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use kuma_core::resources::strict;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// What the detail of a 415 tells the client to send instead.
const ACCEPTED: &str = "send application/json or application/yaml";

/// The syntax of a body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Json,
    Yaml,
}

/// Reads a body as a JSON value: 413 when too large, 415 unless it is declared JSON or YAML,
/// 400 when it does not parse.
pub(super) fn document(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, ApiError> {
    let syntax = syntax(headers)?;
    let body = body.map_err(rejection)?;
    match syntax {
        Syntax::Json => serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest {
            detail: format!("request body is not valid JSON: {err}"),
        }),
        Syntax::Yaml => serde_yaml_ng::from_slice(&body).map_err(|err| ApiError::BadRequest {
            detail: format!("request body is not valid YAML: {err}"),
        }),
    }
}

/// Reads a body as a `T`; a field of the wrong shape is a 400 naming the field.
pub(super) fn typed<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let value = document(headers, body)?;
    strict::parse(value).map_err(ApiError::from)
}

/// Maps a body that could not be read: too large is 413, anything else 400.
pub(super) fn rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest { detail: rejection.body_text() }
    }
}

/// JSON (`application/json`, `…+json`) or YAML (`application/yaml`, `application/x-yaml`,
/// `text/yaml`, `…+yaml`), parameters such as `charset` ignored. A missing `Content-Type` is
/// refused too: Kuma's API treats it as `application/octet-stream`.
fn syntax(headers: &HeaderMap) -> Result<Syntax, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType {
            detail: format!("the request has no Content-Type: {ACCEPTED}"),
        });
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Syntax::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => Ok(Syntax::Yaml),
        e if e.ends_with("+json") => Ok(Syntax::Json),
        e if e.ends_with("+yaml") => Ok(Syntax::Yaml),
        _ => Err(ApiError::UnsupportedMediaType {
            detail: format!("Content-Type {text:?} is not supported: {ACCEPTED}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn json_and_yaml_media_types_are_read() {
        for (ct, body) in [
            ("application/json", r#"{"a": 1}"#),
            ("application/json; charset=utf-8", r#"{"a": 1}"#),
            ("Application/JSON", r#"{"a": 1}"#),
            ("application/merge-patch+json", r#"{"a": 1}"#),
            ("application/yaml", "a: 1\n"),
            ("application/x-yaml", "a: 1\n"),
            ("text/yaml", "a: 1"),
        ] {
            let value = document(&with(ct), Ok(Bytes::from(body))).unwrap();
            assert_eq!(value["a"], 1, "{ct}");
        }
    }

    #[test]
    fn other_or_missing_media_types_are_415() {
        for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""] {
            let err = document(&with(ct), Ok(Bytes::from("{}"))).unwrap_err();
            assert!(matches!(err, ApiError::UnsupportedMediaType { .. }), "{ct}: {err:?}");
        }
        let err = document(&HeaderMap::new(), Ok(Bytes::from("{}"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the request has no Content-Type: send application/json or application/yaml"
        );
    }
}

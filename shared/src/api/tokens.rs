//! `POST /tokens/dataplane`, `/tokens/zone` and `/tokens/user`: Kuma's token endpoints.
//!
//! The caller's address is held to `KUMA_API_SERVER_RATE_LIMIT_TOKENS_*` first (429 with
//! `Retry-After` over it), then access is checked (Kuma does so before validating the body), then
//! the body, then the token is signed with the newest key of its kind. The answer is the raw
//! token as `text/plain`. Bodies are capped at [`MAX_BODY_BYTES`], well under the API's limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kuma_core::resources::{ResourceType, ValidationError};
use kuma_core::tokens::{DataplaneTokenRequest, KeyKind, UserTokenRequest, ZoneTokenRequest};
use store::{self, Key};
use time::OffsetDateTime;

use super::auth::User;
use super::error::ApiError;
use super::{ApiState, body};
use crate::audit::Event;
use crate::config::Allowed;
use crate::credentials;

/// Largest token request body: a request names a mesh, a zone or a user, some tags and a
/// validity, which fits many times over.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub(super) fn routes(state: &ApiState) -> Router<ApiState> {
    let max_body = MAX_BODY_BYTES.min(state.config().max_body_bytes);
    Router::new()
        .route("/tokens/dataplane", post(dataplane))
        .route("/tokens/zone", post(zone))
        .route("/tokens/user", post(user_token))
        .layer(DefaultBodyLimit::max(max_body))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit))
}

/// Holds the caller's address to the token limits for as long as its request runs.
async fn limit(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    // Both listeners insert the peer; a router driven without a socket counts as one address.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    match state.inner.token_limiter.admit(peer) {
        Ok(_permit) => next.run(request).await,
        Err(refusal) => ApiError::TooManyRequests { retry_after_secs: refusal.retry_after_secs() }
            .into_response(),
    }
}

async fn dataplane(
    State(state): State<ApiState>,
    user: User,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let access = &state.config().access.generate_dp_token;
    authorize(&state, &user, access, "generate dataplane token")?;
    if !state.config().issuers.dataplane {
        return Err(ApiError::IssuerDisabled);
    }
    let request: DataplaneTokenRequest = body::typed(&headers, body)?;
    let (claims, valid_for) = request.validate()?;
    ensure_mesh(&state, &claims.mesh).await?;
    let kind = KeyKind::Dataplane { mesh: claims.mesh.clone() };
    issue(&state, &user, &kind, &claims, valid_for, &claims.name, "dataplane").await
}

async fn zone(
    State(state): State<ApiState>,
    user: User,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let access = &state.config().access.generate_zone_token;
    authorize(&state, &user, access, "generate zone token")?;
    if !state.config().issuers.zone {
        return Err(ApiError::IssuerDisabled);
    }
    let request: ZoneTokenRequest = body::typed(&headers, body)?;
    let (claims, valid_for) = request.validate()?;
    issue(&state, &user, &KeyKind::Zone, &claims, valid_for, &claims.zone, "zone").await
}

async fn user_token(
    State(state): State<ApiState>,
    user: User,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let access = &state.config().access.generate_user_token;
    authorize(&state, &user, access, "generate user token")?;
    if !state.config().issuers.user {
        return Err(ApiError::IssuerDisabled);
    }
    let request: UserTokenRequest = body::typed(&headers, body)?;
    let (claims, valid_for) = request.validate()?;
    issue(&state, &user, &KeyKind::User, &claims, valid_for, &claims.name, "user").await
}

/// Refuses, audits and logs a caller that `allowed` does not name.
pub(super) fn authorize(
    state: &ApiState,
    user: &User,
    allowed: &Allowed,
    action: &str,
) -> Result<(), ApiError> {
    if user.is_in(allowed) {
        return Ok(());
    }
    tracing::info!(user = %user, source = %user.source, action, "access denied");
    state.audit(Event::AccessDenied {
        user: user.to_string(),
        action: action.to_owned(),
        source: user.source.clone(),
    });
    Err(user.denied(action))
}

async fn ensure_mesh(state: &ApiState, mesh: &str) -> Result<(), ApiError> {
    match state.store().get(&Key::global(ResourceType::Mesh.name(), mesh)).await {
        Ok(_) => Ok(()),
        Err(store::Error::NotFound { .. }) => {
            Err(ValidationError::single("mesh", format!("mesh of name {mesh:?} is not found"))
                .into())
        }
        Err(err) => Err(err.into()),
    }
}

async fn issue<C: serde::Serialize>(
    state: &ApiState,
    user: &User,
    kind: &KeyKind,
    claims: &C,
    valid_for: std::time::Duration,
    subject: &str,
    label: &'static str,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let issued = state
        .credentials()
        .issue(kind, claims, valid_for, &user.name, subject, now)
        .await
        .map_err(|err| match err {
            credentials::Error::NoSigningKey { .. } => {
                ApiError::SigningKeyNotFound { detail: err.to_string() }
            }
            other => ApiError::Internal(Box::new(other)),
        })?;
    state.metrics().token_issued(label);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], issued.token).into_response())
}

#[cfg(test)]
mod tests;

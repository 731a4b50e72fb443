//! Resource endpoints: list, get, create-or-update and delete for every resource type.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use kuma_core::resources::{
    self, Meta, Origin, Resource, ResourceType, Scope, Spec, ValidationError,
};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{self, Key, Record, Store};

use super::auth::User;
use super::error::ApiError;
use super::{ApiState, Role, body, tokens};
use crate::audit::Event;

/// Kuma's default and largest page size.
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;

const GLOBAL_READ_ONLY: &str = "On global control plane you can not modify dataplane resources \
    with 'kumactl apply' or via the HTTP API. You can still use 'kumactl' or the HTTP API to \
    modify them on the zone control plane.";
const ZONE_READ_ONLY: &str = "On zone control plane you can only modify zone resources with \
    'kumactl apply' or via the HTTP API. You can still use 'kumactl' or the HTTP API to modify \
    the rest of the resource on the global control plane.";

/// Which resource a request addresses.
struct Target {
    ty: ResourceType,
    mesh: Option<String>,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Page {
    size: Option<usize>,
    offset: Option<usize>,
}

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/meshes", get(list_meshes))
        .route("/meshes/{name}", get(get_mesh).put(put_mesh).delete(delete_mesh))
        .route("/meshes/{mesh}/{plural}", get(list_in_mesh))
        .route(
            "/meshes/{mesh}/{plural}/{name}",
            get(get_in_mesh).put(put_in_mesh).delete(delete_in_mesh),
        )
        .route("/{plural}", get(list_top))
        .route("/{plural}/{name}", get(get_top).put(put_top).delete(delete_top))
}

// --- routing glue: each path shape resolves to a Target, then one generic handler runs ---

async fn list_meshes(
    state: State<ApiState>,
    user: User,
    page: Query<Page>,
) -> Result<Response, ApiError> {
    list(state, user, ResourceType::Mesh, None, page.0).await
}

async fn get_mesh(
    state: State<ApiState>,
    user: User,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    read(state, user, Target { ty: ResourceType::Mesh, mesh: None, name }).await
}

async fn put_mesh(
    state: State<ApiState>,
    user: User,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    write(state, user, Target { ty: ResourceType::Mesh, mesh: None, name }, headers, body).await
}

async fn delete_mesh(
    state: State<ApiState>,
    user: User,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    remove(state, user, Target { ty: ResourceType::Mesh, mesh: None, name }).await
}

async fn list_in_mesh(
    state: State<ApiState>,
    user: User,
    Path((mesh, plural)): Path<(String, String)>,
    page: Query<Page>,
) -> Result<Response, ApiError> {
    let ty = mesh_scoped(&plural)?;
    list(state, user, ty, Some(mesh), page.0).await
}

async fn get_in_mesh(
    state: State<ApiState>,
    user: User,
    Path((mesh, plural, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let ty = mesh_scoped(&plural)?;
    read(state, user, Target { ty, mesh: Some(mesh), name }).await
}

async fn put_in_mesh(
    state: State<ApiState>,
    user: User,
    Path((mesh, plural, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ty = mesh_scoped(&plural)?;
    write(state, user, Target { ty, mesh: Some(mesh), name }, headers, body).await
}

async fn delete_in_mesh(
    state: State<ApiState>,
    user: User,
    Path((mesh, plural, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let ty = mesh_scoped(&plural)?;
    remove(state, user, Target { ty, mesh: Some(mesh), name }).await
}

/// `/dataplanes`, `/secrets`, … list across meshes; `/zones`, `/global-secrets` list globals.
async fn list_top(
    state: State<ApiState>,
    user: User,
    Path(plural): Path<String>,
    page: Query<Page>,
) -> Result<Response, ApiError> {
    let ty = ResourceType::from_plural(&plural).ok_or_else(|| unknown_type(&plural, None))?;
    list(state, user, ty, None, page.0).await
}

async fn get_top(
    state: State<ApiState>,
    user: User,
    Path((plural, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ty = global_scoped(&plural)?;
    read(state, user, Target { ty, mesh: None, name }).await
}

async fn put_top(
    state: State<ApiState>,
    user: User,
    Path((plural, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ty = global_scoped(&plural)?;
    write(state, user, Target { ty, mesh: None, name }, headers, body).await
}

async fn delete_top(
    state: State<ApiState>,
    user: User,
    Path((plural, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ty = global_scoped(&plural)?;
    remove(state, user, Target { ty, mesh: None, name }).await
}

fn mesh_scoped(plural: &str) -> Result<ResourceType, ApiError> {
    ResourceType::from_plural(plural)
        .filter(|t| t.scope() == Scope::Mesh)
        .ok_or_else(|| unknown_type(plural, Some(Scope::Mesh)))
}

fn global_scoped(plural: &str) -> Result<ResourceType, ApiError> {
    ResourceType::from_plural(plural)
        .filter(|t| t.scope() == Scope::Global && *t != ResourceType::Mesh)
        .ok_or_else(|| unknown_type(plural, Some(Scope::Global)))
}

/// A 404 that says which types exist where `plural` was asked for (all of them for a list
/// across meshes), or that the type exists but lives elsewhere.
fn unknown_type(plural: &str, scope: Option<Scope>) -> ApiError {
    if let Some(ty) = ResourceType::from_plural(plural) {
        let detail = match ty.scope() {
            Scope::Mesh => format!("{plural} are mesh-scoped: use /meshes/{{mesh}}/{plural}"),
            Scope::Global if ty == ResourceType::Mesh => "use /meshes/{name}".to_owned(),
            Scope::Global => format!("{plural} are not in a mesh: use /{plural}"),
        };
        return ApiError::UnknownType { detail };
    }
    let known: Vec<&str> = ResourceType::ALL
        .into_iter()
        .filter(|t| match scope {
            None => true,
            Some(Scope::Mesh) => t.scope() == Scope::Mesh,
            Some(Scope::Global) => t.scope() == Scope::Global && *t != ResourceType::Mesh,
        })
        .map(ResourceType::plural)
        .collect();
    ApiError::UnknownType {
        detail: format!("unknown resource type {plural:?}; known types are {}", known.join(", ")),
    }
}

// --- the generic handlers ---

async fn list(
    State(state): State<ApiState>,
    user: User,
    ty: ResourceType,
    mesh: Option<String>,
    page: Page,
) -> Result<Response, ApiError> {
    authorize_read(&state, &user, ty)?;
    let size = page.size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    let offset = page.offset.unwrap_or(0);
    let records = state.store().list(ty.name(), mesh.as_deref()).await?;
    audit_secret(&state, &user, ty, "list", mesh.clone(), "*");
    let total = records.len();
    let items = records
        .into_iter()
        .skip(offset)
        .take(size)
        .map(|r| to_resource(ty, r).map(|r| resources::encode(&r)))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    let next = (offset + size < total).then(|| {
        let path = match &mesh {
            Some(m) => format!("/meshes/{m}/{}", ty.plural()),
            None => format!("/{}", ty.plural()),
        };
        format!("{path}?offset={}&size={size}", offset + size)
    });
    Ok(Json(json!({ "total": total, "items": items, "next": next })).into_response())
}

async fn read(
    State(state): State<ApiState>,
    user: User,
    target: Target,
) -> Result<Response, ApiError> {
    authorize_read(&state, &user, target.ty)?;
    let record = state.store().get(&key(&target)).await?;
    audit_secret(&state, &user, target.ty, "read", target.mesh.clone(), &target.name);
    let etag = etag(record.version);
    let body = resources::encode(&to_resource(target.ty, record)?);
    Ok(([(header::ETAG, etag)], Json(body)).into_response())
}

async fn write(
    State(state): State<ApiState>,
    user: User,
    target: Target,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize_write(&state, &user, target.ty)?;
    let doc = body::document(&headers, body)?;
    let resource = resources::decode(doc)?;
    check_matches_path(&target, &resource)?;
    if let Some(mesh) = &target.mesh {
        ensure_mesh_exists(state.store(), mesh).await?;
    }
    let key = key(&target);
    let current = match state.store().get(&key).await {
        Ok(record) => Some(record),
        Err(store::Error::NotFound { .. }) => None,
        Err(err) => return Err(err.into()),
    };
    if let Spec::Mesh(new) = &resource.spec {
        let old = current.as_ref().map(|r| to_resource(target.ty, r.clone())).transpose()?;
        let old = old.as_ref().and_then(|r| match &r.spec {
            Spec::Mesh(m) => Some(m),
            _ => None,
        });
        let checked =
            state.credentials().check_mesh(&target.name, old, new).await.map_err(internal)?;
        for warning in checked? {
            tracing::warn!(mesh = %target.name, field = %warning.field, "{}", warning.message);
        }
    }
    let spec = resource.spec.to_value();
    let labels = resource.meta.labels;
    let expected = if_match(&headers)?;
    let (status, record) = match (current, expected) {
        (None, Some(_)) => return Err(ApiError::NotFound),
        (None, None) => (StatusCode::CREATED, state.store().create(key, spec, labels).await?),
        (Some(current), expected) => {
            let version = expected.unwrap_or(current.version);
            (StatusCode::OK, state.store().update(key, spec, labels, version).await?)
        }
    };
    let action = if status == StatusCode::CREATED { "create" } else { "update" };
    audit_secret(&state, &user, target.ty, action, target.mesh.clone(), &target.name);
    if let Spec::Mesh(mesh) = &resource.spec {
        let now = time::OffsetDateTime::now_utc();
        state.credentials().ensure_mesh(&target.name, mesh, now).await.map_err(internal)?;
        if status == StatusCode::CREATED && state.config().create_mesh_routing_resources {
            create_allow_all(state.store(), &target.name).await?;
        }
    }
    let etag = etag(record.version);
    let body = resources::encode(&to_resource(target.ty, record)?);
    Ok((status, [(header::ETAG, etag)], Json(body)).into_response())
}

async fn remove(
    State(state): State<ApiState>,
    user: User,
    target: Target,
) -> Result<Response, ApiError> {
    authorize_write(&state, &user, target.ty)?;
    match (target.ty, &target.mesh) {
        (ResourceType::Mesh, _) => {
            state.store().delete_mesh(&target.name).await?;
        }
        (ResourceType::Secret, Some(mesh)) => {
            let in_use =
                state.credentials().secret_in_use(mesh, &target.name).await.map_err(internal)?;
            if let Some(message) = in_use {
                return Err(ValidationError::single("name", message).into());
            }
            state.store().delete(&key(&target)).await?;
        }
        _ => state.store().delete(&key(&target)).await?,
    }
    audit_secret(&state, &user, target.ty, "delete", target.mesh.clone(), &target.name);
    Ok(Json(json!({})).into_response())
}

// --- helpers ---

/// `allow-all-<mesh>`: every service may reach every service (Kuma's default routing resource,
/// created only with `KUMA_DEFAULTS_CREATE_MESH_ROUTING_RESOURCES=true`). One that exists already
/// is left as it is.
async fn create_allow_all(store: &Store, mesh: &str) -> Result<(), ApiError> {
    let name = format!("allow-all-{mesh}");
    let key = Key::mesh_scoped(ResourceType::TrafficPermission.name(), mesh, &name);
    let all = json!([{ "match": { resources::SERVICE_TAG: "*" } }]);
    let spec = json!({ "sources": all, "destinations": all });
    match store.create(key, spec, Default::default()).await {
        Ok(_) | Err(store::Error::AlreadyExists { .. }) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

fn internal(err: crate::credentials::Error) -> ApiError {
    ApiError::Internal(Box::new(err))
}

fn authorize_read(state: &ApiState, user: &User, ty: ResourceType) -> Result<(), ApiError> {
    if ty.admin_only() {
        let action = format!("the resource of type {:?}", ty.name());
        tokens::authorize(state, user, &state.config().access.admin_resources, &action)?;
    }
    Ok(())
}

fn authorize_write(state: &ApiState, user: &User, ty: ResourceType) -> Result<(), ApiError> {
    authorize_read(state, user, ty)?;
    if user.is_anonymous() && !state.auth().anonymous_can_write {
        return Err(user.denied(&format!("modifying the resource of type {:?}", ty.name())));
    }
    if state.config().read_only {
        return Err(ApiError::MethodNotAllowed {
            detail: "the API server runs in read-only mode (KUMA_API_SERVER_READ_ONLY)".to_owned(),
        });
    }
    match (state.config().role, ty.origin()) {
        (Role::Global, Origin::Zone) => {
            Err(ApiError::MethodNotAllowed { detail: GLOBAL_READ_ONLY.to_owned() })
        }
        (Role::FederatedZone, Origin::Global) => {
            Err(ApiError::MethodNotAllowed { detail: ZONE_READ_ONLY.to_owned() })
        }
        _ => Ok(()),
    }
}

/// Every touch of a Secret or GlobalSecret goes to the audit log.
fn audit_secret(
    state: &ApiState,
    user: &User,
    ty: ResourceType,
    action: &'static str,
    mesh: Option<String>,
    name: &str,
) {
    if !ty.admin_only() {
        return;
    }
    state.audit(Event::Secret {
        action,
        kind: ty.name(),
        mesh,
        name: name.to_owned(),
        user: user.to_string(),
        source: user.source.clone(),
    });
}

/// The path names the resource; a body naming another one is refused, as Kuma does.
fn check_matches_path(target: &Target, resource: &Resource) -> Result<(), ApiError> {
    let mut err = ValidationError::default();
    if resource.spec.resource_type() != target.ty {
        err.push("type", "type from the URL has to be the same as in body");
    }
    if resource.meta.name != target.name {
        err.push("name", "name from the URL has to be the same as in body");
    }
    if target.mesh.is_some() && resource.meta.mesh != target.mesh {
        err.push("mesh", "mesh from the URL has to be the same as in body");
    }
    err.into_result().map_err(ApiError::from)
}

async fn ensure_mesh_exists(store: &store::Store, mesh: &str) -> Result<(), ApiError> {
    match store.get(&Key::global(ResourceType::Mesh.name(), mesh)).await {
        Ok(_) => Ok(()),
        Err(store::Error::NotFound { .. }) => {
            let mut err = ValidationError::default();
            err.push("mesh", format!("mesh of name {mesh:?} is not found"));
            Err(err.into())
        }
        Err(other) => Err(other.into()),
    }
}

fn key(target: &Target) -> Key {
    match &target.mesh {
        Some(mesh) => Key::mesh_scoped(target.ty.name(), mesh, &target.name),
        None => Key::global(target.ty.name(), &target.name),
    }
}

fn to_resource(ty: ResourceType, record: Record) -> Result<Resource, ApiError> {
    let spec =
        Spec::from_value(ty, record.spec).map_err(|err| ApiError::Internal(Box::new(err)))?;
    let mesh = (ty.scope() == Scope::Mesh).then_some(record.key.mesh);
    let meta = Meta {
        name: record.key.name,
        mesh,
        labels: record.labels,
        creation_time: Some(record.creation_time),
        modification_time: Some(record.modification_time),
    };
    Ok(Resource { meta, spec })
}

fn etag(version: u64) -> HeaderValue {
    // Digits and quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `If-Match: "<version>"` makes the write conditional on that version.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest {
            detail: "If-Match must be a quoted resource version, as sent in ETag".to_owned(),
        })
}

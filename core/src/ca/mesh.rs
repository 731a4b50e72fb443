//! Mesh-level CA rules: checking every backend's `conf`, the enabled-backend change guard, and
//! which secrets the backends use (Kuma's secret delete guard).
//!
//! These functions only read a `MeshSpec` and secret bytes handed in by the caller; persisting the
//! Mesh and creating CA secrets happen elsewhere.

use serde_json::Value;

use super::{BuiltinConf, ProvidedConf, validate_provided};
use crate::error::Chain;
use crate::resources::{CaType, MeshSpec, ValidationError, Violation};

/// Runs each backend's configuration checks, as Kuma's mesh manager does before it stores a Mesh:
/// the builtin `conf` shape, or for a provided backend its data sources, their loading and the CA
/// checks of [`validate_provided`]. Paths read `mtls.backends[i].conf...`. With
/// `mtls.skipValidation` only the builtin confs' shape is checked.
///
/// `resolve_secret` returns the data of a secret of mesh `mesh_name`, or `None` when it does not
/// exist. The store is async and this is not: fetch the names [`used_secrets`] lists first.
/// On success, the SPIFFE SHOULD-NOT warnings of provided CAs are returned.
pub fn validate_mesh_backends(
    mesh_name: &str,
    mesh: &MeshSpec,
    resolve_secret: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<Violation>, ValidationError> {
    let Some(mtls) = &mesh.mtls else {
        return Ok(Vec::new());
    };
    let mut err = ValidationError::default();
    let mut warnings = Vec::new();
    for (i, backend) in mtls.backends.iter().enumerate() {
        let at = format!("mtls.backends[{i}].conf");
        let conf = backend.conf.as_ref();
        let result = match backend.kind {
            // The shape of a builtin conf needs no CA, so it is checked even with
            // skipValidation: a conf that does not parse would otherwise make a default CA.
            CaType::Builtin => BuiltinConf::parse(conf, &at).map(|_| Vec::new()),
            CaType::Provided if mtls.skip_validation => Ok(Vec::new()),
            CaType::Provided => ProvidedConf::parse(conf, &at)
                .and_then(|conf| check_provided(&conf, &at, mesh_name, resolve_secret)),
        };
        match result {
            Ok(found) => warnings.extend(found),
            Err(e) => err.extend(e),
        }
    }
    err.into_result().map(|()| warnings)
}

fn check_provided(
    conf: &ProvidedConf,
    at: &str,
    mesh_name: &str,
    resolve_secret: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<Violation>, ValidationError> {
    let load = |source: &super::DataSource| source.load(mesh_name, resolve_secret);
    match (load(&conf.cert), load(&conf.key)) {
        (Ok(cert), Ok(key)) => validate_provided(at, &cert, &key),
        (Err(e), _) | (_, Err(e)) => {
            // Kuma reports one load failure on both fields.
            let message = format!("could not load data: {}", Chain(&e));
            let mut err = ValidationError::single(format!("{at}.cert"), message.clone());
            err.push(format!("{at}.key"), message);
            Err(err)
        }
    }
}

/// Every `(backend, secret)` pair where a provided backend reads its certificate or key from a
/// secret, so that deleting that secret can be refused ([`secret_in_use_message`]). Backends whose
/// `conf` is malformed still count for the sources that can be read.
pub fn used_secrets(mesh: &MeshSpec) -> Vec<(String, String)> {
    let Some(mtls) = &mesh.mtls else {
        return Vec::new();
    };
    let mut used = Vec::new();
    for backend in &mtls.backends {
        if backend.kind != CaType::Provided {
            continue;
        }
        let Some(conf) = &backend.conf else { continue };
        for field in ["cert", "key"] {
            let secret = conf.get(field).and_then(|s| s.get("secret"));
            if let Some(Value::String(name)) = secret
                && !name.is_empty()
            {
                used.push((backend.name.clone(), name.clone()));
            }
        }
    }
    used
}

/// Kuma's text when a secret that a backend uses is about to be deleted.
pub fn secret_in_use_message(secret: &str, mesh: &str, backend: &str) -> String {
    format!(
        "The secret {secret:?} that you are trying to remove is currently in use in Mesh {mesh:?} \
         in mTLS backend {backend:?}. Please remove the reference from the {backend:?} backend \
         before removing the secret."
    )
}

/// Kuma's update guard: while mTLS stays on, the enabled backend may not change.
pub fn check_backend_change(old: &MeshSpec, new: &MeshSpec) -> Result<(), ValidationError> {
    let enabled =
        |m: &MeshSpec| m.mtls.as_ref().map(|t| t.enabled_backend.clone()).filter(|b| !b.is_empty());
    match (enabled(old), enabled(new)) {
        (Some(before), Some(after)) if before != after => Err(ValidationError::single(
            "mtls.enabledBackend",
            "Changing CA when mTLS is enabled is forbidden. Disable mTLS first and then change \
             the CA",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;

//! Resource documents: `kumactl apply` input and REST bodies in, Kuma's universal JSON out.
//!
//! A document is the meta fields (`type`, `name`, `mesh`, `labels`, times) with the spec fields
//! inline beside them. This module splits YAML streams, separates meta from spec and checks the
//! meta; the specs check themselves. It does not know about the store or the API routes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use time::{OffsetDateTime, UtcOffset};

use super::validation::{Path, check_labels, check_mesh_ref, check_name};
use super::{Meta, Resource, ResourceType, Scope, Spec, ValidationError};

/// A document of a YAML or JSON stream could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("document {index}: invalid YAML or JSON{}", at_line(.line))]
pub struct DocumentError {
    /// Position of the broken document in the stream, counting from 1.
    pub index: usize,
    /// Line of the input (counting from 1) where parsing failed, when known.
    pub line: Option<usize>,
    #[source]
    source: serde_yaml_ng::Error,
}

/// Output-only meta fields that clients may send back unchanged; they are ignored on input.
const IGNORED_ON_INPUT: [&str; 3] = ["creationTime", "modificationTime", "kri"];

/// Splits a YAML stream (`---` separated) or a JSON document into one JSON value per document.
/// Empty documents are skipped.
pub fn decode_documents(text: &str) -> Result<Vec<Value>, DocumentError> {
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|source| DocumentError {
            index: i + 1,
            line: source.location().map(|l| l.line()),
            source,
        })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Reads one resource document (a `kumactl apply` document or a REST PUT body) and validates it.
pub fn decode(doc: Value) -> Result<Resource, ValidationError> {
    let Value::Object(mut fields) = doc else {
        return Err(ValidationError::single("", "resource has to be an object"));
    };
    let ty = match fields.remove("type") {
        None | Some(Value::Null) => return Err(ValidationError::single("type", "cannot be empty")),
        Some(Value::String(name)) => ResourceType::from_name(&name).ok_or_else(|| {
            ValidationError::single("type", format!("unknown resource type {name:?}"))
        })?,
        Some(_) => return Err(ValidationError::single("type", "must be a string")),
    };
    let mut err = ValidationError::default();
    let name = take_string(&mut fields, "name", &mut err).unwrap_or_default();
    check_name(&name, ty == ResourceType::Mesh, &mut err);
    let mesh = take_string(&mut fields, "mesh", &mut err).filter(|m| !m.is_empty());
    let mesh = match ty.scope() {
        Scope::Mesh => {
            check_mesh_ref(mesh.as_deref().unwrap_or_default(), &mut err);
            mesh
        }
        Scope::Global if mesh.is_some() => {
            err.push("mesh", "must not be set");
            None
        }
        Scope::Global => None,
    };
    let labels = take_labels(&mut fields, &mut err);
    check_labels(&labels, &mut err);
    for key in IGNORED_ON_INPUT {
        fields.remove(key);
    }
    let spec = Spec::from_value(ty, Value::Object(fields)).and_then(|spec| {
        spec.validate_input().into_result()?;
        Ok(spec)
    });
    match spec {
        Ok(spec) if err.is_empty() => {
            let meta = Meta { name, mesh, labels, creation_time: None, modification_time: None };
            Ok(Resource { meta, spec })
        }
        Ok(_) => Err(err),
        Err(spec_err) => {
            err.extend(spec_err);
            Err(err)
        }
    }
}

/// Writes a resource in Kuma's universal JSON: `type`, `mesh` (mesh-scoped types only), `name`,
/// `creationTime`, `modificationTime`, `labels` (when any), then the spec fields.
pub fn encode(r: &Resource) -> Value {
    let ty = r.resource_type();
    let mut out = Map::new();
    out.insert("type".into(), ty.name().into());
    if ty.scope() == Scope::Mesh {
        out.insert("mesh".into(), r.meta.mesh.clone().unwrap_or_default().into());
    }
    out.insert("name".into(), r.meta.name.clone().into());
    if let Some(t) = r.meta.creation_time {
        out.insert("creationTime".into(), go_rfc3339(t).into());
    }
    if let Some(t) = r.meta.modification_time {
        out.insert("modificationTime".into(), go_rfc3339(t).into());
    }
    if !r.meta.labels.is_empty() {
        let labels = r.meta.labels.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str())));
        out.insert("labels".into(), Value::Object(labels.collect()));
    }
    if let Value::Object(spec) = r.spec.to_value() {
        out.extend(spec);
    }
    Value::Object(out)
}

/// A time as Go's `time.Time` marshals to JSON: RFC 3339 in UTC, with the fraction of a second
/// trimmed of trailing zeros (`2026-11-23T06:00:00Z`, `2026-11-23T06:00:00.5Z`).
pub(crate) fn go_rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() != 0 {
        let fraction = format!("{:09}", t.nanosecond());
        s.push('.');
        s.push_str(fraction.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Prints a serde path the way Kuma prints field paths: `mtls.backends[0].name`, with keys that
/// are not plain identifiers quoted (`tags["kuma.io/service"]`).
pub(crate) fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = Path::default();
    for segment in path.iter() {
        out = match segment {
            Segment::Seq { index } => out.index(*index),
            Segment::Map { key } if is_identifier(key) => out.field(key),
            Segment::Map { key } => out.key(key),
            Segment::Enum { variant } => out.field(variant),
            Segment::Unknown => out.field("?"),
        };
    }
    out.to_string()
}

fn is_identifier(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn take_string(
    fields: &mut Map<String, Value>,
    key: &str,
    err: &mut ValidationError,
) -> Option<String> {
    match fields.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            err.push(key, "must be a string");
            None
        }
    }
}

fn take_labels(
    fields: &mut Map<String, Value>,
    err: &mut ValidationError,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    match fields.remove("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                match value {
                    Value::String(v) => {
                        labels.insert(key, v);
                    }
                    _ => err.at(&Path::root("labels").key(&key), "must be a string"),
                }
            }
        }
        Some(_) => err.push("labels", "must be an object"),
    }
    labels
}

fn at_line(line: &Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

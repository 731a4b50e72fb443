//! Reads a `kuma-cp.yaml` file into dotted keys (`apiServer.http.port`) with raw text values.
//!
//! It knows nothing about which keys exist or what their values mean: `source::Loader` matches
//! keys against settings and `parse` interprets values. Nulls are dropped, as an absent key.
//! A sequence of anything but scalars or flat mappings is kept as [`Raw::Nested`] rather than
//! rejected here, so that Kuma sections we ignore may hold any shape; a setting that reads such a
//! value rejects it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_yaml_ng::Value;

use super::error::Error;

/// A value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Raw {
    /// One scalar.
    Scalar(String),
    /// A sequence of scalars (an empty sequence is always this).
    List(Vec<String>),
    /// A sequence of mappings from names to scalars (null fields dropped), such as `publicKeys`.
    Records(Vec<BTreeMap<String, String>>),
    /// A sequence of any other shape.
    Nested,
}

/// Parses `text` (the content of `path`) and flattens its mappings into dotted keys.
pub(super) fn flatten(path: &Path, text: &str) -> Result<HashMap<String, Raw>, Error> {
    let root: Value = serde_yaml_ng::from_str(text).map_err(|source| Error::Yaml {
        path: path.to_owned(),
        line: source.location().map_or(0, |l| l.line()),
        source,
    })?;
    let mut out = HashMap::new();
    match root {
        // An empty file is a valid, empty configuration.
        Value::Null => {}
        Value::Mapping(_) => walk(path, "", root, &mut out)?,
        _ => return Err(shape(path, "", "a mapping at the top level")),
    }
    Ok(out)
}

fn walk(
    path: &Path,
    prefix: &str,
    value: Value,
    out: &mut HashMap<String, Raw>,
) -> Result<(), Error> {
    match value {
        Value::Null => {}
        Value::Mapping(map) => {
            for (key, child) in map {
                let Value::String(key) = key else {
                    return Err(shape(path, prefix, "string keys"));
                };
                let full = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
                walk(path, &full, child, out)?;
            }
        }
        Value::Sequence(items) => {
            out.insert(prefix.to_owned(), sequence(items));
        }
        other => {
            let text = scalar(other).ok_or_else(|| shape(path, prefix, "a scalar"))?;
            out.insert(prefix.to_owned(), Raw::Scalar(text));
        }
    }
    Ok(())
}

fn sequence(items: Vec<Value>) -> Raw {
    if items.iter().all(|item| !matches!(item, Value::Mapping(_))) {
        let scalars: Option<Vec<String>> = items.into_iter().map(scalar).collect();
        return scalars.map_or(Raw::Nested, Raw::List);
    }
    let records: Option<Vec<_>> = items.into_iter().map(record).collect();
    records.map_or(Raw::Nested, Raw::Records)
}

/// A mapping of string keys to scalars (or nulls, dropped).
fn record(item: Value) -> Option<BTreeMap<String, String>> {
    let Value::Mapping(map) = item else {
        return None;
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let Value::String(key) = key else {
            return None;
        };
        if value.is_null() {
            continue;
        }
        out.insert(key, scalar(value)?);
    }
    Some(out)
}

fn scalar(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn shape(path: &Path, key: &str, expected: &'static str) -> Error {
    Error::Shape { path: path.to_owned(), key: key.to_owned(), expected }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_mappings_become_dotted_keys() {
        let text = "apiServer:\n  http:\n    port: 1\n    enabled: true\nlist: [a, b]\nempty:\n";
        let out = flatten(Path::new("f.yaml"), text).unwrap();
        assert_eq!(out["apiServer.http.port"], Raw::Scalar("1".into()));
        assert_eq!(out["apiServer.http.enabled"], Raw::Scalar("true".into()));
        assert_eq!(out["list"], Raw::List(vec!["a".into(), "b".into()]));
        assert!(!out.contains_key("empty"));
    }

    #[test]
    fn sequences_of_mappings_become_records() {
        let text = "keys:\n  - kid: 1\n    key: abc\n    mesh:\n  - {kid: b, keyFile: /k}\n";
        let out = flatten(Path::new("f.yaml"), text).unwrap();
        let Raw::Records(records) = &out["keys"] else {
            panic!("expected records, got {:?}", out["keys"]);
        };
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["kid"], "1");
        assert!(!records[0].contains_key("mesh"), "null fields are dropped");
        assert_eq!(records[1]["keyFile"], "/k");
        assert_eq!(flatten(Path::new("f"), "a: []\n").unwrap()["a"], Raw::List(vec![]));
    }

    #[test]
    fn other_sequences_are_kept_as_nested() {
        for text in ["a: [[1]]\n", "a: [1, {b: 2}]\n", "a: [{b: {c: 1}}]\n"] {
            let out = flatten(Path::new("f.yaml"), text).unwrap();
            assert_eq!(out["a"], Raw::Nested, "{text}");
        }
    }

    #[test]
    fn invalid_yaml_names_file_and_line() {
        let err = flatten(Path::new("/etc/kuma.yaml"), "a: 1\nb: [\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/etc/kuma.yaml: invalid yaml at line "), "{text}");
        assert!(matches!(err, Error::Yaml { line, .. } if line >= 2), "{err:?}");
    }

    #[test]
    fn top_level_scalar_is_rejected() {
        let err = flatten(Path::new("f.yaml"), "just text").unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err:?}");
    }
}

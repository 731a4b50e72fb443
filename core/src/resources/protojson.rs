//! The protojson rules for the parts of a spec we keep as free JSON but Kuma types as protobuf
//! messages (a Mesh's `logging`, `metrics`, `tracing`, `networking`, `routing`, `constraints`,
//! and the CA backends' `conf` and `rootChain`).
//!
//! Kuma decodes these with protojson, which refuses unknown fields and values of the wrong type
//! and prints the message back in one canonical form (camelCase names, default values left out,
//! numbers as JSON numbers). `canonical` applies the same rules to our JSON, so what the API
//! stores is exactly what a peer rebuilds from the KDS message: nothing is silently dropped on
//! the way to a zone. This module knows JSON only; the protobuf side lives in `shared::kds`.

use prost_types::Duration;
use serde_json::{Map, Number, Value};

use super::validation::{Path, ValidationError};

/// The shape of one protobuf field as protojson writes it.
#[derive(Debug)]
pub(crate) enum Shape {
    /// `string`: left out when empty.
    String,
    /// `bool`: left out when false.
    Bool,
    /// `google.protobuf.BoolValue`: kept when set, even to false.
    WrappedBool,
    /// A wrapper or optional `double`: kept when set, even to 0.
    Number,
    /// `google.protobuf.Duration`: `"10s"`, `"1.500s"`.
    Duration,
    /// `google.protobuf.Struct`: any object; numbers become doubles.
    Struct,
    /// `map<string, string>`: left out when empty.
    Tags,
    /// A message: kept when present, even empty. Fields are `(jsonName, protoName, shape)`.
    Message(&'static [(&'static str, &'static str, Shape)]),
    /// `repeated` message: left out when empty.
    List(&'static Shape),
}

/// Checks `value` against `shape` and returns it in protojson's canonical form, or `None` when
/// protojson would leave the field out. Every problem is recorded at its path.
pub(crate) fn canonical(
    value: &Value,
    shape: &Shape,
    path: &Path,
    err: &mut ValidationError,
) -> Option<Value> {
    let wrong = |err: &mut ValidationError, what: &str| {
        err.at(path, format!("must be {what}"));
        None
    };
    match (shape, value) {
        (_, Value::Null) => None,
        (Shape::String, Value::String(s)) => (!s.is_empty()).then(|| value.clone()),
        (Shape::String, _) => wrong(err, "a string"),
        (Shape::Bool, Value::Bool(b)) => b.then_some(Value::Bool(true)),
        (Shape::WrappedBool, Value::Bool(_)) => Some(value.clone()),
        (Shape::Bool | Shape::WrappedBool, _) => wrong(err, "a boolean"),
        (Shape::Number, Value::Number(n)) => n.as_f64().map(number),
        (Shape::Number, _) => wrong(err, "a number"),
        (Shape::Duration, Value::String(s)) => match parse_duration(s) {
            Some(d) => Some(Value::String(format_duration(&d))),
            None => wrong(err, "a duration in seconds such as \"10s\" or \"1.5s\""),
        },
        (Shape::Duration, _) => wrong(err, "a duration string such as \"10s\""),
        (Shape::Struct, Value::Object(object)) => Some(Value::Object(struct_canonical(object))),
        (Shape::Struct, _) => wrong(err, "an object"),
        (Shape::Tags, Value::Object(object)) => {
            let mut tags = Map::new();
            for (key, v) in object {
                match v {
                    Value::String(s) => {
                        tags.insert(key.clone(), Value::String(s.clone()));
                    }
                    _ => err.at(&path.key(key), "must be a string"),
                }
            }
            (!tags.is_empty()).then_some(Value::Object(tags))
        }
        (Shape::Tags, _) => wrong(err, "an object of strings"),
        (Shape::Message(fields), Value::Object(object)) => {
            Some(Value::Object(message(object, fields, path, err)))
        }
        (Shape::Message(_), _) => wrong(err, "an object"),
        (Shape::List(item), Value::Array(items)) => {
            let items: Vec<Value> = items
                .iter()
                .enumerate()
                // protojson keeps a null list item as an empty message.
                .map(|(i, v)| {
                    let v = if v.is_null() { &Value::Object(Map::new()) } else { v };
                    canonical(v, item, &path.index(i), err).unwrap_or(Value::Object(Map::new()))
                })
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        (Shape::List(_), _) => wrong(err, "a list"),
    }
}

/// The fields of one message object, canonical; unknown names are errors.
pub(crate) fn message(
    object: &Map<String, Value>,
    fields: &[(&'static str, &'static str, Shape)],
    path: &Path,
    err: &mut ValidationError,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in object {
        let Some((json, _, shape)) = fields.iter().find(|(j, p, _)| key == j || key == p) else {
            err.at(&path.field(key), "unknown field");
            continue;
        };
        if out.contains_key(*json) {
            err.at(&path.field(key), "is set twice (camelCase and snake_case names)");
            continue;
        }
        if let Some(v) = canonical(value, shape, &path.field(json), err) {
            out.insert((*json).to_owned(), v);
        }
    }
    out
}

/// A `google.protobuf.Struct` object as it comes back from the wire: every number a double.
pub(crate) fn struct_canonical(object: &Map<String, Value>) -> Map<String, Value> {
    object.iter().map(|(k, v)| (k.clone(), struct_value(v))).collect()
}

fn struct_value(value: &Value) -> Value {
    match value {
        Value::Number(n) => number(n.as_f64().unwrap_or_default()),
        Value::Array(items) => Value::Array(items.iter().map(struct_value).collect()),
        Value::Object(object) => Value::Object(struct_canonical(object)),
        other => other.clone(),
    }
}

/// A protobuf double as JSON: a whole number below 2^53 prints as an integer, as Go prints it.
pub fn number(n: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() < EXACT {
        // The guard above makes the cast exact.
        #[allow(clippy::cast_possible_truncation)]
        return Value::Number(Number::from(n as i64));
    }
    Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// Parses protojson's duration text: decimal seconds with up to nine fractional digits and an
/// `s` suffix (`"10s"`, `"1.5s"`, `"-0.25s"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let body = text.strip_suffix('s')?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 9 {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let nanos: i32 = format!("{frac:0<9}").parse().ok()?;
    Some(if negative {
        Duration { seconds: -seconds, nanos: -nanos }
    } else {
        Duration { seconds, nanos }
    })
}

/// protojson's duration text: `"10s"`, or 3, 6 or 9 fractional digits as needed.
pub fn format_duration(d: &Duration) -> String {
    let sign = if d.seconds < 0 || d.nanos < 0 { "-" } else { "" };
    let (seconds, nanos) = (d.seconds.unsigned_abs(), d.nanos.unsigned_abs());
    match nanos {
        0 => format!("{sign}{seconds}s"),
        n if n % 1_000_000 == 0 => format!("{sign}{seconds}.{:03}s", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{sign}{seconds}.{:06}s", n / 1_000),
        n => format!("{sign}{seconds}.{n:09}s"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const BACKEND: Shape = Shape::Message(&[
        ("name", "name", Shape::String),
        ("sampling", "sampling", Shape::Number),
        ("conf", "conf", Shape::Struct),
    ]);
    const SECTION: Shape = Shape::Message(&[
        ("defaultBackend", "default_backend", Shape::String),
        ("enabled", "enabled", Shape::Bool),
        ("backends", "backends", Shape::List(&BACKEND)),
        ("timeout", "timeout", Shape::Duration),
        ("tags", "tags", Shape::Tags),
    ]);

    fn run(value: Value) -> (Option<Value>, String) {
        let mut err = ValidationError::default();
        let out = canonical(&value, &SECTION, &Path::root("tracing"), &mut err);
        (out, err.to_string())
    }

    #[test]
    fn canonical_form_follows_protojson() {
        let (out, err) = run(json!({
            "default_backend": "zipkin", "enabled": false, "timeout": "1.5s",
            "backends": [{"name": "zipkin", "sampling": 100.0, "conf": {"port": 9411.0, "x": [1.5, 2]}}],
            "tags": {}
        }));
        assert_eq!(err, "");
        let expected = json!({
            "defaultBackend": "zipkin", "timeout": "1.500s",
            "backends": [{"name": "zipkin", "sampling": 100, "conf": {"port": 9411, "x": [1.5, 2]}}]
        });
        assert_eq!(out, Some(expected));
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_named() {
        let (_, err) = run(json!({
            "enabledBackena": "x", "enabled": "yes", "timeout": "10m",
            "backends": [{"name": 5, "sampling": "50"}], "tags": {"a": 1}
        }));
        for expected in [
            "tracing.enabledBackena: unknown field",
            "tracing.enabled: must be a boolean",
            "tracing.timeout: must be a duration",
            "tracing.backends[0].name: must be a string",
            "tracing.backends[0].sampling: must be a number",
            "tracing.tags[\"a\"]: must be a string",
        ] {
            assert!(err.contains(expected), "{expected} not in {err}");
        }
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        let (_, err) = run(json!({"defaultBackend": "a", "default_backend": "b"}));
        assert!(err.contains("is set twice"), "{err}");
    }

    #[test]
    fn durations_follow_protojson() {
        for text in ["10s", "0s", "1.500s", "0.000001s", "2.000000001s", "-0.250s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(&d), text);
        }
        assert_eq!(parse_duration("1.5s"), Some(Duration { seconds: 1, nanos: 500_000_000 }));
        for bad in ["", "10", "s", "1.s5", "1m", "1.0000000001s", "+1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}

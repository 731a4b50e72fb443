//! Helpers between the free-JSON parts of our specs and protobuf messages: `Struct` ↔ JSON
//! object, protobuf durations ↔ their JSON text (`"10s"`), and field readers and writers that
//! follow protojson (camelCase names, snake_case accepted on input, default values omitted).
//!
//! A value of the wrong JSON type reads as the field's default: Kuma's strict protojson would
//! have rejected it at apply time, and KDS can only carry what the message can hold.

use std::collections::BTreeMap;

use prost_types::value::Kind;
use prost_types::{Duration, ListValue, Struct, Value as PbValue};
use serde_json::{Map, Value};

pub(super) use kuma_core::resources::protojson::{format_duration, number, parse_duration};

/// JSON object → `google.protobuf.Struct`.
pub(super) fn to_struct(object: &Map<String, Value>) -> Struct {
    Struct { fields: object.iter().map(|(k, v)| (k.clone(), to_pb_value(v))).collect() }
}

/// `google.protobuf.Struct` → JSON object.
pub(super) fn from_struct(s: Struct) -> Map<String, Value> {
    s.fields.into_iter().map(|(k, v)| (k, from_pb_value(v))).collect()
}

fn to_pb_value(value: &Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        // Struct numbers are doubles: integers above 2^53 lose precision, as in Kuma.
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(ListValue { values: items.iter().map(to_pb_value).collect() })
        }
        Value::Object(object) => Kind::StructValue(to_struct(object)),
    };
    PbValue { kind: Some(kind) }
}

fn from_pb_value(value: PbValue) -> Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) => number(n),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.into_iter().map(from_pb_value).collect())
        }
        Some(Kind::StructValue(s)) => Value::Object(from_struct(s)),
    }
}

/// Looks a field up by its protojson name, then by the proto (snake_case) name.
fn get<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        let snake: String = name
            .chars()
            .flat_map(|c| {
                let lower = c.to_ascii_lowercase();
                (c.is_ascii_uppercase().then_some('_').into_iter()).chain([lower])
            })
            .collect();
        object.get(&snake)
    })
}

/// Reads the fields of one JSON object.
pub(super) struct Reader<'a>(pub(super) &'a Map<String, Value>);

impl<'a> Reader<'a> {
    pub(super) fn string(&self, name: &str) -> String {
        get(self.0, name).and_then(Value::as_str).unwrap_or_default().to_owned()
    }

    pub(super) fn bool(&self, name: &str) -> bool {
        get(self.0, name).and_then(Value::as_bool).unwrap_or_default()
    }

    pub(super) fn opt_bool(&self, name: &str) -> Option<bool> {
        get(self.0, name).and_then(Value::as_bool)
    }

    pub(super) fn opt_u32(&self, name: &str) -> Option<u32> {
        get(self.0, name).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok())
    }

    pub(super) fn u32(&self, name: &str) -> u32 {
        self.opt_u32(name).unwrap_or_default()
    }

    pub(super) fn opt_f64(&self, name: &str) -> Option<f64> {
        get(self.0, name).and_then(Value::as_f64)
    }

    pub(super) fn duration(&self, name: &str) -> Option<Duration> {
        get(self.0, name).and_then(Value::as_str).and_then(parse_duration)
    }

    pub(super) fn object(&self, name: &str) -> Option<&'a Map<String, Value>> {
        get(self.0, name).and_then(Value::as_object)
    }

    pub(super) fn objects(&self, name: &str) -> impl Iterator<Item = Reader<'a>> {
        let items = get(self.0, name).and_then(Value::as_array);
        items.into_iter().flatten().filter_map(Value::as_object).map(Reader)
    }

    pub(super) fn strings(&self, name: &str) -> Vec<String> {
        let items = get(self.0, name).and_then(Value::as_array);
        let strings = items.into_iter().flatten().filter_map(Value::as_str);
        strings.map(str::to_owned).collect()
    }

    pub(super) fn tags(&self, name: &str) -> BTreeMap<String, String> {
        let entries = self.object(name).into_iter().flatten();
        entries.filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
    }
}

/// Builds a JSON object, leaving out default values as protojson does.
#[derive(Default)]
pub(super) struct Writer(pub(super) Map<String, Value>);

impl Writer {
    pub(super) fn string(mut self, name: &str, value: String) -> Self {
        if !value.is_empty() {
            self.0.insert(name.to_owned(), Value::String(value));
        }
        self
    }

    pub(super) fn bool(mut self, name: &str, value: bool) -> Self {
        if value {
            self.0.insert(name.to_owned(), Value::Bool(true));
        }
        self
    }

    pub(super) fn u32(mut self, name: &str, value: u32) -> Self {
        if value != 0 {
            self.0.insert(name.to_owned(), Value::from(value));
        }
        self
    }

    pub(super) fn opt(mut self, name: &str, value: Option<Value>) -> Self {
        if let Some(value) = value {
            self.0.insert(name.to_owned(), value);
        }
        self
    }

    pub(super) fn duration(self, name: &str, value: Option<Duration>) -> Self {
        let text = value.map(|d| Value::String(format_duration(&d)));
        self.opt(name, text)
    }

    pub(super) fn list(mut self, name: &str, items: Vec<Value>) -> Self {
        if !items.is_empty() {
            self.0.insert(name.to_owned(), Value::Array(items));
        }
        self
    }

    pub(super) fn tags(mut self, name: &str, tags: BTreeMap<String, String>) -> Self {
        if !tags.is_empty() {
            let object = tags.into_iter().map(|(k, v)| (k, Value::String(v)));
            self.0.insert(name.to_owned(), Value::Object(object.collect()));
        }
        self
    }

    pub(super) fn done(self) -> Map<String, Value> {
        self.0
    }

    pub(super) fn value(self) -> Value {
        Value::Object(self.0)
    }
}

/// A policy spec (not a protobuf message in Kuma) as KDS carries it: its JSON.
pub(super) fn policy_to_bytes<T: serde::Serialize>(policy: &T) -> Vec<u8> {
    // Invariant: policy specs are plain structs with string-keyed maps, which always serialize.
    serde_json::to_vec(policy).expect("policy specs serialize to JSON")
}

/// Reads a policy spec from the JSON KDS carries.
pub(super) fn policy_from_bytes<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, super::Error> {
    serde_json::from_slice(bytes).map_err(|err| super::Error::Unsupported {
        field: "spec".to_owned(),
        value: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn struct_round_trip_keeps_integers_integers() {
        let value = json!({"a": 5, "b": 1.5, "c": [true, null, "x"], "d": {"e": -3}});
        let object = value.as_object().unwrap();
        assert_eq!(from_struct(to_struct(object)), *object);
    }

    #[test]
    fn reader_accepts_snake_case_names() {
        let object = json!({"redirect_port_inbound": 15006});
        let reader = Reader(object.as_object().unwrap());
        assert_eq!(reader.u32("redirectPortInbound"), 15006);
    }
}

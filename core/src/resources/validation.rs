//! Kuma-shaped validation errors and the checks several resource types share: field paths, resource
//! names, labels and tags.
//!
//! Messages are Kuma's own strings (`pkg/core/validators`, `pkg/core/resources/apis/mesh`) so that
//! clients written against Kuma read the same text. This module only reports violations; it never
//! decides which checks a resource needs.

use std::collections::BTreeMap;
use std::fmt;

/// Everything wrong with a resource, as Kuma reports it (`400 Resource is not valid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationError {
    /// One entry per problem, in the order the checks ran.
    pub violations: Vec<Violation>,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Kuma's field path, e.g. `mtls.backends[0].name` or `networking.inbound[0].tags["kuma.io/service"]`.
    pub field: String,
    /// What is wrong, e.g. `cannot be empty`.
    pub message: String,
}

/// A field path under construction, printed the way Kuma's `PathBuilder` prints it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Path(String);

impl ValidationError {
    /// An error with a single violation.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut err = Self::default();
        err.push(field, message);
        err
    }

    /// Whether no check failed.
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// Records a violation.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation { field: field.into(), message: message.into() });
    }

    pub(crate) fn at(&mut self, path: &Path, message: impl Into<String>) {
        self.push(path.to_string(), message);
    }

    /// Appends another error's violations.
    pub fn extend(&mut self, other: ValidationError) {
        self.violations.extend(other.violations);
    }

    /// `Ok(())` when nothing was recorded, the error otherwise.
    pub fn into_result(self) -> Result<(), ValidationError> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl Path {
    pub(crate) fn root(name: &str) -> Self {
        Self(name.to_owned())
    }

    pub(crate) fn field(&self, name: &str) -> Self {
        if self.0.is_empty() { Self::root(name) } else { Self(format!("{}.{name}", self.0)) }
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// A map key, quoted like Go's `%q` (JSON string quoting matches it for printable text).
    pub(crate) fn key(&self, key: &str) -> Self {
        Self(format!("{}[{}]", self.0, serde_json::Value::from(key)))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const IDENTIFIER_MESSAGE: &str = "invalid characters. A lowercase RFC 1123 subdomain must consist of \
    lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const MESH_REF_MESSAGE: &str = "invalid characters. Valid characters are numbers, lowercase latin \
    letters and '-', '_', '.' symbols.";

/// Whether `s` is one RFC 1123 label: lowercase alphanumerics and inner dashes, 1 to 63 bytes.
pub(crate) fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && has_label_shape(s)
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, without a length limit.
fn has_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// Whether `s` is dot-separated labels. Like Kuma's identifier regex (and Kubernetes' subdomain
/// regex) it does not cap each label at 63 bytes; callers cap the whole name.
fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(has_label_shape)
}

/// Checks a resource name (Kuma's `ValidateMeta`); Mesh names also become DNS labels in
/// certificates and secret names, so they are capped at 63 characters.
pub fn check_name(name: &str, is_mesh: bool, err: &mut ValidationError) {
    let message = match name_problem(name) {
        Some(message) => message,
        None if is_mesh && name.len() > 63 => "cannot be longer than 63 characters",
        None => return,
    };
    err.push("name", message);
}

/// What is wrong with a resource name, if anything.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("cannot be empty")
    } else if name.len() > 253 {
        Some("value length must less or equal 253")
    } else if !is_dns_subdomain(name) {
        Some(IDENTIFIER_MESSAGE)
    } else {
        None
    }
}

/// Checks the `mesh` a mesh-scoped resource points at. Kuma checks it against the older, looser
/// rule because meshes created before 2.5 may still carry `_` in their names.
pub fn check_mesh_ref(mesh: &str, err: &mut ValidationError) {
    if mesh.is_empty() {
        err.push("mesh", "cannot be empty");
    } else if !mesh
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.'))
    {
        err.push("mesh", MESH_REF_MESSAGE);
    }
}

/// The label KDS puts on a synced resource with the name it had where it was created; it holds a
/// resource name (up to 253 characters), not a label value.
const DISPLAY_NAME_LABEL: &str = "kuma.io/display-name";

/// Checks labels as Kubernetes does (qualified-name keys, label values), with Kuma's paths. The
/// value of `kuma.io/display-name` is checked as a resource name instead. The API and KDS apply
/// the same rule, so whatever a peer syncs could also have been created through the API.
pub fn check_labels(labels: &BTreeMap<String, String>, err: &mut ValidationError) {
    let path = Path::root("labels");
    for (key, value) in labels {
        let at = path.key(key);
        for message in qualified_name_problems(key) {
            err.at(&at, message);
        }
        if key == DISPLAY_NAME_LABEL {
            if let Some(message) = name_problem(value) {
                err.at(&at, message);
            }
            continue;
        }
        if value.len() > 63 {
            err.at(&at, "must be no more than 63 characters");
        }
        if !value.is_empty() && !is_label_name(value) {
            err.at(
                &at,
                "a valid label must be an empty string or consist of alphanumeric characters, \
                 '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
                 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
                 '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            );
        }
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the Kubernetes label-name shape.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
}

fn qualified_name_problems(key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                problems.push("prefix part must be non-empty".to_owned());
            } else if prefix.len() > 253 || !is_dns_subdomain(prefix) {
                problems.push(format!("prefix part {IDENTIFIER_MESSAGE}"));
            }
            *name
        }
        _ => {
            problems.push(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and \
                 must start and end with an alphanumeric character with an optional DNS \
                 subdomain prefix and '/'"
                    .to_owned(),
            );
            return problems;
        }
    };
    if name.is_empty() {
        problems.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        problems.push("name part must be no more than 63 characters".to_owned());
    }
    if !is_label_name(name) {
        problems.push(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
             and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
             '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
                .to_owned(),
        );
    }
    problems
}

/// The tag every inbound, gateway and outbound must carry.
pub const SERVICE_TAG: &str = "kuma.io/service";

/// How tag values are checked: Dataplane tags are plain values, selectors may also be `*` and
/// contain `/`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagValues {
    Tag,
    Selector,
}

/// Kuma's `validateTagKeyValues`: keys and values of a tag map or a selector, sorted by key.
pub(crate) fn check_tags(
    path: &Path,
    tags: &BTreeMap<String, String>,
    values: TagValues,
    err: &mut ValidationError,
) {
    for (key, value) in tags {
        if key.is_empty() {
            err.at(path, "tag name must be non-empty");
        }
        if !key.bytes().all(|c| c.is_ascii_alphanumeric() || b".-_:/".contains(&c)) {
            err.at(
                &path.key(key),
                "tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores",
            );
        }
        if value.is_empty() {
            err.at(&path.key(key), "tag value must be non-empty");
        }
        let plain = |c: u8| c.is_ascii_alphanumeric() || b".-_:".contains(&c);
        match values {
            TagValues::Tag if !value.bytes().all(plain) => err.at(
                &path.key(key),
                "tag value must consist of alphanumeric characters, dots, dashes and underscores",
            ),
            TagValues::Selector
                if value != "*" && !value.bytes().all(|c| plain(c) || c == b'/') =>
            {
                err.at(
                    &path.key(key),
                    "tag value must consist of alphanumeric characters, dots, dashes, slashes and \
                     underscores or be \"*\"",
                )
            }
            _ => {}
        }
    }
}

/// Kuma's `ValidatePort`.
pub(crate) fn check_port(path: &Path, port: u32, err: &mut ValidationError) {
    if port == 0 || port > 65535 {
        err.at(path, "port must be in the range [1, 65535]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_violations_like_kuma() {
        let mut err = ValidationError::single("name", "cannot be empty");
        err.push("mtls.enabledBackend", "has to be set to one of the backends in the mesh");
        assert_eq!(
            err.to_string(),
            "name: cannot be empty; mtls.enabledBackend: has to be set to one of the backends in the mesh"
        );
    }

    #[test]
    fn paths_print_like_kumas_path_builder() {
        let p =
            Path::root("networking").field("inbound").index(2).field("tags").key("kuma.io/service");
        assert_eq!(p.to_string(), r#"networking.inbound[2].tags["kuma.io/service"]"#);
        assert_eq!(Path::default().field("data").to_string(), "data");
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("ca-1"));
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_follow_kuma_rules() {
        let check = |name: &str, is_mesh| {
            let mut err = ValidationError::default();
            check_name(name, is_mesh, &mut err);
            err.violations.into_iter().map(|v| v.message).collect::<Vec<_>>()
        };
        assert!(check("web-1.default", false).is_empty());
        assert_eq!(check("", false), ["cannot be empty"]);
        assert_eq!(check("Web", false), [IDENTIFIER_MESSAGE]);
        assert_eq!(check("a_b", false), [IDENTIFIER_MESSAGE]);
        assert_eq!(check(&"a".repeat(254), false), ["value length must less or equal 253"]);
        assert!(check(&"a".repeat(64), false).is_empty());
        assert_eq!(check(&"a".repeat(64), true), ["cannot be longer than 63 characters"]);
    }

    #[test]
    fn labels_follow_kubernetes_rules() {
        let labels: BTreeMap<String, String> =
            [("kuma.io/origin", "zone"), ("", "x"), ("team", "bad value"), ("a/b/c", "x")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let mut err = ValidationError::default();
        check_labels(&labels, &mut err);
        let fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [r#"labels[""]"#, r#"labels[""]"#, r#"labels["a/b/c"]"#, r#"labels["team"]"#]
        );
        assert_eq!(err.violations[0].message, "name part must be non-empty");
        assert!(err.violations[3].message.starts_with("a valid label must be an empty string"));
    }

    #[test]
    fn selector_values_may_be_wildcards_but_tags_may_not() {
        let tags: BTreeMap<String, String> =
            [("kuma.io/service".to_owned(), "*".to_owned())].into();
        let mut err = ValidationError::default();
        check_tags(&Path::root("match"), &tags, TagValues::Selector, &mut err);
        assert!(err.is_empty());
        check_tags(&Path::root("tags"), &tags, TagValues::Tag, &mut err);
        assert_eq!(
            err.to_string(),
            r#"tags["kuma.io/service"]: tag value must consist of alphanumeric characters, dots, dashes and underscores"#
        );
    }
}

//! Names and versions on the KDS wire: delta `Resource.name` (`<name>.<mesh>`), the content
//! version of a resource, and Kuma's hash-suffixed names (`pkg/kds/hash/hash.go`).

use aws_lc_rs::digest;

/// Longest kept prefix of a name before the hash suffix: Kubernetes' 253-character limit minus
/// `-` and 16 suffix characters.
const HASHED_NAME_PREFIX: usize = 253 - 1 - 16;

/// Kubernetes' `rand.SafeEncodeString` alphabet: no vowels, no easily confused characters.
const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The delta `Resource.name` of a resource: `<name>.<mesh>`, or `<name>.` for global types.
pub fn resource_name(name: &str, mesh: Option<&str>) -> String {
    format!("{name}.{}", mesh.unwrap_or_default())
}

/// Splits a delta resource name on its last `.` into name and mesh; an empty or absent mesh is
/// `None` (a global-scoped resource).
pub fn split_resource_name(full: &str) -> (&str, Option<&str>) {
    match full.rsplit_once('.') {
        Some((name, "")) => (name, None),
        Some((name, mesh)) => (name, Some(mesh)),
        None => (full, None),
    }
}

/// The delta `Resource.version` of an encoded `KumaResource`: the hex SHA-256 of its bytes, as
/// go-control-plane's `HashResource` computes it.
pub fn content_version(encoded: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, encoded).as_ref())
}

/// Kuma's `HashedName(mesh, name, extra...)`: `name` cut to 236 bytes, `-`, then the FNV-64a hash
/// of `mesh + name + extra...` in hex, mapped through Kubernetes' `SafeEncodeString`.
///
/// Global → zone uses no extra values; zone → global passes the zone and, on Kubernetes, the
/// namespace.
pub fn hashed_name(mesh: &str, name: &str, extra: &[&str]) -> String {
    let mut hash = FNV64_OFFSET;
    let parts = [mesh, name].into_iter().chain(extra.iter().copied());
    for byte in parts.flat_map(str::bytes) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV64_PRIME);
    }
    let suffix: String = hex(&hash.to_be_bytes())
        .bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect();
    // Kuma cuts at a byte offset; names are ASCII in practice, and stepping back to a character
    // boundary keeps a multi-byte name valid UTF-8 where Go would split the character.
    let mut cut = name.len().min(HASHED_NAME_PREFIX);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{suffix}", &name[..cut])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_join_and_split_on_the_last_dot() {
        assert_eq!(resource_name("web", Some("default")), "web.default");
        assert_eq!(resource_name("default", None), "default.");
        assert_eq!(split_resource_name("web.default"), ("web", Some("default")));
        assert_eq!(split_resource_name("default."), ("default", None));
        assert_eq!(split_resource_name("a.b.c"), ("a.b", Some("c")));
        assert_eq!(split_resource_name("plain"), ("plain", None));
        let full = resource_name("my.svc", Some("mesh-1"));
        assert_eq!(split_resource_name(&full), ("my.svc", Some("mesh-1")));
    }

    #[test]
    fn content_version_is_hex_sha256() {
        // SHA-256 of the empty string.
        assert_eq!(
            content_version(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(content_version(b"a"), content_version(b"b"));
    }

    #[test]
    fn hashed_name_matches_values_computed_by_hand() {
        // FNV-64a("defaultmesh-circuit-breaker-all-default") = b354ca2c7d7fe7b6, each hex digit
        // mapped through the alphabet by its ASCII code mod 27.
        assert_eq!(
            hashed_name("default", "mesh-circuit-breaker-all-default", &[]),
            "mesh-circuit-breaker-all-default-w798xv6xczc42cwb"
        );
        // FNV-64a("defaultwebzone-1") = 8f5335b8b6d3b638.
        assert_eq!(hashed_name("default", "web", &["zone-1"]), "web-d49779wdwbz7wb7d");
    }

    #[test]
    fn hashed_name_reproduces_kumas_federation_example() {
        // Kuma's federation e2e test expects this name on the global for a policy synced up from
        // a Kubernetes zone; the inputs (zone `kuma-2`, namespace `kuma-system`) are the e2e
        // framework's defaults, found by trying them. A 64-bit hash matching by chance is not
        // plausible.
        assert_eq!(
            hashed_name("default", "mesh-circuit-breaker-all-default", &["kuma-2", "kuma-system"]),
            "mesh-circuit-breaker-all-default-zw856xvxdb7558d9"
        );
    }

    #[test]
    fn hashed_name_properties() {
        let a = hashed_name("default", "web", &["zone-1"]);
        assert_eq!(a, hashed_name("default", "web", &["zone-1"]));
        let suffix = a.strip_prefix("web-").unwrap();
        assert_eq!(suffix.len(), 16);
        assert!(suffix.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{suffix}");
        for other in [
            hashed_name("default", "web", &["zone-2"]),
            hashed_name("other", "web", &["zone-1"]),
            hashed_name("default", "web", &[]),
        ] {
            assert_ne!(a, other);
        }

        let long = "x".repeat(300);
        let hashed = hashed_name("default", &long, &[]);
        assert_eq!(hashed.len(), 253);
        assert!(hashed.starts_with(&"x".repeat(236)));
        let multibyte = "é".repeat(200);
        assert!(hashed_name("m", &multibyte, &[]).len() <= 253);
    }
}

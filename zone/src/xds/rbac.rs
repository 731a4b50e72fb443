//! Who may reach an inbound (reference §10), decided once per inbound of a proxy in an mTLS
//! mesh and expressed as Envoy RBAC over the client certificate's URI SANs (`spiffe://<mesh>/<service>`
//! and `kuma://<tag>/<value>`, see the CA):
//!
//! - MeshTrafficPermissions whose `targetRef` selects the inbound decide alone. Their `from`
//!   items are read in Kuma's order (policies by targetRef kind, then name; items as written)
//!   and the last item matching a client wins, so a later `Deny` excludes a client an earlier
//!   `Allow` let in. Nobody matched means denied. `AllowWithShadowDeny` allows, and shadow rules
//!   count those clients as denied. HTTP inbounds get the HTTP RBAC filter (403), others the
//!   network one.
//! - Otherwise, if some TrafficPermission selects any inbound of this proxy, the most specific
//!   one selecting this inbound allows its sources (network RBAC); none means deny all.
//! - Otherwise every client is denied (Kuma 2.14 installs an explicit deny, 403 on HTTP).
//!
//! Nothing here looks at the mTLS mode: the caller only asks in an mTLS mesh.

use std::collections::{BTreeMap, HashMap};

use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy as RbacPolicy, Principal, Rbac, permission, principal, rbac,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use kuma_core::resources::{
    Action, MeshTrafficPermission, SERVICE_TAG, Selector, TargetRef, TargetRefKind,
    TrafficPermissionSpec,
};

use super::envoy::sanitize;
use super::view::{Dataplane, MeshView, Policy};

/// The policy key of MeshTrafficPermission rules (Kuma's).
const MTP_POLICY: &str = "MeshTrafficPermission";

/// The RBAC an inbound's mTLS chain gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Authz {
    /// `envoy.filters.network.rbac`, first filter of the chain.
    Network(NetworkRbac),
    /// `envoy.filters.http.rbac`, first HTTP filter of the connection manager.
    Http(HttpRbac),
}

/// Decides for the inbounds of one proxy.
pub struct Authorizer<'a> {
    view: &'a MeshView,
    dp: &'a Dataplane,
    /// Whether some TrafficPermission selects some inbound of the proxy.
    legacy: bool,
}

/// What the authorizer needs to know of one inbound.
pub struct Inbound<'a> {
    /// Its tags.
    pub tags: &'a BTreeMap<String, String>,
    /// Its name (a MeshTrafficPermission `sectionName`).
    pub name: Option<&'a str>,
    /// Its listener name (stat prefixes).
    pub listener: &'a str,
    /// Whether it goes through the HTTP connection manager.
    pub http: bool,
}

/// A client group: anyone, or those whose certificate matches a principal.
#[derive(Debug, Clone)]
enum Who {
    Anyone,
    Only(Principal),
}

impl<'a> Authorizer<'a> {
    /// An authorizer for the inbounds of `dp`.
    pub fn new(view: &'a MeshView, dp: &'a Dataplane) -> Self {
        let inbounds = dp.spec.networking.iter().flat_map(|n| &n.inbound);
        let legacy = inbounds
            .clone()
            .any(|i| view.traffic_permissions.iter().any(|tp| rank(&tp.spec, &i.tags).is_some()));
        Self { view, dp, legacy }
    }

    /// The RBAC of `inbound`.
    pub fn inbound(&self, inbound: &Inbound<'_>) -> Authz {
        let mut selected: Vec<&Policy<MeshTrafficPermission>> = self
            .view
            .mesh_traffic_permissions
            .iter()
            .filter(|p| selects(p.spec.target_ref.as_ref(), self.dp, inbound))
            .collect();
        if !selected.is_empty() {
            selected.sort_by(|a, b| {
                let key = |p: &Policy<MeshTrafficPermission>| kind_rank(p.spec.target_ref.as_ref());
                key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
            });
            return self.mesh_traffic_permission(&selected, inbound);
        }
        let stat_prefix = format!("{}.", sanitize(inbound.listener));
        if self.legacy {
            let policy = best_traffic_permission(&self.view.traffic_permissions, inbound.tags);
            let rules =
                allow(policy.map(|tp| (tp.name.clone(), tp_principals(&self.view.mesh, &tp.spec))));
            return Authz::Network(NetworkRbac {
                rules: Some(rules),
                stat_prefix,
                ..Default::default()
            });
        }
        let rules = allow(None);
        if inbound.http {
            Authz::Http(HttpRbac { rules: Some(rules), ..Default::default() })
        } else {
            Authz::Network(NetworkRbac { rules: Some(rules), stat_prefix, ..Default::default() })
        }
    }

    fn mesh_traffic_permission(
        &self,
        policies: &[&Policy<MeshTrafficPermission>],
        inbound: &Inbound<'_>,
    ) -> Authz {
        let mesh = &self.view.mesh;
        let items: Vec<(Who, Action)> = policies
            .iter()
            .flat_map(|p| &p.spec.from)
            .filter_map(|item| Some((client(mesh, &item.target_ref), item.default.action?)))
            .collect();
        let enforced = |a: Action| a != Action::Deny;
        let rules = allow(Some((MTP_POLICY.to_owned(), last_match(&items, enforced))));
        let shadow = items.iter().any(|(_, a)| *a == Action::AllowWithShadowDeny).then(|| {
            let shadowed = last_match(&items, |a| a == Action::Allow);
            allow(Some((MTP_POLICY.to_owned(), shadowed)))
        });
        let stat_prefix = format!("{}.", sanitize(inbound.listener));
        if inbound.http {
            Authz::Http(HttpRbac {
                rules: Some(rules),
                shadow_rules_stat_prefix: if shadow.is_some() {
                    "shadow.".to_owned()
                } else {
                    String::new()
                },
                shadow_rules: shadow,
                ..Default::default()
            })
        } else {
            Authz::Network(NetworkRbac {
                rules: Some(rules),
                shadow_rules_stat_prefix: if shadow.is_some() {
                    "shadow.".to_owned()
                } else {
                    String::new()
                },
                shadow_rules: shadow,
                stat_prefix,
                ..Default::default()
            })
        }
    }
}

/// RBAC that allows the principals of `policy` and denies everyone else; `None` (or no
/// principals) denies everyone.
fn allow(policy: Option<(String, Vec<Principal>)>) -> Rbac {
    let policies: HashMap<String, RbacPolicy> = policy
        .filter(|(_, principals)| !principals.is_empty())
        .map(|(name, principals)| {
            let any = Permission { rule: Some(permission::Rule::Any(true)) };
            (name, RbacPolicy { permissions: vec![any], principals, ..Default::default() })
        })
        .into_iter()
        .collect();
    Rbac { action: rbac::Action::Allow as i32, policies, ..Default::default() }
}

/// The clients let in when the last matching item decides: for each item whose action `allows`,
/// its clients minus those of every later item that does not.
fn last_match(items: &[(Who, Action)], allows: impl Fn(Action) -> bool) -> Vec<Principal> {
    let mut principals = Vec::new();
    for (i, (who, action)) in items.iter().enumerate() {
        if !allows(*action) {
            continue;
        }
        let mut later = Vec::new();
        let mut excluded = false;
        for (other, action) in &items[i + 1..] {
            if allows(*action) {
                continue;
            }
            match other {
                Who::Anyone => excluded = true,
                Who::Only(p) => later.push(p.clone()),
            }
        }
        if excluded || matches!(who, Who::Only(p) if later.contains(p)) {
            continue;
        }
        let not_later = (!later.is_empty()).then(|| negate(any_of(later)));
        let principal = match (who, not_later) {
            (Who::Anyone, None) => any(),
            (Who::Anyone, Some(not)) => not,
            (Who::Only(p), None) => p.clone(),
            (Who::Only(p), Some(not)) => all_of(vec![p.clone(), not]),
        };
        if !principals.contains(&principal) {
            principals.push(principal);
        }
    }
    principals
}

/// The clients a `from[].targetRef` names.
fn client(mesh: &str, target: &TargetRef) -> Who {
    let mut ids = Vec::new();
    match target.kind() {
        Some(TargetRefKind::MeshService | TargetRefKind::MeshServiceSubset) => {
            ids.push(uri(format!("spiffe://{mesh}/{}", target.name)));
        }
        Some(TargetRefKind::Mesh) | None => return Who::Anyone,
        _ => {}
    }
    ids.extend(target.tags.iter().filter(|(_, v)| v.as_str() != "*").map(|(k, v)| tag(mesh, k, v)));
    if ids.is_empty() { Who::Anyone } else { Who::Only(all_of(ids)) }
}

/// Whether a MeshTrafficPermission with this top-level `targetRef` applies to `inbound` of `dp`.
fn selects(target: Option<&TargetRef>, dp: &Dataplane, inbound: &Inbound<'_>) -> bool {
    let Some(target) = target else { return true };
    let tags_match = |tags: &BTreeMap<String, String>| {
        tags.iter().all(|(k, v)| inbound.tags.get(k).is_some_and(|have| v == "*" || have == v))
    };
    let service = inbound.tags.get(SERVICE_TAG).map(String::as_str);
    match target.kind() {
        Some(TargetRefKind::Mesh) => true,
        Some(TargetRefKind::MeshSubset) => tags_match(&target.tags),
        Some(TargetRefKind::MeshService) => service == Some(target.name.as_str()),
        Some(TargetRefKind::MeshServiceSubset) => {
            service == Some(target.name.as_str()) && tags_match(&target.tags)
        }
        Some(TargetRefKind::Dataplane) => {
            (target.name.is_empty() || target.name == dp.name)
                && target.labels.iter().all(|(k, v)| dp.labels.get(k) == Some(v))
                && (target.section_name.is_empty() || inbound.name == Some(&target.section_name))
        }
        None => false,
    }
}

/// Kuma's order of policies by what their top-level targetRef selects, least specific first.
fn kind_rank(target: Option<&TargetRef>) -> u8 {
    match target.and_then(TargetRef::kind) {
        None | Some(TargetRefKind::Mesh) => 0,
        Some(TargetRefKind::MeshSubset) => 1,
        Some(TargetRefKind::MeshService) => 2,
        Some(TargetRefKind::MeshServiceSubset) => 3,
        Some(TargetRefKind::Dataplane) => 4,
    }
}

/// The TrafficPermission that decides for an inbound with `tags`: the highest rank of a
/// matching destination, then the latest created, then the last name.
fn best_traffic_permission<'p>(
    policies: &'p [Policy<TrafficPermissionSpec>],
    tags: &BTreeMap<String, String>,
) -> Option<&'p Policy<TrafficPermissionSpec>> {
    policies
        .iter()
        .filter_map(|p| Some((rank(&p.spec, tags)?, p)))
        .max_by(|(ra, a), (rb, b)| {
            ra.cmp(rb).then_with(|| a.created.cmp(&b.created)).then_with(|| a.name.cmp(&b.name))
        })
        .map(|(_, p)| p)
}

/// The best rank of the destinations of `tp` matching `tags`: (tags, exact values).
fn rank(tp: &TrafficPermissionSpec, tags: &BTreeMap<String, String>) -> Option<(usize, usize)> {
    tp.destinations.iter().filter(|s| matches(s, tags)).map(selector_rank).max()
}

/// Every tag of the selector is present with that value, or any value for `*`.
fn matches(selector: &Selector, tags: &BTreeMap<String, String>) -> bool {
    selector.tags.iter().all(|(k, v)| tags.get(k).is_some_and(|have| v == "*" || have == v))
}

fn selector_rank(selector: &Selector) -> (usize, usize) {
    (selector.tags.len(), selector.tags.values().filter(|v| v.as_str() != "*").count())
}

/// One principal per source of `tp` (any of them may connect).
fn tp_principals(mesh: &str, tp: &TrafficPermissionSpec) -> Vec<Principal> {
    tp.sources
        .iter()
        .map(|source| {
            let ids: Vec<Principal> = source
                .tags
                .iter()
                .filter(|(_, v)| v.as_str() != "*")
                .map(|(k, v)| tag(mesh, k, v))
                .collect();
            all_of(ids)
        })
        .collect()
}

/// The principal of a client carrying tag `key: value`.
fn tag(mesh: &str, key: &str, value: &str) -> Principal {
    if key == SERVICE_TAG {
        uri(format!("spiffe://{mesh}/{value}"))
    } else {
        uri(format!("kuma://{key}/{value}"))
    }
}

fn uri(exact: String) -> Principal {
    let matcher =
        StringMatcher { match_pattern: Some(MatchPattern::Exact(exact)), ignore_case: false };
    identifier(principal::Identifier::Authenticated(principal::Authenticated {
        principal_name: Some(matcher),
    }))
}

fn any() -> Principal {
    identifier(principal::Identifier::Any(true))
}

fn all_of(mut ids: Vec<Principal>) -> Principal {
    match ids.len() {
        0 => any(),
        1 => ids.remove(0),
        _ => identifier(principal::Identifier::AndIds(principal::Set { ids })),
    }
}

fn any_of(mut ids: Vec<Principal>) -> Principal {
    match ids.len() {
        1 => ids.remove(0),
        _ => identifier(principal::Identifier::OrIds(principal::Set { ids })),
    }
}

fn negate(p: Principal) -> Principal {
    identifier(principal::Identifier::NotId(Box::new(p)))
}

fn identifier(id: principal::Identifier) -> Principal {
    Principal { identifier: Some(id) }
}

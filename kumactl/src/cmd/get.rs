//! `kumactl get TYPE [NAME] [-m MESH] [-o table|yaml|json]`.
//!
//! A plural lists (across meshes unless `-m` is given); a singular fetches one resource, in mesh
//! `default` unless `-m` says otherwise. Besides the resource types, `zone-insights` lists the
//! read-only insights a global keeps.

use std::io::Write;

use anyhow::bail;
use kuma_core::resources::{ResourceType, Scope};
use time::OffsetDateTime;

use crate::client::Client;
use crate::output::{self, Format, Table};

/// `TYPE` of the zone insights, plural and singular. They are no `ResourceType`: nothing applies
/// or deletes them, the global writes them.
const ZONE_INSIGHTS: (&str, &str) = ("zone-insights", "zone-insight");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Resource type: plural to list (`meshes`, `dataplanes`, `zone-insights`), singular with a
    /// NAME.
    r#type: String,
    /// Name of the one resource to show (with a singular TYPE).
    name: Option<String>,
    /// Mesh of mesh-scoped resources.
    #[arg(short, long)]
    mesh: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// What `TYPE` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Resource(ResourceType),
    ZoneInsight,
}

impl Kind {
    /// The kind `arg` names, and whether it was the plural.
    fn parse(arg: &str) -> anyhow::Result<(Self, bool)> {
        match arg {
            _ if arg == ZONE_INSIGHTS.0 => Ok((Self::ZoneInsight, true)),
            _ if arg == ZONE_INSIGHTS.1 => Ok((Self::ZoneInsight, false)),
            _ => super::resource_type(arg)
                .map(|(ty, plural)| (Self::Resource(ty), plural))
                .map_err(|_| {
                    let mut names = super::type_names();
                    names.extend([ZONE_INSIGHTS.1, ZONE_INSIGHTS.0]);
                    anyhow::anyhow!("unknown TYPE: {arg}. Available types: {}", names.join(", "))
                }),
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Self::Resource(ty) => ty.singular(),
            Self::ZoneInsight => ZONE_INSIGHTS.1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Resource(ty) => ty.name(),
            Self::ZoneInsight => kuma_core::resources::insight::ZONE_INSIGHT_KIND,
        }
    }

    /// REST path of one record, or of the collection with `name` `None`. A singular
    /// mesh-scoped resource is in mesh `default` unless `mesh` says otherwise.
    fn path(self, mesh: Option<&str>, name: Option<&str>) -> String {
        match self {
            Self::Resource(ty) => {
                let mesh = match (ty.scope(), name) {
                    (Scope::Global, _) => None,
                    (Scope::Mesh, None) => mesh,
                    (Scope::Mesh, Some(_)) => mesh.or(Some("default")),
                };
                super::path(ty, mesh, name)
            }
            Self::ZoneInsight => match name {
                Some(name) => format!("/{}/{name}", ZONE_INSIGHTS.0),
                None => format!("/{}", ZONE_INSIGHTS.0),
            },
        }
    }

    fn table(self, items: &[serde_json::Value], now: OffsetDateTime) -> Table {
        match self {
            Self::Resource(ty) => Table::of(ty, items, now),
            Self::ZoneInsight => Table::zone_insights(items, now),
        }
    }
}

pub async fn run(args: Args, client: &Client, out: &mut impl Write) -> anyhow::Result<()> {
    let (kind, plural) = Kind::parse(&args.r#type)?;
    let mesh = args.mesh.as_deref();
    let (value, items) = match (plural, &args.name) {
        (true, None) => super::list(client, &kind.path(mesh, None)).await?,
        (false, Some(name)) => {
            let one = super::one(client, &kind.path(mesh, Some(name)), kind.name(), name).await?;
            (one.clone(), vec![one])
        }
        (true, Some(_)) => bail!("use the singular form to get one resource: {}", kind.singular()),
        (false, None) => bail!("a NAME is required with {}", kind.singular()),
    };
    let now = OffsetDateTime::now_utc();
    let text = output::document(args.output, &value, || kind.table(&items, now))?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::path;
    use super::*;

    #[test]
    fn paths_follow_scope() {
        assert_eq!(path(ResourceType::Mesh, None, Some("m")), "/meshes/m");
        assert_eq!(path(ResourceType::Dataplane, None, None), "/dataplanes");
        assert_eq!(
            path(ResourceType::TrafficPermission, Some("m"), Some("tp")),
            "/meshes/m/traffic-permissions/tp"
        );
        assert_eq!(path(ResourceType::GlobalSecret, Some("m"), None), "/global-secrets");
    }

    #[test]
    fn one_mesh_scoped_resource_defaults_to_mesh_default_and_lists_span_meshes() {
        let secret = Kind::Resource(ResourceType::Secret);
        assert_eq!(secret.path(None, Some("s")), "/meshes/default/secrets/s");
        assert_eq!(secret.path(None, None), "/secrets");
        assert_eq!(secret.path(Some("m"), None), "/meshes/m/secrets");
        let zone = Kind::Resource(ResourceType::Zone);
        assert_eq!(zone.path(Some("m"), Some("z")), "/zones/z");
    }

    #[test]
    fn zone_insights_are_a_kind_of_their_own() {
        assert_eq!(Kind::parse("zone-insights").unwrap(), (Kind::ZoneInsight, true));
        assert_eq!(Kind::parse("zone-insight").unwrap(), (Kind::ZoneInsight, false));
        assert_eq!(Kind::ZoneInsight.path(Some("m"), None), "/zone-insights");
        assert_eq!(Kind::ZoneInsight.path(None, Some("zone-1")), "/zone-insights/zone-1");
        assert_eq!(Kind::ZoneInsight.name(), "ZoneInsight");
        assert_eq!(Kind::parse("meshes").unwrap(), (Kind::Resource(ResourceType::Mesh), true));
        let ingresses = Kind::Resource(ResourceType::ZoneIngress);
        assert_eq!(Kind::parse("zone-ingresses").unwrap(), (ingresses, true));
        assert_eq!(Kind::parse("zone-ingress").unwrap(), (ingresses, false));
        assert_eq!(ingresses.path(Some("m"), None), "/zoneingresses");
        let err = Kind::parse("zone-insightz").unwrap_err();
        let err = err.to_string();
        assert!(err.starts_with("unknown TYPE: zone-insightz. Available types: mesh, meshes, "));
        assert!(err.contains(" traffic-permission, traffic-permissions, "), "{err}");
        assert!(err.ends_with(", zone-insight, zone-insights"), "{err}");
    }
}

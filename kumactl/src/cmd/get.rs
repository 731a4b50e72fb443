//! `kumactl get TYPE [NAME] [-m MESH] [-o table|yaml|json]`.
//!
//! A plural lists (across meshes unless `-m` is given); a singular fetches one resource, in mesh
//! `default` unless `-m` says otherwise.

use std::io::Write;

use anyhow::bail;
use shared::resources::Scope;
use time::OffsetDateTime;

use crate::client::{self, Client};
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Resource type: plural to list (`meshes`, `dataplanes`), singular with a NAME.
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

pub async fn run(args: Args, client: &Client, out: &mut impl Write) -> anyhow::Result<()> {
    let (ty, plural) = super::resource_type(&args.r#type)?;
    let mesh = match ty.scope() {
        Scope::Mesh => args.mesh.as_deref(),
        Scope::Global => None,
    };
    let (value, items) = match (plural, &args.name) {
        (true, None) => {
            let list = client.get(&super::path(ty, mesh, None)).await?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            (list, items)
        }
        (false, Some(name)) => {
            let mesh = mesh.or((ty.scope() == Scope::Mesh).then_some("default"));
            match client.get(&super::path(ty, mesh, Some(name))).await {
                Ok(one) => (one.clone(), vec![one]),
                Err(client::Error::Api(e)) if e.status == 404 => {
                    bail!("there is no {ty} with name {name:?}")
                }
                Err(e) => return Err(e.into()),
            }
        }
        (true, Some(_)) => bail!("use the singular form to get one resource: {}", ty.singular()),
        (false, None) => bail!("a NAME is required with {}", ty.singular()),
    };
    let text = output::render(args.output, ty, &value, &items, OffsetDateTime::now_utc())?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::path;
    use shared::resources::ResourceType;

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
}

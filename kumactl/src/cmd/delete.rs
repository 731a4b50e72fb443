//! `kumactl delete TYPE NAME [-m MESH]`.

use std::io::Write;

use anyhow::bail;
use kuma_core::resources::Scope;

use crate::client::{self, Client};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Resource type, e.g. `mesh`, `secret`, `dataplane`.
    r#type: String,
    /// Resource name.
    name: String,
    /// Mesh of a mesh-scoped resource.
    #[arg(short, long, default_value = "default")]
    mesh: String,
}

pub async fn run(args: Args, client: &Client, out: &mut impl Write) -> anyhow::Result<()> {
    let (ty, _) = super::resource_type(&args.r#type)?;
    let mesh = (ty.scope() == Scope::Mesh).then_some(args.mesh.as_str());
    match client.delete(&super::path(ty, mesh, Some(&args.name))).await {
        Ok(()) => {}
        Err(client::Error::Api(e)) if e.status == 404 => {
            bail!("there is no {ty} with name {:?}", args.name)
        }
        Err(e) => return Err(e.into()),
    }
    writeln!(out, "deleted {ty} {:?}", args.name)?;
    Ok(())
}

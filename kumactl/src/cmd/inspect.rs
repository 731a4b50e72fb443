//! `kumactl inspect zones` and `kumactl inspect zone NAME`: the zones a global knows, with each
//! one's KDS connection state, from `GET /zones/_overview` and `GET /zones/{name}/_overview`;
//! `kumactl inspect dataplanes [-m MESH]`: `GET /meshes/{mesh}/dataplanes/_overview`;
//! `kumactl inspect meshes`: `GET /meshes` and `/mesh-insights`; `kumactl inspect services
//! [-m MESH]`: `GET /meshes/{mesh}/service-insights`.
//! `kumactl inspect dataplane NAME [-m MESH] --type=config-dump`: the Envoy configuration the
//! zone control plane sends that proxy, `GET /meshes/{mesh}/dataplanes/{name}/xds`.
//!
//! This module picks the endpoint and reports a missing zone; the columns are `output`'s.

use std::io::Write;

use anyhow::bail;
use clap::Subcommand;
use time::OffsetDateTime;

use crate::client::{self, Client};
use crate::output::{self, Format, Table};

/// Path of the zone overviews on a global's API.
const OVERVIEWS: &str = "/zones/_overview";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table, global = true)]
    output: Format,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Inspect Zones.
    ///
    /// STATUS is Online while the zone's newest KDS connection is open and the zone is enabled.
    /// This control plane does not track LAST UPDATED AGO, TOTAL UPDATES and TOTAL ERRORS:
    /// they print `-`, as does ZONE-CP VERSION when the zone did not report its version.
    Zones,
    /// Inspect one Zone (the same columns as `inspect zones`).
    Zone {
        /// Name of the zone.
        name: String,
    },
    /// Inspect Dataplanes of a mesh: connection state and certificate figures from the zone's
    /// DP server (run against a zone control plane). Columns this control plane does not track
    /// print `-`.
    Dataplanes {
        /// Mesh to inspect.
        #[arg(short, long, default_value = "default")]
        mesh: String,
    },
    /// Inspect Meshes: the mTLS backend, the backends that issued the proxies' certificates and
    /// those the proxies trust (`name=count`), dataplanes online/total, services and policies,
    /// from the control plane's mesh insights.
    Meshes,
    /// Inspect Services of a mesh: type, status and dataplanes online/total.
    Services {
        /// Mesh to inspect.
        #[arg(short, long, default_value = "default")]
        mesh: String,
    },
    /// Inspect one Dataplane's Envoy configuration as the zone control plane sends it (Envoy's
    /// config dump shape; run against the zone the proxy is connected to).
    Dataplane {
        /// Name of the Dataplane.
        name: String,
        /// Its mesh.
        #[arg(short, long, default_value = "default")]
        mesh: String,
        /// What to show; only `config-dump` is served by this control plane.
        #[arg(long = "type", value_enum, default_value_t = InspectType::ConfigDump)]
        kind: InspectType,
    },
}

/// What `inspect dataplane` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InspectType {
    /// The listeners, clusters and endpoints sent to the proxy.
    ConfigDump,
}

pub async fn run(args: Args, client: &Client, out: &mut impl Write) -> anyhow::Result<()> {
    let (value, items) = match &args.what {
        What::Zones => super::list(client, OVERVIEWS).await?,
        What::Zone { name } => {
            let path = format!("/zones/{name}/_overview");
            let one = super::one(client, &path, "Zone", name).await?;
            (one.clone(), vec![one])
        }
        What::Dataplanes { mesh } => {
            super::list(client, &format!("/meshes/{mesh}/dataplanes/_overview")).await?
        }
        What::Meshes => super::list(client, "/mesh-insights").await?,
        What::Services { mesh } => {
            let path = format!("/meshes/{mesh}/service-insights");
            match super::list(client, &path).await {
                Err(e) if is_not_found(&e) => bail!("there is no Mesh with name {mesh:?}"),
                other => other?,
            }
        }
        What::Dataplane { name, mesh, kind } => {
            return config_dump(client, mesh, name, *kind, out).await;
        }
    };
    let now = OffsetDateTime::now_utc();
    let text = match &args.what {
        What::Dataplanes { .. } => {
            output::document(args.output, &value, || Table::dataplane_overviews(&items, now))?
        }
        What::Meshes => {
            let (_, meshes) = super::list(client, "/meshes?size=1000").await?;
            output::document(args.output, &value, || Table::mesh_insights(&meshes, &items))?
        }
        What::Services { .. } => {
            output::document(args.output, &value, || Table::service_insights(&items))?
        }
        _ => output::document(args.output, &value, || Table::zone_overviews(&items, now))?,
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

fn is_not_found(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<client::Error>(), Some(client::Error::Api(e)) if e.status == 404)
}

/// Prints what the zone sends proxy `mesh`/`name` (Kuma prints the config dump as JSON).
async fn config_dump(
    client: &Client,
    mesh: &str,
    name: &str,
    kind: InspectType,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let InspectType::ConfigDump = kind;
    let path = format!("/meshes/{mesh}/dataplanes/{name}/xds");
    let dump = match client.get(&path).await {
        Ok(dump) => dump,
        Err(crate::client::Error::Api(e)) if e.status == 404 => anyhow::bail!(
            "Dataplane {name:?} of mesh {mesh:?} has no Envoy connected to this control plane over \
             ADS (inspect it on the zone control plane its proxy is connected to)"
        ),
        Err(e) => return Err(e.into()),
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&dump)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cmd::{Cli, Command};

    fn parse(args: &[&str]) -> Args {
        let cli = Cli::try_parse_from([&["kumactl", "inspect"], args].concat()).unwrap();
        match cli.command {
            Command::Inspect(args) => args,
            other => panic!("not inspect: {other:?}"),
        }
    }

    #[test]
    fn output_flag_goes_before_or_after_the_subcommand() {
        assert_eq!(parse(&["zones"]).output, Format::Table);
        assert_eq!(parse(&["zones", "-o", "json"]).output, Format::Json);
        assert_eq!(parse(&["-o", "yaml", "zones"]).output, Format::Yaml);
        let args = parse(&["zone", "zone-1", "--output", "json"]);
        assert_eq!(args.output, Format::Json);
        assert!(matches!(args.what, What::Zone { name } if name == "zone-1"));
    }

    #[test]
    fn inspect_dataplane_takes_kumas_flags() {
        let args = parse(&["dataplane", "web", "-m", "demo", "--type=config-dump"]);
        assert!(matches!(
            args.what,
            What::Dataplane { name, mesh, kind: InspectType::ConfigDump } if name == "web" && mesh == "demo"
        ));
        let args = parse(&["dataplane", "web"]);
        assert!(matches!(args.what, What::Dataplane { mesh, .. } if mesh == "default"));
        let err = Cli::try_parse_from(["kumactl", "inspect", "dataplane", "web", "--type=stats"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn inspect_zone_needs_a_name() {
        let err = Cli::try_parse_from(["kumactl", "inspect", "zone"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}

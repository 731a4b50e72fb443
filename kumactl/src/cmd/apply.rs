//! `kumactl apply -f FILE|-`: PUT every document of a YAML or JSON file to its path.
//!
//! Every document is checked (`type`, `name`, and `mesh` for mesh-scoped types) before the first
//! request, so a bad file changes nothing.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use kuma_core::resources::{ResourceType, Scope};
use serde::Deserialize;
use serde_json::Value;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// File with the resources (YAML or JSON, `---` between documents); `-` reads stdin.
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
}

/// One document ready to send.
#[derive(Debug, PartialEq)]
struct Document {
    path: String,
    body: Value,
}

pub async fn run(args: Args, client: &Client, _out: &mut impl Write) -> anyhow::Result<()> {
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    for doc in parse(&text)? {
        client.put(&doc.path, &doc.body).await?;
    }
    Ok(())
}

fn parse(text: &str) -> anyhow::Result<Vec<Document>> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value =
            Value::deserialize(de).with_context(|| format!("parsing document {}", i + 1))?;
        if value.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        docs.push(document(value).with_context(|| format!("document {}", i + 1))?);
    }
    if docs.is_empty() {
        bail!("no resources to apply");
    }
    Ok(docs)
}

fn document(body: Value) -> anyhow::Result<Document> {
    let field = |name: &str| body[name].as_str().filter(|s| !s.is_empty());
    let Some(type_name) = field("type") else {
        bail!("type field is required");
    };
    let Some(name) = field("name") else {
        bail!("name field is required");
    };
    let Some(ty) = ResourceType::from_name(type_name) else {
        bail!("unknown type {type_name:?}");
    };
    let mesh = field("mesh");
    if ty.scope() == Scope::Mesh && mesh.is_none() {
        bail!("mesh field is required for {type_name}");
    }
    let path = super::path(ty, mesh, Some(name));
    Ok(Document { path, body })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_stream_becomes_puts_to_kuma_paths() {
        let text = "\
type: Mesh
name: default
---
type: Secret
mesh: default
name: s1
data: aGk=
---
{\"type\": \"Zone\", \"name\": \"zone-1\", \"enabled\": true}
---
";
        let docs = parse(text).unwrap();
        let paths: Vec<_> = docs.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/meshes/default", "/meshes/default/secrets/s1", "/zones/zone-1"]);
        assert_eq!(docs[2].body, json!({"type":"Zone","name":"zone-1","enabled":true}));
    }

    #[test]
    fn a_document_without_type_or_name_fails_the_whole_file() {
        let err = parse("type: Mesh\nname: a\n---\nname: b\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "document 2: type field is required");
        let err = parse("type: Mesh\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "document 1: name field is required");
        let err = parse("type: Dataplane\nname: dp\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "document 1: mesh field is required for Dataplane");
        let err = parse("type: Nope\nname: x\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "document 1: unknown type \"Nope\"");
        assert!(parse("").is_err());
    }
}

//! `isthmus apply -f FILE [--dry-run]`: networks, peerings and clusters as documents (YAML
//! or JSON; several YAML documents separated by `---`, or a JSON/YAML list), created or
//! updated by name so that applying the same file twice changes nothing. Each document
//! prints one line: created, updated (with the fields that changed, old → new), or
//! unchanged; `--dry-run` prints the same lines and changes nothing.
//!
//! A document is what `isthmus <kind> get NAME -o yaml` prints (the fields the server
//! owns, such as `id`, `status` or `nodes`, are ignored), or just the fields a create takes.
//! `kind:` says which kind it is; without it, the kind is told by its fields (`cidr_block`:
//! a network, `peer`: a peering, `engine`: a cluster). A peering or cluster names its
//! network by `network_id` or `network` (a name or an id). Fields an update cannot change
//! (a network's CIDR, a cluster's engine) that differ are an error naming them: such a
//! change means a new object.

use std::io::Read;

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::Ctx;
use crate::client::{segment, ApiError};

/// What apply knows about a kind: which fields a create takes and which an update may
/// change.
struct KindSpec {
    name: &'static str,
    plural: &'static str,
    /// A field only this kind's documents have.
    tell: &'static str,
    create: &'static [&'static str],
    update: &'static [&'static str],
}

const KINDS: &[KindSpec] = &[
    KindSpec {
        name: "network",
        plural: "networks",
        tell: "cidr_block",
        create: &["name", "provider", "region", "cidr_block"],
        update: &[],
    },
    KindSpec {
        name: "peering",
        plural: "peerings",
        tell: "peer",
        create: &[
            "name",
            "network_id",
            "peer",
            "routes",
            "transit_routes",
            "allow_gateway_transit",
        ],
        update: &["routes", "transit_routes", "allow_gateway_transit"],
    },
    KindSpec {
        name: "cluster",
        plural: "clusters",
        tell: "engine",
        create: &[
            "name",
            "network_id",
            "engine",
            "topology",
            "public_access",
            "private_allowlist",
            "egress_allowlist",
        ],
        update: &["public_access", "private_allowlist", "egress_allowlist"],
    },
];

/// The documents in `text`: YAML (one or several, or a list) or JSON.
fn documents(text: &str) -> anyhow::Result<Vec<Map<String, Value>>> {
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value: Value = serde::Deserialize::deserialize(doc)
            .with_context(|| format!("document {} is not YAML or JSON", i + 1))?;
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    docs.push(object(item, i)?);
                }
            }
            other => docs.push(object(other, i)?),
        }
    }
    Ok(docs)
}

fn object(value: Value, i: usize) -> anyhow::Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => anyhow::bail!("document {} is not a mapping of fields", i + 1),
    }
}

fn kind_of(doc: &Map<String, Value>) -> anyhow::Result<&'static KindSpec> {
    if let Some(kind) = doc.get("kind").and_then(Value::as_str) {
        return KINDS
            .iter()
            .find(|k| k.name == kind || k.plural == kind)
            .with_context(|| format!("kind '{kind}': apply takes network, peering or cluster"));
    }
    KINDS
        .iter()
        .find(|k| doc.contains_key(k.tell))
        .context("a document without `kind:` and without cidr_block, peer or engine")
}

pub async fn run(ctx: &Ctx, file: &str, dry_run: bool) -> anyhow::Result<String> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("read {file}"))?
    };
    let mut docs: Vec<(&KindSpec, Map<String, Value>)> = documents(&text)?
        .into_iter()
        .map(|d| Ok((kind_of(&d)?, d)))
        .collect::<anyhow::Result<_>>()?;
    // Networks before what lives in them, whatever the file's order.
    docs.sort_by_key(|(k, _)| KINDS.iter().position(|x| x.name == k.name));
    let project = ctx.project_path().await?;
    let mut out = String::new();
    for (kind, doc) in docs {
        let line = apply_one(ctx, &project, kind, doc, dry_run).await?;
        out.push_str(&line);
    }
    if dry_run {
        out.push_str("(dry run: nothing was changed)\n");
    }
    Ok(out)
}

async fn apply_one(
    ctx: &Ctx,
    project: &str,
    kind: &KindSpec,
    mut doc: Map<String, Value>,
    dry_run: bool,
) -> anyhow::Result<String> {
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .with_context(|| format!("a {} document without a name", kind.name))?
        .to_string();
    let label = format!("{} {name}", kind.name);
    // The network by name or id, as the id the API's bodies take.
    if let Some(network) = doc.remove("network").or_else(|| doc.remove("network_id")) {
        let given = network.as_str().context("network: a name or an id")?;
        let path = format!("{project}/networks/{}", segment(given));
        let id = match ctx.client.get::<Value>(&path).await {
            Ok(found) => found["id"].clone(),
            // A network this same file creates (dry run: not there yet).
            Err(_) if dry_run => Value::String(given.to_string()),
            Err(e) => return Err(e.context(format!("{label}: network {given}"))),
        };
        doc.insert("network_id".into(), id);
    }
    let path = format!("{project}/{}/{}", kind.plural, segment(&name));
    let current = match ctx.client.get::<Value>(&path).await {
        Ok(current) => Some(current),
        Err(e)
            if e.downcast_ref::<ApiError>()
                .is_some_and(|a| a.status == 404) =>
        {
            None
        }
        Err(e) => return Err(e.context(label)),
    };
    let Some(current) = current else {
        let body: Map<String, Value> = kind
            .create
            .iter()
            .filter_map(|f| doc.get(*f).map(|v| (f.to_string(), v.clone())))
            .collect();
        if !dry_run {
            ctx.client
                .post::<_, Value>(&format!("{project}/{}", kind.plural), &body)
                .await
                .with_context(|| format!("create {label}"))?;
        }
        return Ok(format!("{label}: created\n"));
    };
    // What the document says and the object differs in.
    let mut changes = Map::new();
    let mut lines = Vec::new();
    let mut fixed = Vec::new();
    for field in kind.create.iter().filter(|f| **f != "name") {
        let (Some(want), have) = (doc.get(*field), &current[*field]) else {
            continue;
        };
        if same(want, have) {
            continue;
        }
        if kind.update.contains(field) {
            changes.insert(field.to_string(), want.clone());
            lines.push(format!("  {field}: {} → {}", compact(have), compact(want)));
        } else {
            fixed.push(format!("{field} ({} → {})", compact(have), compact(want)));
        }
    }
    anyhow::ensure!(
        fixed.is_empty(),
        "{label}: {} cannot change after create (delete it and apply again)",
        fixed.join(", ")
    );
    if changes.is_empty() {
        return Ok(format!("{label}: unchanged\n"));
    }
    if !dry_run {
        ctx.client
            .patch::<_, Value>(&path, &changes)
            .await
            .with_context(|| format!("update {label}"))?;
    }
    Ok(format!("{label}: updated\n{}\n", lines.join("\n")))
}

/// Equal as JSON, where a missing optional field equals its empty value.
fn same(want: &Value, have: &Value) -> bool {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Bool(b) => !b,
        _ => false,
    };
    want == have || (empty(want) && empty(have))
}

fn compact(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_come_from_yaml_streams_lists_and_json() {
        let yaml = "name: a\ncidr_block: 10.0.0.0/16\n---\nkind: cluster\nname: b\n";
        let docs = documents(yaml).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(kind_of(&docs[0]).unwrap().name, "network");
        assert_eq!(kind_of(&docs[1]).unwrap().name, "cluster");
        let json = r#"[{"name": "p", "peer": {}}]"#;
        assert_eq!(
            kind_of(&documents(json).unwrap()[0]).unwrap().name,
            "peering"
        );
        assert!(kind_of(&documents("name: x").unwrap()[0]).is_err());
    }
}

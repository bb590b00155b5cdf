//! `isthmus vpn gateway …` (create; list, get, delete, wait are generic) and
//! `isthmus vpn client add|list|get|config|revoke|rotate`. A client is named by its id
//! alone: the CLI reads its gateway from it for the routes under the gateway.

use anyhow::Context as _;
use chrono::{Duration, Utc};
use isthmus_core::kinds::vpn_client::{VpnClient, VpnGrantRequest};
use isthmus_core::kinds::vpn_gateway::{VpnDns, VpnGateway, VpnGatewayCreate};
use isthmus_core::resources::Cluster;
use serde::Deserialize;

use super::{object, Ctx};
use crate::args::vpn::{DnsMode, VpnClientCommand, VpnCommand, VpnGatewayCommand};
use crate::args::OutputFormat;
use crate::client::segment;
use crate::kinds::CliKind;
use crate::output::{or_dash, time, Details, View};
use crate::wait::Goal;

/// The placeholder the server's config has where the laptop's private key goes.
const KEY_PLACEHOLDER: &str = "<the private key of the pair you registered>";

pub async fn run(ctx: &Ctx, command: VpnCommand) -> anyhow::Result<String> {
    match command {
        VpnCommand::Gateway(c) => gateway(ctx, c).await,
        VpnCommand::Client(c) => client(ctx, c).await,
    }
}

async fn gateway(ctx: &Ctx, command: VpnGatewayCommand) -> anyhow::Result<String> {
    let at = object::Paths::of::<VpnGateway>(ctx).await?;
    match command {
        VpnGatewayCommand::Create {
            name,
            network,
            client_cidr,
            dns,
            max_client_days,
            wait,
        } => {
            let body = VpnGatewayCreate {
                name,
                network_id: network,
                client_cidr,
                dns: match dns {
                    DnsMode::Push => VpnDns::Push,
                    DnsMode::None => VpnDns::None,
                },
                max_client_days,
            };
            object::create::<VpnGateway>(ctx, &at, &body, wait).await
        }
        VpnGatewayCommand::Object(verbs) => object::run::<VpnGateway>(ctx, &at, verbs.verb).await,
    }
}

/// A client as the API answers a create or rotate: with the private key of a pair the
/// server made, once.
#[derive(Deserialize)]
struct WithKey {
    #[serde(flatten)]
    client: VpnClient,
    private_key: Option<String>,
}

/// Shows the client, and the generated private key on stderr (JSON output keeps it in
/// the object, as the API answered it).
fn show_with_key(ctx: &Ctx, answer: WithKey, raw: serde_json::Value) -> anyhow::Result<String> {
    if ctx.format != OutputFormat::Table {
        return match ctx.format {
            OutputFormat::Yaml => crate::output::yaml(&raw),
            _ => crate::output::json(&raw),
        };
    }
    if let Some(key) = &answer.private_key {
        eprintln!(
            "private key (shown once; the server does not keep it): {key}\n\
             save it, then: isthmus vpn client config {} --private-key-file <file>",
            answer.client.id
        );
    }
    ctx.one(&answer.client)
}

/// `CLUSTER` or `CLUSTER:PORT[,PORT…]`; without ports, the cluster engine's first port.
async fn grant(ctx: &Ctx, raw: &str) -> anyhow::Result<VpnGrantRequest> {
    let (cluster_id, ports) = match raw.split_once(':') {
        Some((c, p)) => (c.to_string(), Some(p)),
        None => (raw.to_string(), None),
    };
    let ports = match ports {
        Some(list) => list
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .with_context(|| format!("--grant {raw}: '{p}' is not a port 1-65535"))
            })
            .collect::<anyhow::Result<Vec<u16>>>()?,
        None => {
            let path = format!(
                "{}/clusters/{}",
                ctx.project_path().await?,
                segment(&cluster_id)
            );
            let cluster: Cluster = ctx.client.get(&path).await?;
            let port = isthmus_core::engines::find(&cluster.engine)
                .and_then(|e| e.ports.first())
                .with_context(|| format!("--grant {raw}: name the ports (CLUSTER:PORTS)"))?;
            vec![port.number]
        }
    };
    Ok(VpnGrantRequest { cluster_id, ports })
}

async fn client(ctx: &Ctx, command: VpnClientCommand) -> anyhow::Result<String> {
    let project = ctx.project_path().await?;
    let one = |id: &str| format!("{project}/vpn-clients/{}", segment(id));
    let under = |gateway: &str| format!("{project}/vpn-gateways/{}/clients", segment(gateway));
    match command {
        VpnClientCommand::Add {
            gateway,
            name,
            grants,
            expires,
            public_key,
        } => {
            let mut requests = vec![];
            for raw in &grants {
                requests.push(grant(ctx, raw).await?);
            }
            let expires_at = match expires {
                Some(raw) => {
                    let secs = crate::args::parse_duration_seconds(&raw)
                        .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
                    let secs = i64::try_from(secs).context("--expires is too long")?;
                    Some(Utc::now() + Duration::seconds(secs))
                }
                None => None,
            };
            let body = serde_json::json!({
                "name": name,
                "public_key": public_key,
                "grants": requests,
                "expires_at": expires_at,
            });
            let raw: serde_json::Value = ctx.client.post(&under(&gateway), &body).await?;
            let answer: WithKey = serde_json::from_value(raw.clone())?;
            show_with_key(ctx, answer, raw)
        }
        VpnClientCommand::List { gateway } => {
            let list: Vec<VpnClient> = ctx.client.get(&under(&gateway)).await?;
            ctx.list(&list)
        }
        VpnClientCommand::Get { client } => {
            let c: VpnClient = ctx.client.get(&one(&client)).await?;
            ctx.one(&c)
        }
        VpnClientCommand::Config {
            client,
            private_key_file,
            qr,
            out,
        } => {
            let c: VpnClient = ctx.client.get(&one(&client)).await?;
            let path = format!(
                "{}/{}/config",
                under(&c.gateway_id.to_string()),
                segment(&client)
            );
            if qr {
                let out = out.context("--qr writes a PNG: give the file with --out")?;
                let png = ctx.client.get_bytes(&format!("{path}?format=qr")).await?;
                std::fs::write(&out, png).with_context(|| format!("write {}", out.display()))?;
                return Ok(String::new());
            }
            let mut text = ctx.client.get_text(&path).await?;
            if let Some(file) = private_key_file {
                let key = std::fs::read_to_string(&file)
                    .with_context(|| format!("read {}", file.display()))?;
                text = text.replace(KEY_PLACEHOLDER, key.trim());
            }
            match out {
                Some(out) => {
                    write_private(&out, &text)?;
                    Ok(String::new())
                }
                None => Ok(text),
            }
        }
        VpnClientCommand::Revoke { client, wait } => {
            let revoking: VpnClient = ctx.client.delete(&one(&client)).await?;
            ctx.settle(&one(&client), revoking, Goal::Deleted, wait)
                .await
        }
        VpnClientCommand::Update {
            client,
            grants,
            name,
        } => {
            let mut body = serde_json::Map::new();
            if !grants.is_empty() {
                let mut requests = vec![];
                for raw in &grants {
                    requests.push(grant(ctx, raw).await?);
                }
                body.insert("grants".into(), serde_json::to_value(requests)?);
            }
            if let Some(name) = name {
                body.insert("name".into(), name.into());
            }
            anyhow::ensure!(
                !body.is_empty(),
                "nothing to change: give --grant or --name"
            );
            let c: VpnClient = ctx.client.patch(&one(&client), &body).await?;
            ctx.one(&c)
        }
        VpnClientCommand::Rotate { client, public_key } => {
            let c: VpnClient = ctx.client.get(&one(&client)).await?;
            let path = format!(
                "{}/{}/rotate",
                under(&c.gateway_id.to_string()),
                segment(&client)
            );
            let body = serde_json::json!({ "public_key": public_key });
            let raw: serde_json::Value = ctx.client.post(&path, &body).await?;
            let answer: WithKey = serde_json::from_value(raw.clone())?;
            show_with_key(ctx, answer, raw)
        }
    }
}

/// A config that may hold a private key: readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl CliKind for VpnGateway {
    const GET_ABOUT: &'static str = "Show one VPN gateway: endpoint, public key, client range";
    const DELETE_ABOUT: &'static str =
        "Delete a VPN gateway (refused while it has clients; --cascade revokes them with it)";
}

impl View for VpnGateway {
    const HEADERS: &'static [&'static str] =
        &["ID", "NAME", "NETWORK", "CLIENT CIDR", "ENDPOINT", "STATUS"];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.network_id.to_string(),
            self.client_cidr.to_string(),
            or_dash(self.endpoint.as_deref()),
            self.status.to_string(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", self.id)
            .field("name", &self.name)
            .field("network_id", self.network_id)
            .field("client_cidr", self.client_cidr)
            .field("dns", format!("{:?}", self.dns).to_lowercase())
            .field("max_client_days", self.max_client_days)
            .field("endpoint", or_dash(self.endpoint.as_deref()))
            .field(
                "public_key",
                or_dash(self.public_key.map(|k| k.to_string()).as_deref()),
            )
            .field("status", self.status)
            .field("status_message", &self.status_message)
            .field("created_at", time(&self.created_at))
    }
}

impl View for VpnClient {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "NAME",
        "ADDRESS",
        "STATE",
        "LAST HANDSHAKE",
        "DENIED",
        "EXPIRES",
    ];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.address.to_string(),
            self.status.to_string(),
            or_dash(self.last_handshake_at.map(|t| time(&t)).as_deref()),
            self.denied_flows.to_string(),
            time(&self.expires_at),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", self.id)
            .field("name", &self.name)
            .field("gateway_id", self.gateway_id)
            .field("address", self.address)
            .field("public_key", self.public_key)
            .block(
                "grants",
                self.grants
                    .iter()
                    .map(|g| {
                        let ports: Vec<String> = g.ports.iter().map(u16::to_string).collect();
                        format!("{}:{}", g.cluster_id, ports.join(","))
                    })
                    .collect(),
            )
            .field("state", self.status)
            .field("status_message", &self.status_message)
            .field(
                "last_handshake_at",
                or_dash(self.last_handshake_at.map(|t| time(&t)).as_deref()),
            )
            .field("endpoint", or_dash(self.endpoint.as_deref()))
            .field("rx_bytes", self.rx_bytes)
            .field("tx_bytes", self.tx_bytes)
            .field("denied_flows", self.denied_flows)
            .field("expires_at", time(&self.expires_at))
            .field(
                "revoked_at",
                or_dash(self.revoked_at.map(|t| time(&t)).as_deref()),
            )
    }
}

impl CliKind for VpnClient {
    const GET_ABOUT: &'static str = "Show one VPN client";
    const DELETE_ABOUT: &'static str = "Revoke a VPN client";
}

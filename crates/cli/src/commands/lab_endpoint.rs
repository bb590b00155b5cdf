//! `isthmus lab endpoint …`: private endpoints inside lab VPCs (the customer's side of a
//! `local` endpoint service).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::lab::vpc_path;
use super::Ctx;
use crate::args::LabEndpointCommand;
use crate::client::segment;
use crate::output::{Details, View};

/// A lab endpoint as the server shows it.
#[derive(Debug, Deserialize, Serialize)]
struct LabEndpoint {
    vpc: String,
    name: String,
    service: String,
    ip: String,
    endpoint_id: String,
    status: String,
    message: String,
    namespace: String,
    nat_ip: Option<String>,
    #[serde(default)]
    node_ips: Vec<String>,
    node_port_rule: String,
}

impl View for LabEndpoint {
    const HEADERS: &'static [&'static str] = &["VPC", "NAME", "IP", "STATUS", "SERVICE"];
    fn row(&self) -> Vec<String> {
        vec![
            self.vpc.clone(),
            self.name.clone(),
            self.ip.clone(),
            self.status.clone(),
            self.service.clone(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("vpc", &self.vpc)
            .field("name", &self.name)
            .field("ip", &self.ip)
            .field("service", &self.service)
            .field("endpoint_id", &self.endpoint_id)
            .field("status", &self.status)
            .field("message", &self.message)
            .field("nat_ip", self.nat_ip.as_deref().unwrap_or("-"))
            .field("node_ips", self.node_ips.join(","))
            .field("nodes", &self.node_port_rule)
            .field("namespace", &self.namespace)
    }
}

pub async fn run(ctx: &Ctx, command: LabEndpointCommand) -> anyhow::Result<String> {
    match command {
        LabEndpointCommand::Create {
            vpc,
            name,
            service,
            ip,
        } => {
            let body = json!({ "name": name, "service": service, "ip": ip });
            let path = format!("{}/endpoints", vpc_path(&vpc));
            ctx.one(&ctx.client.post::<_, LabEndpoint>(&path, &body).await?)
        }
        LabEndpointCommand::List => ctx.list(
            &ctx.client
                .get::<Vec<LabEndpoint>>("/v1/lab/endpoints")
                .await?,
        ),
        LabEndpointCommand::Delete { vpc, name } => {
            let (vpc, name) = match name {
                Some(name) => (vpc, name),
                None => match vpc.split_once('/') {
                    Some((vpc, name)) => (vpc.to_string(), name.to_string()),
                    None => anyhow::bail!("give VPC NAME or VPC/NAME"),
                },
            };
            let path = format!("{}/endpoints/{}", vpc_path(&vpc), segment(&name));
            ctx.client
                .send_no_content(Method::DELETE, &path, &json!(null))
                .await?;
            Ok(format!("lab endpoint {vpc}/{name} deleted\n"))
        }
    }
}

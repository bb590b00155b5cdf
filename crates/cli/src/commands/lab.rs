//! `isthmus lab …`: lab VPCs and hosts on the server's host, and `lab exec`, which runs a
//! command inside a lab host and exits with that command's exit code.

use std::io::Write;

use anyhow::Context as _;
use isthmus_core::lab::{LabHost, LabVpc};
use isthmus_driver_local::LocalConfig;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::Ctx;
use crate::args::{
    LabCommand, LabExecArgs, LabHostCommand, LabInternetCommand, LabInternetHostCommand,
    LabServiceCommand, LabVpcCommand, LocalServeArgs, OutputFormat,
};
use crate::client::segment;
use crate::output::{self, time, Details, View};

impl View for LabVpc {
    const HEADERS: &'static [&'static str] = &["NAME", "CIDR", "BEHIND", "HOSTS", "CREATED"];
    fn row(&self) -> Vec<String> {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| format!("{}={}", h.name, h.ip))
            .collect();
        vec![
            self.name.clone(),
            self.cidr_block.to_string(),
            self.behind.clone().unwrap_or_else(|| "-".into()),
            if hosts.is_empty() {
                "-".into()
            } else {
                hosts.join(",")
            },
            time(&self.created_at),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("name", &self.name)
            .field("cidr_block", self.cidr_block)
            .field("behind", self.behind.as_deref().unwrap_or("-"))
            .field("created_at", time(&self.created_at))
            .block(
                "hosts",
                self.hosts
                    .iter()
                    .map(|h| format!("{} {}", h.name, h.ip))
                    .collect(),
            )
    }
}

impl View for LabHost {
    const HEADERS: &'static [&'static str] = &["NAME", "IP"];
    fn row(&self) -> Vec<String> {
        vec![self.name.clone(), self.ip.to_string()]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("name", &self.name)
            .field("ip", self.ip)
    }
}

/// What the server answers to `exec`.
#[derive(Debug, Deserialize, serde::Serialize)]
struct ExecResult {
    status: i32,
    stdout: String,
    stderr: String,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    timed_out: bool,
}

/// The local provider's config for `isthmus serve`, unless it was turned off.
pub fn serve_config(args: &LocalServeArgs) -> Option<LocalConfig> {
    (!args.no_local).then(|| LocalConfig {
        prefix: args.local_prefix.clone(),
    })
}

pub(super) fn vpc_path(vpc: &str) -> String {
    format!("/v1/lab/vpcs/{}", segment(vpc))
}

pub async fn run(ctx: &Ctx, command: LabCommand) -> anyhow::Result<String> {
    match command {
        LabCommand::Vpc(LabVpcCommand::Create { name, cidr, behind }) => {
            let body = json!({ "name": name, "cidr_block": cidr, "behind": behind });
            ctx.one(&ctx.client.post::<_, LabVpc>("/v1/lab/vpcs", &body).await?)
        }
        LabCommand::Vpc(LabVpcCommand::List) => {
            ctx.list(&ctx.client.get::<Vec<LabVpc>>("/v1/lab/vpcs").await?)
        }
        LabCommand::Vpc(LabVpcCommand::Delete { name }) => {
            ctx.client
                .send_no_content(Method::DELETE, &vpc_path(&name), &json!(null))
                .await?;
            Ok(format!("lab VPC {name} deleted\n"))
        }
        LabCommand::Host(LabHostCommand::Add { vpc, host, ip }) => {
            let body = json!({ "name": host, "ip": ip });
            let path = format!("{}/hosts", vpc_path(&vpc));
            ctx.one(&ctx.client.post::<_, LabHost>(&path, &body).await?)
        }
        LabCommand::Host(LabHostCommand::Delete { vpc, host }) => {
            let path = format!("{}/hosts/{}", vpc_path(&vpc), segment(&host));
            ctx.client
                .send_no_content(Method::DELETE, &path, &json!(null))
                .await?;
            Ok(format!("lab host {vpc}/{host} deleted\n"))
        }
        LabCommand::Internet(LabInternetCommand::Host(command)) => internet(ctx, command).await,
        LabCommand::Service(command) => service(ctx, command).await,
        LabCommand::Exec(args) => exec(ctx, args).await,
        LabCommand::Endpoint(command) => super::lab_endpoint::run(ctx, command).await,
    }
}

/// `VPC/HOST` split in two.
fn vpc_host(target: &str) -> anyhow::Result<(&str, &str)> {
    target
        .split_once('/')
        .filter(|(v, h)| !v.is_empty() && !h.is_empty())
        .with_context(|| format!("'{target}' is not VPC/HOST"))
}

/// A service on a lab host, as the server reports it.
#[derive(Debug, Deserialize, serde::Serialize)]
struct LabService {
    vpc: String,
    host: String,
    kind: String,
    url: String,
    /// Every node's URL (a cluster has several).
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

impl LabService {
    /// Every node's URL, comma-separated: what `migration create --source` takes (repeat).
    fn all_urls(&self) -> String {
        if self.urls.is_empty() {
            self.url.clone()
        } else {
            self.urls.join(",")
        }
    }
}

impl View for LabService {
    const HEADERS: &'static [&'static str] = &["HOST", "KIND", "NODES", "URLS"];
    fn row(&self) -> Vec<String> {
        vec![
            format!("{}/{}", self.vpc, self.host),
            self.kind.clone(),
            self.urls.len().max(1).to_string(),
            self.all_urls(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("host", format!("{}/{}", self.vpc, self.host))
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("nodes", self.hosts.join(","))
            .field("urls", self.all_urls())
    }
}

async fn service(ctx: &Ctx, command: LabServiceCommand) -> anyhow::Result<String> {
    let services = |target: &str| -> anyhow::Result<String> {
        let (vpc, host) = vpc_host(target)?;
        Ok(format!(
            "{}/hosts/{}/services",
            vpc_path(vpc),
            segment(host)
        ))
    };
    match command {
        LabServiceCommand::Add {
            target,
            kind,
            port,
            peers,
        } => {
            let body = json!({ "kind": kind, "port": port, "peers": peers });
            ctx.one(
                &ctx.client
                    .post::<_, LabService>(&services(&target)?, &body)
                    .await?,
            )
        }
        LabServiceCommand::Fill {
            target,
            kind,
            stream,
            count,
            subjects,
            size,
        } => {
            let path = format!("{}/{}/fill", services(&target)?, segment(&kind));
            let body =
                json!({ "stream": stream, "count": count, "subjects": subjects, "size": size });
            let report: serde_json::Value = ctx.client.post(&path, &body).await?;
            Ok(format!("{}\n", serde_json::to_string(&report)?))
        }
        LabServiceCommand::Delete { target, kind } => {
            let path = format!("{}/{}", services(&target)?, segment(&kind));
            ctx.client
                .send_no_content(Method::DELETE, &path, &json!(null))
                .await?;
            Ok(format!("lab service {kind} on {target} stopped\n"))
        }
        LabServiceCommand::List => ctx.list(
            &ctx.client
                .get::<Vec<LabService>>("/v1/lab/services")
                .await?,
        ),
    }
}

const INTERNET_HOSTS: &str = "/v1/lab/internet/hosts";

async fn internet(ctx: &Ctx, command: LabInternetHostCommand) -> anyhow::Result<String> {
    match command {
        LabInternetHostCommand::Add { name, ip } => {
            let body = json!({ "name": name, "ip": ip });
            ctx.one(&ctx.client.post::<_, LabHost>(INTERNET_HOSTS, &body).await?)
        }
        LabInternetHostCommand::Delete { name } => {
            let path = format!("{INTERNET_HOSTS}/{}", segment(&name));
            ctx.client
                .send_no_content(Method::DELETE, &path, &json!(null))
                .await?;
            Ok(format!("internet host {name} deleted\n"))
        }
        LabInternetHostCommand::List => {
            ctx.list(&ctx.client.get::<Vec<LabHost>>(INTERNET_HOSTS).await?)
        }
    }
}

/// Runs the command on the server's host and passes its output through; a non-zero exit
/// code ends this process with the same code.
async fn exec(ctx: &Ctx, args: LabExecArgs) -> anyhow::Result<String> {
    let (vpc, host) = args
        .target
        .split_once('/')
        .filter(|(v, h)| !v.is_empty() && !h.is_empty())
        .with_context(|| format!("'{}' is not VPC/HOST", args.target))?;
    let path = format!("{}/hosts/{}/exec", vpc_path(vpc), segment(host));
    let result: ExecResult = ctx
        .client
        .post(
            &path,
            &json!({ "argv": args.argv, "timeout_seconds": args.timeout }),
        )
        .await?;
    let shown = match ctx.format {
        OutputFormat::Table => {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(result.stderr.as_bytes());
            if result.truncated {
                let _ = writeln!(stderr, "isthmus: output cut at 16 MiB per stream");
            }
            if result.timed_out {
                let _ = writeln!(
                    stderr,
                    "isthmus: the command ran past its timeout and was killed"
                );
            }
            let _ = stderr.flush();
            result.stdout.clone()
        }
        OutputFormat::Json => output::json(&result)?,
        OutputFormat::Yaml => output::yaml(&result)?,
    };
    if result.status != 0 {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(shown.as_bytes());
        let _ = stdout.flush();
        // Exit codes are one byte; a negative status (no code at all) still fails.
        std::process::exit(if (1..=255).contains(&result.status) {
            result.status
        } else {
            255
        });
    }
    Ok(shown)
}

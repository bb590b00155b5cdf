//! `isthmus plan …`: the offline planners (cover, split, free, k8s, tailscale). They call the core directly (no server), so
//! they work before anything is installed. `run` returns the text to print; an error is
//! one line that names the input at fault.

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Subcommand;
use isthmus_core::planner::k8s::{plan_k8s, render_k8s, K8sRanges};
use isthmus_core::planner::tailscale::render_tailscale;
use isthmus_core::planner::{cover, free, render_split_table, split};
use isthmus_core::resources::{Network, Peering, Provider};
use isthmus_core::Cidr;

use crate::client::segment;
use crate::commands::Ctx;

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// The smallest single prefix that covers every given prefix.
    Cover {
        /// Prefixes to cover, e.g. 10.1.0.0/16 10.2.0.0/16.
        #[arg(required = true)]
        prefixes: Vec<String>,
    },
    /// Split a parent prefix into consecutive aligned subnets, e.g. for GKE nodes, pods
    /// and services: `isthmus plan split 172.30.0.0/15 --into 16,17,17`.
    Split {
        /// The prefix to split.
        parent: String,
        /// Prefix lengths of the subnets, in order.
        #[arg(long, value_delimiter = ',', required = true)]
        into: Vec<u8>,
    },
    /// The first free prefixes of a size inside a parent that avoid the given ones.
    Free {
        /// The prefix to search.
        parent: String,
        /// Prefix length of the blocks wanted, e.g. 24.
        #[arg(long)]
        size: u8,
        /// How many blocks to find.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// A prefix already in use (networks, peering routes); repeat for more.
        #[arg(long)]
        avoid: Vec<String>,
    },
    /// Check a Kubernetes cluster's node, pod and service ranges against a peering's
    /// routes; print the covering prefix to route and its layout.
    K8s {
        /// The node subnet, e.g. 172.31.0.0/17.
        #[arg(long)]
        subnet: String,
        /// The pod range, e.g. 172.30.0.0/16.
        #[arg(long)]
        pods: String,
        /// The service range, e.g. 172.31.128.0/17.
        #[arg(long)]
        services: Option<String>,
        /// The peering's routes, comma-separated (offline; or give --peering).
        #[arg(long, value_delimiter = ',', conflicts_with = "peering")]
        peering_routes: Vec<String>,
        /// Read the routes from this peering on the server (the one client form of plan).
        #[arg(long)]
        peering: Option<String>,
    },
    /// The commands that make a VM in the peered VPC a Tailscale subnet router.
    Tailscale {
        /// The platform network's CIDR.
        #[arg(long, required_unless_present = "peering", conflicts_with = "peering")]
        platform_cidr: Option<String>,
        /// The peering's routes (the customer's prefixes), comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "peering",
            conflicts_with = "peering"
        )]
        routes: Vec<String>,
        /// The cloud of the peered VPC: aws, gcp or azure.
        #[arg(long, required_unless_present = "peering", conflicts_with = "peering")]
        provider: Option<Provider>,
        /// Read the platform CIDR, routes and provider from this peering on the server.
        #[arg(long)]
        peering: Option<String>,
    },
}

pub fn run(cmd: PlanCommand) -> Result<String> {
    match cmd {
        PlanCommand::Cover { prefixes } => {
            let prefixes = parse_all(&prefixes)?;
            let covering = cover(&prefixes).ok_or_else(|| anyhow!("give at least one prefix"))?;
            Ok(format!("{covering}\n"))
        }
        PlanCommand::Split { parent, into } => {
            let rows = split(parse(&parent)?, &into)?;
            Ok(render_split_table(&rows))
        }
        PlanCommand::Free {
            parent,
            size,
            count,
            avoid,
        } => plan_free(parse(&parent)?, size, count, &parse_all(&avoid)?),
        PlanCommand::K8s {
            subnet,
            pods,
            services,
            peering_routes,
            peering: _,
        } => {
            let ranges = K8sRanges {
                nodes: parse(&subnet)?,
                pods: parse(&pods)?,
                services: services.as_deref().map(parse).transpose()?,
            };
            let routes = parse_all(&peering_routes)?;
            let routes = (!routes.is_empty()).then_some(routes.as_slice());
            Ok(render_k8s(&plan_k8s(&ranges, routes)?))
        }
        PlanCommand::Tailscale {
            platform_cidr,
            routes,
            provider,
            peering: _,
        } => {
            let platform_cidr = platform_cidr.ok_or_else(|| anyhow!("give --platform-cidr"))?;
            let provider = provider.ok_or_else(|| anyhow!("give --provider"))?;
            Ok(render_tailscale(
                parse(&platform_cidr)?,
                &parse_all(&routes)?,
                provider,
            )?)
        }
    }
}

impl PlanCommand {
    /// The peering to read from the server, for the planners that take `--peering`.
    pub fn peering(&self) -> Option<&str> {
        match self {
            PlanCommand::K8s { peering, .. } | PlanCommand::Tailscale { peering, .. } => {
                peering.as_deref()
            }
            _ => None,
        }
    }

    /// Fills the offline arguments from a peering and its network as the server has them.
    pub fn with_peering(self, peering: &Peering, network: &Network) -> PlanCommand {
        let routes: Vec<String> = peering.routes.iter().map(Cidr::to_string).collect();
        match self {
            PlanCommand::K8s {
                subnet,
                pods,
                services,
                ..
            } => PlanCommand::K8s {
                subnet,
                pods,
                services,
                peering_routes: routes,
                peering: None,
            },
            PlanCommand::Tailscale { .. } => PlanCommand::Tailscale {
                platform_cidr: Some(network.cidr_block.to_string()),
                routes,
                provider: Some(network.provider),
                peering: None,
            },
            other => other,
        }
    }
}

/// `--peering ID`: the one form of plan that asks the server — for the peering's routes
/// and its network's CIDR and provider — then plans offline as usual.
pub async fn run_with_server(ctx: &Ctx, cmd: PlanCommand) -> Result<String> {
    let id = cmd.peering().unwrap_or_default().to_string();
    let project = ctx.project_path().await?;
    let peering: Peering = ctx
        .client
        .get(&format!("{project}/peerings/{}", segment(&id)))
        .await
        .with_context(|| format!("read peering {id}"))?;
    let network: Network = ctx
        .client
        .get(&format!("{project}/networks/{}", peering.network_id))
        .await
        .with_context(|| format!("read network {} of peering {id}", peering.network_id))?;
    run(cmd.with_peering(&peering, &network))
}

fn plan_free(parent: Cidr, size: u8, count: usize, avoid: &[Cidr]) -> Result<String> {
    if size > 32 || size < parent.prefix_len() {
        bail!(
            "--size /{size} must be between /{} (the parent) and /32",
            parent.prefix_len()
        );
    }
    let found = free(parent, size, count, avoid);
    if found.is_empty() && count > 0 {
        bail!("every /{size} in {parent} overlaps an avoided prefix");
    }
    let mut out: String = found.iter().map(|c| format!("{c}\n")).collect();
    if found.len() < count {
        out.push_str(&format!(
            "only {} of the {count} requested /{size} blocks are free in {parent}\n",
            found.len()
        ));
    }
    Ok(out)
}

/// Parses one prefix; the core's message already quotes the input and, for host bits,
/// names the prefix that was meant.
fn parse(raw: &str) -> Result<Cidr> {
    raw.parse::<Cidr>().map_err(|e| anyhow!("{e}"))
}

fn parse_all(raw: &[String]) -> Result<Vec<Cidr>> {
    raw.iter().map(|r| parse(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Stands in for `isthmus plan …` so the argument shape is pinned here.
    #[derive(Parser)]
    struct Plan {
        #[command(subcommand)]
        command: PlanCommand,
    }

    fn parse_args(args: &[&str]) -> PlanCommand {
        Plan::try_parse_from(std::iter::once("plan").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    fn free_cmd(parent: &str, size: u8, count: usize, avoid: &[&str]) -> PlanCommand {
        PlanCommand::Free {
            parent: parent.into(),
            size,
            count,
            avoid: avoid.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn split_prints_the_gke_table() {
        let out = run(parse_args(&[
            "split",
            "172.30.0.0/15",
            "--into",
            "16,17,17",
        ]))
        .unwrap();
        let subnets: Vec<&str> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            subnets,
            ["172.30.0.0/16", "172.31.0.0/17", "172.31.128.0/17"]
        );
        assert!(out.starts_with("subnet "), "{out}");
    }

    #[test]
    fn free_takes_repeated_avoid_flags_and_counts_one_by_default() {
        let cmd = parse_args(&[
            "free",
            "10.0.0.0/16",
            "--size",
            "24",
            "--avoid",
            "10.0.0.0/24",
            "--avoid",
            "10.0.1.0/24",
        ]);
        assert_eq!(run(cmd).unwrap(), "10.0.2.0/24\n");
    }

    #[test]
    fn k8s_takes_comma_separated_peering_routes() {
        let out = run(parse_args(&[
            "k8s",
            "--subnet",
            "172.31.0.0/17",
            "--pods",
            "172.30.0.0/16",
            "--services",
            "172.31.128.0/17",
            "--peering-routes",
            "172.30.0.0/16,10.9.0.0/16",
        ]))
        .unwrap();
        assert!(
            out.contains("  pods      yes (by 172.30.0.0/16)\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "isthmus peering update <peering-id> --route 10.9.0.0/16 --route 172.30.0.0/15\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn tailscale_names_the_provider_and_advertises_platform_then_peer_routes() {
        let out = run(parse_args(&[
            "tailscale",
            "--platform-cidr",
            "172.29.98.0/24",
            "--routes",
            "10.10.0.0/16,10.20.0.0/16",
            "--provider",
            "gcp",
        ]))
        .unwrap();
        assert!(out.contains(
            "--advertise-routes=172.29.98.0/24,10.10.0.0/16,10.20.0.0/16 --accept-routes"
        ));
        assert!(out.contains("--can-ip-forward"));
        let local = run(parse_args(&[
            "tailscale",
            "--platform-cidr",
            "172.29.98.0/24",
            "--routes",
            "10.10.0.0/16",
            "--provider",
            "local",
        ]))
        .unwrap_err();
        assert!(
            local.to_string().contains("give aws, gcp or azure"),
            "{local}"
        );
    }

    #[test]
    fn tailscale_needs_its_inputs_or_a_peering() {
        let plan = |args: &[&str]| {
            Plan::try_parse_from(std::iter::once("plan").chain(args.iter().copied()))
        };
        assert!(plan(&["tailscale", "--peering", "p1"]).is_ok());
        assert!(plan(&["tailscale", "--routes", "10.0.0.0/16"]).is_err());
        assert!(plan(&["tailscale", "--peering", "p1", "--provider", "aws"]).is_err());
        let cmd = parse_args(&[
            "k8s",
            "--subnet",
            "10.0.0.0/24",
            "--pods",
            "10.1.0.0/16",
            "--peering",
            "p1",
        ]);
        assert_eq!(cmd.peering(), Some("p1"));
    }

    #[test]
    fn cover_prints_one_prefix() {
        let out = run(PlanCommand::Cover {
            prefixes: vec!["10.1.0.0/16".into(), "10.2.0.0/16".into()],
        })
        .unwrap();
        assert_eq!(out, "10.0.0.0/14\n");
    }

    #[test]
    fn free_prints_one_prefix_per_line_and_says_when_it_ran_short() {
        let out = run(free_cmd("10.0.0.0/23", 24, 2, &["10.0.0.0/24"])).unwrap();
        assert_eq!(
            out,
            "10.0.1.0/24\nonly 1 of the 2 requested /24 blocks are free in 10.0.0.0/23\n"
        );
    }

    #[test]
    fn errors_are_one_line_naming_the_input() {
        let host_bits = run(free_cmd("10.0.0.1/16", 24, 1, &[])).unwrap_err();
        assert_eq!(
            host_bits.to_string(),
            "'10.0.0.1/16' has host bits set: did you mean 10.0.0.0/16?"
        );
        let too_big = run(PlanCommand::Split {
            parent: "10.0.0.0/24".into(),
            into: vec![25, 25, 26],
        })
        .unwrap_err();
        assert_eq!(
            too_big.to_string(),
            "into[2]: /26 (64 addresses) does not fit in 10.0.0.0/24: only 0 addresses are left after 10.0.0.128/25"
        );
        let full = run(free_cmd("10.0.0.0/24", 24, 1, &["10.0.0.0/8"])).unwrap_err();
        assert_eq!(
            full.to_string(),
            "every /24 in 10.0.0.0/24 overlaps an avoided prefix"
        );
        for e in [host_bits, too_big, full] {
            assert!(!e.to_string().contains('\n'));
        }
    }
}

//! `isthmus reach --from X --to Y[:port]`: asks the server's analyzer whether X may connect
//! to Y, and shows each node's verdict hop by hop with the fix for a denial.

use anyhow::Context as _;
use isthmus_core::reach::{Hop, Reachability, Verdict};
use serde_json::json;

use super::Ctx;
use crate::args::{OutputFormat, ReachArgs};
use crate::output;

pub async fn run(ctx: &Ctx, args: ReachArgs) -> anyhow::Result<String> {
    let (to, port) = split_port(&args.to)?;
    let path = format!("{}/reachability", ctx.project_path().await?);
    let body = json!({ "from": args.from, "to": to, "port": port });
    let answer: Reachability = ctx
        .client
        .post(&path, &body)
        .await
        .with_context(|| format!("analyze {} → {}", args.from, args.to))?;
    match ctx.format {
        OutputFormat::Table => Ok(render(&args.from, to, &answer)),
        OutputFormat::Json => output::json(&answer),
        OutputFormat::Yaml => output::yaml(&answer),
    }
}

/// `name:port` → (name, Some(port)); a name without a numeric suffix keeps its colon-free
/// self and the default port.
fn split_port(to: &str) -> anyhow::Result<(&str, Option<u16>)> {
    match to.rsplit_once(':') {
        None => Ok((to, None)),
        Some((name, port)) => {
            let port = port
                .parse::<u16>()
                .with_context(|| format!("'{port}' in --to {to} is not a TCP port"))?;
            Ok((name, Some(port)))
        }
    }
}

/// The verdicts as text: a headline, then per node its hops, why, and the fix.
pub fn render(from: &str, to: &str, answer: &Reachability) -> String {
    let headline = if answer.allowed { "allowed" } else { "denied" };
    let mut out = format!("{from} → {to} port {}: {headline}\n", answer.port);
    // Identical verdicts (a denial before the packet reaches any node, e.g. at a public
    // endpoint's allow-list) are shown once, with how many nodes they stand for.
    let mut verdicts = answer.verdicts.iter().peekable();
    while let Some(v) = verdicts.next() {
        let mut same = 1;
        while verdicts.next_if(|next| *next == v).is_some() {
            same += 1;
        }
        out.push('\n');
        render_verdict(&mut out, v);
        if same > 1 {
            out.push_str(&format!("  ({same} nodes: the same answer for each)\n"));
        }
    }
    out
}

pub fn render_verdict(out: &mut String, v: &Verdict) {
    let mut line = |key: &str, value: String| out.push_str(&format!("  {key:<12} {value}\n"));
    for hop in &v.hops {
        match hop {
            Hop::Source { ip, network } => line("source", format!("{ip} in {network}")),
            Hop::Peering { id, name, status } => {
                line("peering", format!("{name} ({id}), {status}"))
            }
            Hop::Gateway { network } => line("gateway", format!("through {network}")),
            Hop::RouteMatched { route } => line("route", route.to_string()),
            Hop::TransitRouteMatched { route } => line(
                "route",
                format!("{route} (transit, behind the peer's gateway)"),
            ),
            Hop::PublicEndpoint { dns_name, ip } => {
                line("endpoint", format!("{dns_name} ({ip}), public"))
            }
            Hop::Endpoint {
                endpoint,
                ip,
                node_ip,
            } => line(
                "endpoint",
                match node_ip {
                    Some(own) => format!("{endpoint} at {ip} (this node at {own})"),
                    None => format!("{endpoint} at {ip}"),
                },
            ),
            Hop::Firewall { rule, verdict } => line("firewall", format!("{verdict}: {rule}")),
            Hop::Server { ip, port, network } => {
                line("destination", format!("{ip} port {port} in {network}"))
            }
            Hop::Destination { node, ip, port, .. } => {
                line("destination", format!("{node} ({ip}) port {port}"))
            }
        }
    }
    let verdict = if v.allowed { "allowed" } else { "denied" };
    line("verdict", format!("{verdict} ({})", v.reason.as_str()));
    line("why", v.explanation.clone());
    if let Some(fix) = &v.fix {
        line("fix", fix.summary.clone());
        for command in &fix.commands {
            line("", format!("$ {command}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isthmus_core::reach::{Fix, FixAction, Reason};

    #[test]
    fn a_port_suffix_is_split_off_the_destination() {
        assert_eq!(
            split_port("abc.isthmus.internal").unwrap(),
            ("abc.isthmus.internal", None)
        );
        assert_eq!(split_port("abc-0:8443").unwrap(), ("abc-0", Some(8443)));
        assert_eq!(
            split_port("abc:https").unwrap_err().to_string(),
            "'https' in --to abc:https is not a TCP port"
        );
    }

    #[test]
    fn a_denial_shows_its_hops_reason_and_fix_commands() {
        let answer = Reachability {
            allowed: false,
            port: 8443,
            verdicts: vec![Verdict {
                allowed: false,
                reason: Reason::NoPeering,
                explanation: "no peering connects lab VPC branch to network platform".into(),
                hops: vec![Hop::Source {
                    ip: "10.70.0.10".parse().unwrap(),
                    network: "lab VPC branch (10.70.0.0/16)".into(),
                }],
                fix: Some(Fix {
                    summary: "create a peering".into(),
                    actions: vec![FixAction::UsePort { ports: vec![] }],
                    commands: vec!["isthmus peering create x".into()],
                }),
            }],
        };
        assert_eq!(
            render("branch/far", "orders", &answer),
            "\
branch/far → orders port 8443: denied

  source       10.70.0.10 in lab VPC branch (10.70.0.0/16)
  verdict      denied (no-peering)
  why          no peering connects lab VPC branch to network platform
  fix          create a peering
               $ isthmus peering create x
"
        );
    }

    #[test]
    fn identical_verdicts_are_shown_once_with_the_number_of_nodes() {
        let denied = Verdict {
            allowed: false,
            reason: Reason::NotInPublicAllowlist,
            explanation: "203.0.113.9 is not in cluster db's public allow-list".into(),
            hops: vec![Hop::Source {
                ip: "203.0.113.9".parse().unwrap(),
                network: "the internet".into(),
            }],
            fix: None,
        };
        let answer = Reachability {
            allowed: false,
            port: 8443,
            verdicts: vec![denied.clone(), denied.clone(), denied],
        };
        let text = render("internet/cafe", "public-db", &answer);
        assert_eq!(text.matches("verdict      denied").count(), 1, "{text}");
        assert!(
            text.ends_with("  (3 nodes: the same answer for each)\n"),
            "{text}"
        );
    }
}

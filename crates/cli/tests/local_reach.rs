//! Differential test of the reachability analyzer against the `local` data plane: over
//! seeded random peering topologies, for every (lab host, node, port) the analyzer's
//! verdict (`isthmus reach`, through the API) must equal a real TCP connect from the lab
//! host's namespace (`isthmus lab exec`). A disagreement prints the topology and both
//! answers.
//!
//! Scope: peering-only topologies over two networks (a three-node and a single-node
//! cluster): routes that cover a VPC, part of it, or nothing; VPCs never peered.
//! Default: 20 topologies x 32 pairs (640). Longer run:
//! `ISTHMUS_REACH_TOPOLOGIES=100 ISTHMUS_REACH_SEED=7`.

mod local_support;
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use isthmus_driver_local::probe::EchoServer;
use local_support::{node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

/// The engine's port (probe serves 8443) and one nothing serves.
const SERVED: u16 = 8443;
const NOT_SERVED: u16 = 5432;

/// A lab VPC with its hosts, and the route lists a peering to it may get (`None`: no
/// peering). The lists cover the whole VPC, one host only, or none of it.
struct VpcPlan {
    name: &'static str,
    cidr: &'static str,
    hosts: Vec<(&'static str, &'static str)>,
    route_choices: Vec<Option<Vec<&'static str>>>,
}

fn vpcs() -> Vec<VpcPlan> {
    vec![
        VpcPlan {
            name: "alpha",
            cidr: "172.16.0.0/16",
            hosts: vec![("a1", "172.16.0.10"), ("a2", "172.16.200.10")],
            route_choices: vec![
                None,
                Some(vec!["172.16.0.0/16"]),
                Some(vec!["172.16.0.0/24"]),
                Some(vec!["172.16.128.0/17"]),
                Some(vec!["172.16.0.0/24", "172.16.200.0/24"]),
            ],
        },
        VpcPlan {
            name: "beta",
            cidr: "10.70.0.0/16",
            hosts: vec![("b1", "10.70.0.10")],
            route_choices: vec![None, Some(vec!["10.70.0.0/16"]), Some(vec!["10.71.0.0/16"])],
        },
        // Never peered: every answer is no-peering.
        VpcPlan {
            name: "gamma",
            cidr: "192.168.10.0/24",
            hosts: vec![("c1", "192.168.10.10")],
            route_choices: vec![None],
        },
    ]
}

/// A small seeded generator (xorshift64*), so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn pick(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `target` opens a TCP connection to `ip:port` (bash `/dev/tcp`, fixed argv).
fn connects(lab: &LocalLab, target: &str, ip: &str, port: u16) -> bool {
    let script = format!("exec 3<>/dev/tcp/{ip}/{port}");
    let run = lab.lab_exec(target, &["timeout", "2", "bash", "-c", &script]);
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("error: ")),
        "`isthmus lab exec {target}` itself failed:\n{}",
        run.stderr
    );
    run.code == Some(0)
}

/// One (source, node, port): the analyzer's verdict and the real connect.
struct Answer {
    target: String,
    ip: String,
    port: u16,
    analyzed: bool,
    real: bool,
    verdict: Value,
}

fn check(lab: &LocalLab, target: &str, ip: &str) -> Vec<Answer> {
    [SERVED, NOT_SERVED]
        .into_iter()
        .map(|port| {
            let verdict: Value = lab
                .cli
                .json(&format!("reach --from {target} --to {ip}:{port}"));
            Answer {
                target: target.to_string(),
                ip: ip.to_string(),
                port,
                analyzed: verdict["allowed"].as_bool().expect("allowed"),
                real: connects(lab, target, ip, port),
                verdict,
            }
        })
        .collect()
}

/// Makes the peerings match `wanted` (VPC → routes), creating, updating and deleting.
fn apply(
    lab: &LocalLab,
    network: &str,
    peerings: &mut BTreeMap<&'static str, String>,
    wanted: &BTreeMap<&'static str, Vec<&'static str>>,
) {
    for (vpc, id) in peerings.clone() {
        if !wanted.contains_key(vpc) {
            lab.cli.ok(&format!(
                "peering delete {id} --wait --timeout {WAIT_TIMEOUT}"
            ));
            peerings.remove(vpc);
        }
    }
    for (vpc, routes) in wanted {
        let flags: String = routes.iter().map(|r| format!(" --route {r}")).collect();
        match peerings.get(vpc) {
            Some(id) => {
                lab.cli.ok(&format!(
                    "peering update {id}{flags} --wait --timeout {WAIT_TIMEOUT}"
                ));
            }
            None => {
                let p = lab.peering(network, vpc, routes);
                assert_eq!(p["status"], "active", "{p:#}");
                peerings.insert(vpc, id_of(&p));
            }
        }
    }
}

#[test]
fn the_analyzer_agrees_with_real_connections_on_random_peering_topologies() {
    let seed = env_or("ISTHMUS_REACH_SEED", 20261121);
    let topologies = env_or("ISTHMUS_REACH_TOPOLOGIES", 20);
    let mut rng = Rng(seed.max(1));
    let mut lab = LocalLab::start("isthr1");
    let vpcs = vpcs();
    for v in &vpcs {
        lab.lab_vpc(v.name, v.cidr, &v.hosts);
    }
    // Two networks, so a peering of one must never admit anything to the other.
    let first = lab.project_and_network("172.29.98.0/24");
    let second = id_of(&lab.cli.json(&format!(
        "network create lab2 --provider local --region host --cidr 172.29.99.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let networks = [
        (first.clone(), lab.cluster(&first, "three-node-multi-zone")),
        (second.clone(), lab.cluster(&second, "single-node")),
    ];
    let mut ips = Vec::new();
    // Listen on the engine's port unless the engine already does.
    let mut _listeners: Vec<Option<EchoServer>> = Vec::new();
    for (_, cluster) in &networks {
        let cluster_id = id_of(cluster);
        for (i, ip) in node_ips(cluster).into_iter().enumerate() {
            let ns = lab.names.node_ns(&cluster_id, i as u32);
            let addr = SocketAddr::new(ip.parse().unwrap(), SERVED);
            _listeners.push(EchoServer::start(&ns, addr).ok());
            ips.push(ip);
        }
    }

    let mut peerings: Vec<BTreeMap<&'static str, String>> = vec![BTreeMap::new(); networks.len()];
    let mut pairs = 0;
    for round in 0..topologies {
        let wanted: Vec<BTreeMap<&'static str, Vec<&'static str>>> = networks
            .iter()
            .map(|_| {
                vpcs.iter()
                    .filter_map(|v| {
                        let choices = &v.route_choices;
                        choices[rng.pick(choices.len())]
                            .clone()
                            .map(|routes| (v.name, routes))
                    })
                    .collect()
            })
            .collect();
        for ((network, _), (current, wanted)) in
            networks.iter().zip(peerings.iter_mut().zip(&wanted))
        {
            apply(&lab, network, current, wanted);
        }
        let targets: Vec<(String, &String)> = vpcs
            .iter()
            .flat_map(|v| {
                v.hosts
                    .iter()
                    .map(move |(host, _)| format!("{}/{host}", v.name))
            })
            .flat_map(|target| ips.iter().map(move |ip| (target.clone(), ip)))
            .collect();
        // One thread per (host, node): a dropped SYN costs the connect's whole timeout.
        let answers: Vec<Answer> = std::thread::scope(|scope| {
            let lab = &lab;
            let running: Vec<_> = targets
                .iter()
                .map(|(target, ip)| scope.spawn(move || check(lab, target, ip)))
                .collect();
            running
                .into_iter()
                .flat_map(|t| t.join().expect("a checking thread panicked"))
                .collect()
        });
        for a in &answers {
            assert_eq!(
                a.analyzed, a.real,
                "seed {seed}, topology {round}: peerings per network {wanted:?}\n\
                 {} → {}:{}: analyzer says {}, TCP says {}\nanalyzer: {:#}",
                a.target, a.ip, a.port, a.analyzed, a.real, a.verdict
            );
        }
        pairs += answers.len();
    }
    eprintln!("{pairs} pairs over {topologies} topologies agree (seed {seed})");
    assert!(pairs > 0);
}

/// Runs a fix's CLI command as given, with its placeholders filled and `--wait` added.
fn run_fix(lab: &LocalLab, command: &str) {
    let line = command
        .strip_prefix("isthmus ")
        .unwrap_or_else(|| panic!("a fix command is an isthmus command: {command}"))
        .replace("<name>", "fixed")
        .replace("<account>", "lab");
    lab.cli
        .ok(&format!("{line} --wait --timeout {WAIT_TIMEOUT}"));
}

/// The fix commands of the first verdict of `isthmus reach`, checking its reason.
fn fix_commands(lab: &LocalLab, from: &str, to: &str, reason: &str) -> Vec<String> {
    let answer = lab.cli.json(&format!("reach --from {from} --to {to}"));
    let verdict = &answer["verdicts"][0];
    assert_eq!(verdict["reason"], reason, "{answer:#}");
    verdict["fix"]["commands"]
        .as_array()
        .expect("fix commands")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn following_the_suggested_fix_makes_the_connection_succeed() {
    let mut lab = LocalLab::start("isthr2");
    lab.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.200.10")]);
    lab.lab_vpc(
        "gke-services",
        "172.31.128.0/17",
        &[("svc", "172.31.128.10")],
    );
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let ip = node_ips(&cluster)[0].clone();
    let ns = lab.names.node_ns(&cluster_id, 0);
    let _listener = EchoServer::start(&ns, SocketAddr::new(ip.parse().unwrap(), SERVED)).ok();
    let to = format!("{ip}:{SERVED}");

    // No peering: the fix creates one for the source's VPC.
    assert!(!connects(&lab, "branch/far", &ip, SERVED));
    let commands = fix_commands(&lab, "branch/far", &to, "no-peering");
    run_fix(&lab, &commands[0]);
    assert!(
        connects(&lab, "branch/far", &ip, SERVED),
        "after {commands:?}"
    );

    // A route that holds only part of the VPC: the fix widens it to the VPC's range.
    let peering = lab.peering(&network, "customer", &["172.16.0.0/24"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    assert!(!connects(&lab, "customer/app", &ip, SERVED));
    let commands = fix_commands(&lab, "customer/app", &to, "source-outside-routes");
    run_fix(&lab, &commands[0]);
    assert!(
        connects(&lab, "customer/app", &ip, SERVED),
        "after {commands:?}"
    );

    // The GKE case: the covering /15 (the second suggestion) admits the services range.
    let peering = lab.peering(&network, "gke-services", &["172.30.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    let commands = fix_commands(&lab, "gke-services/svc", &to, "source-outside-routes");
    assert!(
        commands[1].ends_with("--route 172.30.0.0/15"),
        "{commands:?}"
    );
    run_fix(&lab, &commands[1]);
    assert!(
        connects(&lab, "gke-services/svc", &ip, SERVED),
        "after {commands:?}"
    );

    // A port nothing serves: the fix names the one that is.
    let answer = lab
        .cli
        .json(&format!("reach --from customer/app --to {ip}:{NOT_SERVED}"));
    assert_eq!(answer["verdicts"][0]["reason"], "port-not-served");
    assert!(!connects(&lab, "customer/app", &ip, NOT_SERVED));
    let port = answer["verdicts"][0]["fix"]["actions"][0]["ports"][0]
        .as_u64()
        .expect("a port to use") as u16;
    assert!(connects(&lab, "customer/app", &ip, port));
}

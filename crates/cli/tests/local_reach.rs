//! Differential test of the reachability analyzer against the `local` data plane: over
//! seeded random topologies, for every (source, destination, port) the analyzer's verdict
//! (`isthmus reach`, through the API) must equal a real TCP connect from the source's
//! namespace (`isthmus lab exec`). A disagreement prints the topology and both answers.
//!
//! The lab (see `local_support/topology.rs`): two networks with a three-node and a
//! single-node cluster; lab VPCs peered with routes that cover them, part of them or
//! nothing, a spoke behind a hub and a VPN range behind another VPC (gateway transit with
//! the flag on or off, transit ranges that hold the source or not, and non-transitive
//! paths where the hub's peering carries no transit range), a VPC never peered; two
//! internet hosts; per cluster a private allow-list and public access on or off with an
//! allow-list (empty, one host, the other, 0.0.0.0/0, nobody of ours). Sources: every lab
//! host to every node; every internet host to each public endpoint by name (through its
//! own resolver: a disabled endpoint has no name) and by address, and to the private node
//! addresses; lab hosts to the public endpoints. Each on a served and an unserved port.
//!
//! One server, one set of lab VPCs and clusters; between rounds peerings and allow-lists
//! change in place (PATCH), waited for until the controller has applied them.
//! Default: 20 topologies (about 70 pairs each). Longer run:
//! `ISTHMUS_REACH_TOPOLOGIES=100 ISTHMUS_REACH_SEED=7` (`ISTHMUS_REACH_PREFIX` for the
//! kernel names). Endpoints and VPN clients have their own random test: `local_edge_reach`.

mod local_support;
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use isthmus_driver_local::probe::EchoServer;
use local_support::topology::{self, Applied, Rng, INTERNET_HOSTS};
use local_support::{node_ips, public_name, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

/// The engine's port (probe serves 8443) and one nothing serves.
const SERVED: u16 = 8443;
const NOT_SERVED: u16 = 5432;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `target` opens a TCP connection to `host:port` (bash `/dev/tcp`, fixed argv).
fn connects(lab: &LocalLab, target: &str, host: &str, port: u16) -> bool {
    lab.connects_to(target, host, port)
}

/// One question: can `from` open a TCP connection to `to:port`?
struct Probe {
    from: String,
    to: String,
    port: u16,
}

/// A probe with the analyzer's verdict and the real connect.
struct Answer {
    probe: Probe,
    analyzed: bool,
    real: bool,
    verdict: Value,
}

impl Answer {
    /// The deciding reason: `allowed`, or the first denial among the verdicts.
    fn reason(&self) -> String {
        let verdicts = self.verdict["verdicts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        verdicts
            .iter()
            .find(|v| v["allowed"] == false)
            .or(verdicts.first())
            .and_then(|v| v["reason"].as_str())
            .unwrap_or("none")
            .to_string()
    }
}

fn check(lab: &LocalLab, probe: Probe) -> Answer {
    let verdict: Value = lab.cli.json(&format!(
        "reach --from {} --to {}:{}",
        probe.from, probe.to, probe.port
    ));
    Answer {
        analyzed: verdict["allowed"].as_bool().expect("allowed"),
        real: connects(lab, &probe.from, &probe.to, probe.port),
        verdict,
        probe,
    }
}

/// Every question of one round. `clusters` are as the API shows them now.
fn probes(vpcs: &[topology::VpcPlan], clusters: &[Value]) -> Vec<Probe> {
    let mut probes = Vec::new();
    let node_ips: Vec<String> = clusters.iter().flat_map(node_ips).collect();
    let endpoints: Vec<String> = clusters
        .iter()
        .filter_map(|c| c["public_endpoint"]["ip"].as_str().map(str::to_string))
        .collect();
    let both = [SERVED, NOT_SERVED];
    for v in vpcs {
        for (host, _) in v.hosts {
            let from = format!("{}/{host}", v.name);
            for ip in &node_ips {
                for port in both {
                    probes.push(Probe {
                        from: from.clone(),
                        to: ip.clone(),
                        port,
                    });
                }
            }
            // Lab VPCs have no route to the public endpoints.
            if ["a1", "s1"].contains(host) {
                for ip in &endpoints {
                    probes.push(Probe {
                        from: from.clone(),
                        to: ip.clone(),
                        port: SERVED,
                    });
                }
            }
        }
    }
    for (i, (host, _)) in INTERNET_HOSTS.iter().enumerate() {
        let from = format!("internet/{host}");
        for cluster in clusters {
            for port in both {
                probes.push(Probe {
                    from: from.clone(),
                    to: public_name(cluster),
                    port,
                });
            }
        }
        for ip in &endpoints {
            probes.push(Probe {
                from: from.clone(),
                to: ip.clone(),
                port: SERVED,
            });
        }
        // The internet has no route to private node addresses.
        if i == 0 {
            for ip in &node_ips {
                probes.push(Probe {
                    from: from.clone(),
                    to: ip.clone(),
                    port: SERVED,
                });
            }
        }
    }
    probes
}

/// Asks every probe at once: one thread each, since a dropped SYN costs a connect its
/// whole timeout.
fn answers(lab: &LocalLab, probes: Vec<Probe>) -> Vec<Answer> {
    std::thread::scope(|scope| {
        let running: Vec<_> = probes
            .into_iter()
            .map(|probe| scope.spawn(move || check(lab, probe)))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().expect("a checking thread panicked"))
            .collect()
    })
}

/// The reasons the new access rules add: a default run must see each of them decide.
const NEW_REASONS: &[&str] = &[
    "gateway-transit-disabled",
    "not-in-private-allowlist",
    "not-in-public-allowlist",
    "public-access-disabled",
    "no-route",
    "transit-not-allowed",
];

#[test]
fn the_analyzer_agrees_with_real_connections_on_random_topologies() {
    let seed = env_or("ISTHMUS_REACH_SEED", 20261121);
    let rounds = env_or("ISTHMUS_REACH_TOPOLOGIES", 20);
    let mut rng = Rng(seed.max(1));
    // Kernel names under `isthx1` unless the run names its own prefix (parallel runs).
    let prefix = std::env::var("ISTHMUS_REACH_PREFIX").unwrap_or_else(|_| "isthx1".into());
    let mut lab = LocalLab::start(&prefix);
    let vpcs = topology::vpcs();
    for v in &vpcs {
        match v.behind {
            None => lab.lab_vpc(v.name, v.cidr, v.hosts),
            Some(hub) => lab.lab_vpc_behind(v.name, v.cidr, hub, v.hosts),
        }
    }
    for (host, ip) in INTERNET_HOSTS {
        lab.internet_host(host, ip);
    }
    // Two networks, so what admits to one must never admit to the other.
    let first = lab.project_and_network("172.29.98.0/24");
    let second = id_of(&lab.cli.json(&format!(
        "network create lab2 --provider local --region host --cidr 172.29.99.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let clusters = [
        lab.cluster(&first, "three-node-multi-zone"),
        lab.cluster_named("db2", &second, "single-node"),
    ];
    let networks: Vec<(String, String)> = [first, second]
        .into_iter()
        .zip(clusters.iter().map(id_of))
        .collect();
    // Listen on the engine's port unless the engine already does.
    let mut _listeners: Vec<Option<EchoServer>> = Vec::new();
    for cluster in &clusters {
        for (i, ip) in node_ips(cluster).into_iter().enumerate() {
            let ns = lab.names.node_ns(&id_of(cluster), i as u32);
            let addr = SocketAddr::new(ip.parse().unwrap(), SERVED);
            _listeners.push(EchoServer::start(&ns, addr).ok());
        }
    }

    let mut applied = Applied::new(networks.len());
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut pairs = 0;
    for round in 0..rounds {
        let topology = topology::random(&mut rng, &vpcs, networks.len());
        topology::apply(&lab, &networks, &mut applied, &topology);
        let now: Vec<Value> = networks
            .iter()
            .map(|(_, c)| lab.cli.json(&format!("cluster get {c}")))
            .collect();
        for a in answers(&lab, probes(&vpcs, &now)) {
            assert_eq!(
                a.analyzed, a.real,
                "seed {seed}, topology {round}:\n{topology:?}\n\
                 {} → {}:{}: analyzer says {}, TCP says {}\nanalyzer: {:#}",
                a.probe.from, a.probe.to, a.probe.port, a.analyzed, a.real, a.verdict
            );
            *reasons.entry(a.reason()).or_default() += 1;
            pairs += 1;
        }
    }
    eprintln!("{pairs} pairs over {rounds} topologies agree (seed {seed}); reasons: {reasons:?}");
    assert!(pairs >= 300 || rounds < 20, "{pairs} pairs");
    if rounds >= 20 {
        for reason in NEW_REASONS
            .iter()
            .chain(&["allowed", "source-outside-routes"])
        {
            assert!(
                reasons.contains_key(*reason),
                "seed {seed}: no pair was decided by {reason}; seen {reasons:?}"
            );
        }
    }
}

/// Runs a fix's CLI command as given, with its placeholders filled, and waits until it is
/// applied: `--wait` for peerings, the cluster's observed generation for its lists.
fn run_fix(lab: &LocalLab, command: &str) {
    static CREATED: AtomicUsize = AtomicUsize::new(0);
    let line = command
        .strip_prefix("isthmus ")
        .unwrap_or_else(|| panic!("a fix command is an isthmus command: {command}"))
        .replace(
            "<name>",
            &format!("fixed-{}", CREATED.fetch_add(1, Ordering::Relaxed)),
        )
        .replace("<account>", "lab");
    match line.strip_prefix("cluster update ") {
        Some(rest) => {
            lab.cli.ok(&line);
            lab.settled_cluster(rest.split_whitespace().next().expect("a cluster id"));
        }
        None => {
            lab.cli
                .ok(&format!("{line} --wait --timeout {WAIT_TIMEOUT}"));
        }
    }
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
    let mut lab = LocalLab::start("isthx2");
    lab.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.200.10")]);
    lab.lab_vpc(
        "gke-services",
        "172.31.128.0/17",
        &[("svc", "172.31.128.10")],
    );
    lab.lab_vpc("relay", "10.75.0.0/16", &[("r1", "10.75.0.10")]);
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

    // A route that holds only part of the VPC, while branch's peering claims the part the
    // host is in: the fix narrows branch's peering, then widens the route to the VPC's range.
    let peerings = lab.cli.json("peering list");
    let branch = peerings
        .as_array()
        .and_then(|all| all.iter().find(|p| p["peer"]["network_id"] == "branch"))
        .map(id_of)
        .expect("branch's peering");
    lab.cli.ok(&format!(
        "peering update {branch} --route 10.70.0.0/16 --route 172.16.200.0/24 --wait --timeout {WAIT_TIMEOUT}"
    ));
    let peering = lab.peering(&network, "customer", &["172.16.0.0/24"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    assert!(!connects(&lab, "customer/app", &ip, SERVED));
    let commands = fix_commands(&lab, "customer/app", &to, "source-outside-routes");
    assert_eq!(commands.len(), 2, "narrow, then widen: {commands:?}");
    for command in &commands {
        run_fix(&lab, command);
    }
    assert!(
        connects(&lab, "customer/app", &ip, SERVED),
        "after {commands:?}"
    );
    assert!(
        connects(&lab, "branch/far", &ip, SERVED),
        "branch keeps its own range"
    );

    // The customer's peering also claims relay's range: relay's own packets have no path
    // (non-transitive). The fix moves the range: narrow that peering, then peer relay.
    lab.cli.ok(&format!(
        "peering update {} --route 172.16.0.0/16 --route 10.75.0.0/16 --wait --timeout {WAIT_TIMEOUT}",
        id_of(&peering)
    ));
    assert!(!connects(&lab, "relay/r1", &ip, SERVED));
    let commands = fix_commands(&lab, "relay/r1", &to, "transit-not-allowed");
    assert_eq!(commands.len(), 2, "narrow, then create: {commands:?}");
    for command in &commands {
        run_fix(&lab, command);
    }
    assert!(
        connects(&lab, "relay/r1", &ip, SERVED),
        "after {commands:?}"
    );
    assert!(
        connects(&lab, "customer/app", &ip, SERVED),
        "the narrowed peering still admits its own VPC"
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

#[test]
fn following_the_fix_for_each_access_rule_makes_the_connection_succeed() {
    let mut lab = LocalLab::start("isthx3");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.200.10")]);
    lab.lab_vpc("hub", "10.80.0.0/16", &[("h1", "10.80.0.10")]);
    lab.lab_vpc_behind("spoke", "10.81.0.0/16", "hub", &[("s1", "10.81.0.10")]);
    lab.internet_host("office", "203.0.113.10");
    lab.internet_host("home", "198.51.100.7");
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cluster_with(&network, "single-node", "--private-allow 192.0.2.0/24");
    let cluster_id = id_of(&cluster);
    let ip = node_ips(&cluster)[0].clone();
    let ns = lab.names.node_ns(&cluster_id, 0);
    let _listener = EchoServer::start(&ns, SocketAddr::new(ip.parse().unwrap(), SERVED)).ok();
    let private = format!("{ip}:{SERVED}");
    let public = public_name(&cluster);
    let public_to = format!("{public}:{SERVED}");

    // A peered source outside the private allow-list: the fix adds it to the list.
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    assert!(!connects(&lab, "customer/app", &ip, SERVED));
    let commands = fix_commands(&lab, "customer/app", &private, "not-in-private-allowlist");
    run_fix(&lab, &commands[0]);
    assert!(
        connects(&lab, "customer/app", &ip, SERVED),
        "after {commands:?}"
    );

    // Public access off: the fix turns it on with an entry for the source.
    assert!(!connects(&lab, "internet/office", &public, SERVED));
    let commands = fix_commands(
        &lab,
        "internet/office",
        &public_to,
        "public-access-disabled",
    );
    run_fix(&lab, &commands[0]);
    assert!(
        connects(&lab, "internet/office", &public, SERVED),
        "after {commands:?}"
    );

    // On, but the source is not on the list: the fix adds it.
    assert!(!connects(&lab, "internet/home", &public, SERVED));
    let commands = fix_commands(&lab, "internet/home", &public_to, "not-in-public-allowlist");
    run_fix(&lab, &commands[0]);
    assert!(
        connects(&lab, "internet/home", &public, SERVED),
        "after {commands:?}"
    );

    // No route from the internet to a private node address, nor from a peered VPC to the
    // public endpoint: the fix names where the same nodes answer, and they do.
    for (from, to) in [("internet/home", &private), ("customer/app", &public_to)] {
        assert!(!connects(&lab, from, to.split(':').next().unwrap(), SERVED));
        let answer = lab.cli.json(&format!("reach --from {from} --to {to}"));
        let verdict = &answer["verdicts"][0];
        assert_eq!(verdict["reason"], "no-route", "{answer:#}");
        let there = verdict["fix"]["actions"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["action"] == "use_destination"))
            .and_then(|a| a["to"].as_str())
            .unwrap_or_else(|| panic!("no destination to use instead: {answer:#}"));
        assert!(connects(&lab, from, there, SERVED), "{from} → {there}");
    }

    // A spoke behind a peered hub, its range in neither list: the fix adds it as a
    // gateway-transit range with the flag set.
    lab.update_cluster(&cluster_id, "--clear-private-allowlist");
    let hub = lab.peering(&network, "hub", &["10.80.0.0/16"]);
    assert!(connects(&lab, "hub/h1", &ip, SERVED));
    assert!(!connects(&lab, "spoke/s1", &ip, SERVED));
    let commands = fix_commands(&lab, "spoke/s1", &private, "source-outside-routes");
    run_fix(&lab, &commands[0]);
    assert!(
        connects(&lab, "spoke/s1", &ip, SERVED),
        "after {commands:?}"
    );

    // The flag turned off again: gateway-transit-disabled, and its fix sets it.
    lab.cli.ok(&format!(
        "peering update {} --allow-gateway-transit false --wait --timeout {WAIT_TIMEOUT}",
        id_of(&hub)
    ));
    assert!(!connects(&lab, "spoke/s1", &ip, SERVED));
    let commands = fix_commands(&lab, "spoke/s1", &private, "gateway-transit-disabled");
    run_fix(&lab, &commands[0]);
    assert!(
        connects(&lab, "spoke/s1", &ip, SERVED),
        "after {commands:?}"
    );
}

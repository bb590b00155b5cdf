//! The lab of `local_edge_reach` and the changes each round makes to it, through the CLI
//! as a customer and an operator would.

use serde_json::Value;

use super::*;

pub struct Edge {
    pub lab: LocalLab,
    network: String,
    cluster: Value,
    other: Value,
    sid: String,
    svc: String,
    endpoints: Vec<Endpoint>,
    allowed: Vec<bool>,
    gateway: String,
    gateway_key: String,
    laptops: Vec<Laptop>,
}

/// The grant sets a round picks from (`A` the three-node cluster, `B` the other).
const GRANTS: [&[(usize, &str)]; 5] = [
    &[(0, "8443")],
    &[(0, "8443,5432")],
    &[(1, "8443")],
    &[(0, "8443"), (1, "8443")],
    &[(0, "5432")],
];

impl Edge {
    pub fn start(prefix: &str) -> Edge {
        let mut lab = LocalLab::start(prefix);
        let network = lab.project_and_network(CIDR);
        let cluster = lab.cluster(&network, "three-node-multi-zone");
        let other = lab.cli.json(&format!(
            "cluster create db2 --network {network} --engine probe --topology single-node \
             --wait --timeout {WAIT_TIMEOUT}"
        ));
        assert_eq!(other["status"], "running", "{other:#}");
        let principals: String = PRINCIPALS
            .iter()
            .map(|(p, _, _)| format!(" --principal {p}"))
            .collect();
        let service = lab.cli.json(&format!(
            "endpoint-service create db-pl --cluster {}{principals} --wait --timeout {WAIT_TIMEOUT}",
            id_of(&cluster)
        ));
        // `same` holds the platform's CIDR, its host node 0's very address.
        let node0 = node_ips(&cluster)[0].clone();
        for (vpc, cidr, ip) in PRINCIPALS.iter().chain([&STRANGER]) {
            let ip = if ip.is_empty() { node0.as_str() } else { ip };
            lab.lab_vpc(vpc, cidr, &[("app", ip)]);
        }
        let peering = lab.peering(&network, "peered", &[PEERED_CIDR]);
        assert_eq!(peering["status"], "active", "{peering:#}");
        let gateway = lab.cli.json(&format!(
            "vpn gateway create laps --network {network} --client-cidr {CLIENT_CIDR} \
             --dns none --wait --timeout {WAIT_TIMEOUT}"
        ));
        assert_eq!(gateway["status"], "ready", "{gateway:#}");
        for (host, ip) in LAPTOPS {
            lab.internet_host(host, ip);
        }
        Edge {
            sid: id_of(&service),
            svc: service["service_name"].as_str().unwrap().to_string(),
            endpoints: PRINCIPALS.iter().map(|_| Endpoint::default()).collect(),
            allowed: vec![true; PRINCIPALS.len()],
            gateway: id_of(&gateway),
            gateway_key: gateway["public_key"].as_str().unwrap().to_string(),
            laptops: LAPTOPS
                .iter()
                .enumerate()
                .map(|(i, (host, _))| Laptop {
                    host,
                    iface: format!("{prefix}l{i}"),
                    client: String::new(),
                    client_id: String::new(),
                    revoked: false,
                    made: 0,
                })
                .collect(),
            lab,
            network,
            cluster,
            other,
        }
    }

    fn cluster_id(&self, which: usize) -> String {
        id_of(if which == 0 {
            &self.cluster
        } else {
            &self.other
        })
    }

    /// Every laptop gets its first client and brings its tunnel up.
    pub fn laptops_up(&mut self, tunnels: &mut Tunnels) {
        for i in 0..self.laptops.len() {
            tunnels.0.push(self.laptops[i].iface.clone());
            self.new_client(i);
        }
    }

    /// A new client for laptop `i` (granted A's served port) and its tunnel, brought up
    /// with the downloaded config and widened to the whole network.
    fn new_client(&mut self, i: usize) {
        let home = self.lab.sandbox.home.path().to_path_buf();
        let ns = self
            .lab
            .namespace_of(&format!("internet/{}", self.laptops[i].host));
        let conf = home.join(format!("{}.conf", self.laptops[i].iface));
        if conf.exists() {
            in_ns(&ns, &["wg-quick", "down", conf.to_str().unwrap()]);
        }
        let laptop = &mut self.laptops[i];
        laptop.made += 1;
        laptop.client = format!("{}-{}", laptop.host, laptop.made);
        let client = self.lab.cli.json(&format!(
            "vpn client add {} {} --grant {}:{SERVED}",
            self.gateway,
            laptop.client,
            id_of(&self.cluster)
        ));
        laptop.client_id = id_of(&client);
        laptop.revoked = false;
        let key = home.join(format!("{}.key", laptop.client));
        std::fs::write(
            &key,
            format!("{}\n", client["private_key"].as_str().unwrap()),
        )
        .unwrap();
        let config = self.lab.cli.ok(&format!(
            "vpn client config {} --private-key-file {}",
            laptop.client_id,
            key.display()
        ));
        // No `DNS =` here: these tunnels test enforcement, not names.
        let config: String = config
            .lines()
            .filter(|l| !l.starts_with("DNS = "))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&conf, config).unwrap();
        in_ns(
            &ns,
            &[
                "env",
                "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
                "wg-quick",
                "up",
                conf.to_str().unwrap(),
            ],
        );
        let widened = format!("{CIDR},{CLIENT_CIDR}");
        let iface = laptop.iface.clone();
        in_ns(
            &ns,
            &[
                "wg",
                "set",
                &iface,
                "peer",
                &self.gateway_key,
                "allowed-ips",
                &widened,
            ],
        );
        in_ns(&ns, &["ip", "route", "replace", CIDR, "dev", &iface]);
    }

    /// This round's VPN changes: a revoked laptop gets a new client; then each keeps its
    /// grants, gets new ones or is revoked. Returns what it did.
    pub fn apply_vpn(&mut self, rng: &mut Rng, _tunnels: &mut Tunnels) -> Vec<String> {
        let mut done = vec![];
        for i in 0..self.laptops.len() {
            if self.laptops[i].revoked {
                self.new_client(i);
            }
            let (client, id) = (
                self.laptops[i].client.clone(),
                self.laptops[i].client_id.clone(),
            );
            match rng.pick(4) {
                0 => done.push(format!("{client}: kept")),
                3 => {
                    self.lab.cli.ok(&format!(
                        "vpn client revoke {id} --wait --timeout {WAIT_TIMEOUT}"
                    ));
                    self.laptops[i].revoked = true;
                    done.push(format!("{client}: revoked"));
                }
                _ => {
                    let set = GRANTS[rng.pick(GRANTS.len())];
                    let flags: String = set
                        .iter()
                        .map(|(c, ports)| format!(" --grant {}:{ports}", self.cluster_id(*c)))
                        .collect();
                    self.lab.cli.ok(&format!("vpn client update {id}{flags}"));
                    eventually(&format!("{client}'s grants are applied"), || {
                        let c = self.lab.cli.json(&format!("vpn client get {id}"));
                        c["observed_generation"] == c["generation"]
                    });
                    done.push(format!("{client}: {set:?}"));
                }
            }
        }
        done
    }

    /// Creates principal `i`'s next endpoint; its connection shows pending.
    fn create_endpoint(&mut self, i: usize) -> String {
        let vpc = PRINCIPALS[i].0;
        let e = &mut self.endpoints[i];
        e.made += 1;
        let name = format!("db{}", e.made);
        self.lab.cli.ok(&format!(
            "lab endpoint create {vpc} {name} --service {}",
            self.svc
        ));
        e.name = Some(name.clone());
        e.status = "pending_acceptance";
        let id = format!("{vpc}/{name}");
        let mut cid = String::new();
        eventually(&format!("{id}'s connection shows"), || {
            cid = connection(&self.lab, &self.sid, &id)
                .map(|c| c["id"].as_str().unwrap().to_string())
                .unwrap_or_default();
            !cid.is_empty()
        });
        cid
    }

    fn delete_endpoint(&mut self, i: usize) {
        if let Some(name) = self.endpoints[i].name.take() {
            self.lab
                .cli
                .ok(&format!("lab endpoint delete {}/{name}", PRINCIPALS[i].0));
        }
        self.endpoints[i].status = "";
    }

    fn connection_id(&self, i: usize) -> String {
        let name = self.endpoints[i].name.as_deref().expect("an endpoint");
        let c = connection(&self.lab, &self.sid, &format!("{}/{name}", PRINCIPALS[i].0))
            .expect("its connection");
        c["id"].as_str().unwrap().to_string()
    }

    fn decide(&mut self, i: usize, cid: &str, verb: &str, status: &'static str) {
        self.lab
            .cli
            .ok(&format!("endpoint-service {verb} {} {cid}", self.sid));
        self.endpoints[i].status = status;
    }

    /// Brings each principal's endpoint to this round's want, then waits until the
    /// service and the data plane both show it.
    pub fn apply_endpoints(&mut self, wants: &[Want]) {
        let allowed: Vec<bool> = wants.iter().map(|w| *w != Want::PrincipalRemoved).collect();
        if allowed != self.allowed {
            let flags: String = PRINCIPALS
                .iter()
                .zip(&allowed)
                .filter(|(_, a)| **a)
                .map(|((p, _, _), _)| format!(" --principal {p}"))
                .collect();
            let flags = if flags.is_empty() {
                " --no-principals".to_string()
            } else {
                flags
            };
            self.lab
                .cli
                .ok(&format!("endpoint-service update {}{flags}", self.sid));
            self.allowed = allowed;
        }
        for (i, want) in wants.iter().enumerate() {
            let live = ["pending_acceptance", "available"].contains(&self.endpoints[i].status);
            match want {
                Want::None => self.delete_endpoint(i),
                Want::Pending => {
                    self.delete_endpoint(i);
                    self.create_endpoint(i);
                }
                Want::Available if self.endpoints[i].status == "available" => {}
                Want::Available => {
                    let cid = if self.endpoints[i].status == "pending_acceptance" {
                        self.connection_id(i)
                    } else {
                        self.delete_endpoint(i);
                        self.create_endpoint(i)
                    };
                    self.decide(i, &cid, "accept", "available");
                }
                Want::Rejected if live => {
                    let cid = self.connection_id(i);
                    self.decide(i, &cid, "reject", "rejected");
                }
                Want::Rejected if self.endpoints[i].status == "rejected" => {}
                Want::Rejected => {
                    self.delete_endpoint(i);
                    let cid = self.create_endpoint(i);
                    self.decide(i, &cid, "reject", "rejected");
                }
                // Removing the principal rejects a live connection.
                Want::PrincipalRemoved if live => self.endpoints[i].status = "rejected",
                Want::PrincipalRemoved => {}
            }
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            let Some(name) = &e.name else { continue };
            let id = format!("{}/{name}", PRINCIPALS[i].0);
            eventually(&format!("{id} is {} on both sides", e.status), || {
                let on_service =
                    connection(&self.lab, &self.sid, &id).is_some_and(|c| c["status"] == e.status);
                let list = self.lab.cli.json("lab endpoint list");
                on_service
                    && list
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|l| l["endpoint_id"] == id && l["status"] == e.status)
            });
            if e.status == "available" {
                let host = format!("{}/app", PRINCIPALS[i].0);
                let name = self.cluster["dns_name"].as_str().unwrap();
                eventually(&format!("{host} reaches the cluster by name"), || {
                    self.lab.connects_to(&host, name, SERVED)
                });
            }
        }
        // Without an available endpoint the VPC's resolver answers the platform's
        // addresses again (its view's records go with the endpoint, on the resolver's time).
        let nodes = node_ips(&self.cluster);
        let name = self.cluster["dns_name"].as_str().unwrap();
        for (i, e) in self.endpoints.iter().enumerate() {
            if e.status != "available" {
                let host = format!("{}/app", PRINCIPALS[i].0);
                eventually(&format!("{host} resolves the platform's addresses"), || {
                    self.lab
                        .resolve_on(&host, name)
                        .is_none_or(|ips| ips.iter().all(|ip| nodes.contains(ip)))
                });
            }
        }
    }

    /// Every question of this round.
    pub fn probes(&self) -> Vec<Probe> {
        let mut probes = vec![];
        let name = self.cluster["dns_name"].as_str().unwrap().to_string();
        let a_ips = node_ips(&self.cluster);
        let b_ip = node_ips(&self.other)[0].clone();
        for (vpc, _, _) in PRINCIPALS.iter().chain([&STRANGER]) {
            let host = format!("{vpc}/app");
            let mut to: Vec<(String, u16)> =
                vec![(name.clone(), SERVED), (name.clone(), NOT_SERVED)];
            for node in self.cluster["nodes"].as_array().unwrap() {
                to.push((node["dns_name"].as_str().unwrap().to_string(), SERVED));
            }
            to.extend(a_ips.iter().map(|ip| (ip.clone(), SERVED)));
            to.push((b_ip.clone(), SERVED));
            probes.extend(to.into_iter().map(|(to, port)| Probe {
                from: host.clone(),
                host: host.clone(),
                to,
                port,
            }));
        }
        for laptop in &self.laptops {
            for ip in a_ips.iter().chain([&b_ip]) {
                for port in [SERVED, NOT_SERVED] {
                    probes.push(Probe {
                        from: format!("vpn/{}", laptop.client),
                        host: format!("internet/{}", laptop.host),
                        to: ip.clone(),
                        port,
                    });
                }
            }
        }
        probes
    }
}

impl Edge {
    /// The routers' routes, neighbours and firewalls, for a round that disagreed.
    pub fn diagnose(&self) -> String {
        let mut out = String::new();
        let namespaces = [
            self.lab.names.router_ns(&self.network),
            self.lab.names.lab_router_ns("peered"),
            self.lab.names.lab_host_ns("peered", "app"),
        ];
        for ns in namespaces {
            for argv in [
                &["ip", "route"][..],
                &["ip", "-s", "neigh"],
                &["ip", "-s", "link"],
                &["ip", "-br", "addr"],
                &["nft", "list", "ruleset"],
                &["conntrack", "-L"],
            ] {
                let run = std::process::Command::new("ip")
                    .args(["netns", "exec", &ns])
                    .args(argv)
                    .output()
                    .expect("run ip netns exec");
                out.push_str(&format!(
                    "== {ns}: {argv:?}\n{}{}\n",
                    String::from_utf8_lossy(&run.stdout),
                    String::from_utf8_lossy(&run.stderr)
                ));
            }
        }
        out
    }
}

/// A failed round shows the server's errors (the CLI names only a request id).
impl Drop for Edge {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.lab.server_log();
            let errors: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("WARN"))
                .collect();
            eprintln!("server errors and warnings:\n{}", errors.join("\n"));
        }
    }
}

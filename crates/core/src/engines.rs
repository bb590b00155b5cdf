//! The engine catalog: which engines a cluster can run, in which topologies, on which
//! ports, and the addresses a client needs. (Issue 4 adds how nodes are started.)

use crate::resources::{Address, Topology};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub name: &'static str,
    pub number: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engine {
    pub name: &'static str,
    pub topologies: &'static [Topology],
    pub ports: &'static [Port],
}

const BOTH: &[Topology] = &[Topology::SingleNode, Topology::ThreeNodeMultiZone];

pub const CATALOG: &[Engine] = &[
    Engine {
        name: "probe",
        topologies: BOTH,
        ports: &[Port {
            name: "https",
            number: 8443,
        }],
    },
    Engine {
        name: "nats",
        topologies: BOTH,
        ports: &[
            Port {
                name: "client",
                number: 4222,
            },
            Port {
                name: "cluster",
                number: 6222,
            },
            Port {
                name: "monitor",
                number: 8222,
            },
        ],
    },
    Engine {
        name: "postgresql",
        topologies: &[Topology::SingleNode],
        ports: &[Port {
            name: "postgresql",
            number: 5432,
        }],
    },
];

pub fn find(name: &str) -> Option<&'static Engine> {
    CATALOG.iter().find(|e| e.name == name)
}

pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|e| e.name).collect()
}

impl Engine {
    pub fn port(&self, name: &str) -> Option<u16> {
        self.ports.iter().find(|p| p.name == name).map(|p| p.number)
    }

    /// The URIs a client needs, all by DNS name and with TLS verification on.
    pub fn addresses(&self, cluster_dns: &str, node_dns: &[String]) -> Vec<Address> {
        let addr = |name: &str, uri: String| Address {
            name: name.to_string(),
            uri,
        };
        match self.name {
            "probe" => vec![addr("https", format!("https://{cluster_dns}:8443/"))],
            "nats" => {
                let seeds = node_dns
                    .iter()
                    .map(|n| format!("tls://{n}:4222"))
                    .collect::<Vec<_>>()
                    .join(",");
                vec![
                    addr("client", format!("tls://{cluster_dns}:4222")),
                    addr("monitor", format!("https://{cluster_dns}:8222/")),
                    addr("connection_string", seeds),
                ]
            }
            "postgresql" => vec![addr(
                "connection_string",
                format!("postgresql://{cluster_dns}:5432/postgres?sslmode=verify-full"),
            )],
            _ => Vec::new(),
        }
    }
}

//! A cluster's addresses as `isthmus cluster addresses` and `cluster get` show them: the
//! private URIs the API holds and, with public access on, the same URIs by the public
//! name, each labelled with where it works from.

use isthmus_core::resources::Cluster;
use serde::Serialize;

use crate::output::{Details, View};

/// One address of a cluster, saying from where it works: `private` (from peered
/// networks, by the cluster's names) or `public` (from the allow-list, by its public name).
#[derive(Debug, Clone, Serialize)]
pub struct ScopedAddress {
    pub scope: &'static str,
    pub name: String,
    pub uri: String,
}

/// The cluster's addresses, and with public access on the same URIs by its public name
/// (every node's and the cluster's name become the one public name).
pub fn scoped_addresses(cluster: &Cluster) -> Vec<ScopedAddress> {
    let private = cluster.addresses.iter().map(|a| ScopedAddress {
        scope: "private",
        name: a.name.clone(),
        uri: a.uri.clone(),
    });
    let public = cluster
        .public_endpoint
        .as_ref()
        .filter(|_| cluster.public_access.enabled)
        .map(|endpoint| {
            let names: Vec<&str> = std::iter::once(cluster.dns_name.as_str())
                .chain(cluster.nodes.iter().map(|n| n.dns_name.as_str()))
                .filter(|n| !n.is_empty())
                .collect();
            cluster
                .addresses
                .iter()
                .map(|a| ScopedAddress {
                    scope: "public",
                    name: a.name.clone(),
                    uri: public_uri(&a.uri, &names, &endpoint.dns_name),
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    private.chain(public).collect()
}

/// `uri` with each of `names` as host replaced by `public`; a list of seeds (`a,b,c`)
/// that becomes the same seed several times keeps it once.
fn public_uri(uri: &str, names: &[&str], public: &str) -> String {
    let mut seeds: Vec<String> = Vec::new();
    for seed in uri.split(',') {
        let mut seed = seed.to_string();
        // Longest first: a node name `<id>-0.<zone>` contains no other name, but the
        // cluster name is a suffix of nothing else either; order only guards the future.
        let mut sorted = names.to_vec();
        sorted.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for name in sorted {
            seed = seed.replace(&format!("//{name}:"), &format!("//{public}:"));
            seed = seed.replace(&format!("@{name}:"), &format!("@{public}:"));
        }
        if !seeds.contains(&seed) {
            seeds.push(seed);
        }
    }
    seeds.join(",")
}

/// One row of `isthmus cluster addresses`.
impl View for ScopedAddress {
    const HEADERS: &'static [&'static str] = &["SCOPE", "NAME", "URI"];
    fn row(&self) -> Vec<String> {
        vec![self.scope.to_string(), self.name.clone(), self.uri.clone()]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("scope", self.scope)
            .field("name", &self.name)
            .field("uri", &self.uri)
    }
}

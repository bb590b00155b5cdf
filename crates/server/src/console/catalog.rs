//! `/console/catalog.json`: the choices the console's create forms offer, read from the
//! catalogs the API checks against (as `isthmus regions` and `isthmus engines` are), so a
//! form offers exactly what the server accepts: each provider's regions, and each
//! engine's topologies.

use std::sync::OnceLock;

use isthmus_core::clouds;
use isthmus_core::engines::CATALOG;
use isthmus_core::resources::Provider;
use serde_json::{json, Value};

/// The local provider's one region: the server's host.
const LOCAL_REGION: &str = "host";

pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| catalog().to_string())
}

fn catalog() -> Value {
    let providers: Vec<Value> = Provider::ALL
        .iter()
        .map(|&p| {
            let regions: Vec<&str> = clouds::regions(p).map_or(vec![LOCAL_REGION], <[_]>::to_vec);
            json!({ "name": p.as_str(), "regions": regions })
        })
        .collect();
    let engines: Vec<Value> = CATALOG
        .iter()
        .map(|e| {
            let topologies: Vec<&str> = e.topologies.iter().map(|t| t.as_str()).collect();
            json!({ "name": e.name, "topologies": topologies })
        })
        .collect();
    json!({ "providers": providers, "engines": engines })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_regions_and_every_engine_topologies() {
        let c: Value = serde_json::from_str(json()).unwrap();
        let providers = c["providers"].as_array().unwrap();
        assert_eq!(providers.len(), Provider::ALL.len());
        let aws = providers.iter().find(|p| p["name"] == "aws").unwrap();
        assert!(aws["regions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "us-east-1"));
        let local = providers.iter().find(|p| p["name"] == "local").unwrap();
        assert_eq!(local["regions"], json!(["host"]));
        let engines = c["engines"].as_array().unwrap();
        assert_eq!(engines.len(), CATALOG.len());
        assert!(engines
            .iter()
            .all(|e| !e["topologies"].as_array().unwrap().is_empty()));
    }
}

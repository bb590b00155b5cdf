//! `isthmus completions`, `isthmus regions`, `isthmus engines`: read from the catalogs the
//! server itself checks against (the core's), so what they list is what it accepts.

use clap::CommandFactory;
use isthmus_core::clouds;
use isthmus_core::engines::CATALOG;
use isthmus_core::resources::Provider;
use serde::Serialize;

use crate::args::catalog::{CompletionsArgs, RegionsArgs};
use crate::args::{Cli, OutputFormat};
use crate::output::{self, Details, View};

pub fn completions(args: CompletionsArgs) -> anyhow::Result<String> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "isthmus", &mut out);
    Ok(String::from_utf8(out)?)
}

/// One region of one provider.
#[derive(Debug, Serialize)]
pub struct Region {
    provider: &'static str,
    region: String,
}

impl View for Region {
    const HEADERS: &'static [&'static str] = &["PROVIDER", "REGION"];
    fn row(&self) -> Vec<String> {
        vec![self.provider.to_string(), self.region.clone()]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("provider", self.provider)
            .field("region", &self.region)
    }
}

pub fn regions(format: OutputFormat, args: RegionsArgs) -> anyhow::Result<String> {
    let providers = match args.provider {
        Some(p) => vec![p],
        None => vec![
            Provider::Aws,
            Provider::Gcp,
            Provider::Azure,
            Provider::Local,
        ],
    };
    let mut rows = Vec::new();
    for provider in providers {
        let regions: Vec<String> = match clouds::regions(provider) {
            Some(list) => list.iter().map(|r| r.to_string()).collect(),
            // The local provider's one region: the server's host.
            None => vec!["host".to_string()],
        };
        rows.extend(regions.into_iter().map(|region| Region {
            provider: provider.as_str(),
            region,
        }));
    }
    output::list(format, &rows)
}

/// One engine of the catalog.
#[derive(Debug, Serialize)]
pub struct EngineRow {
    engine: &'static str,
    topologies: Vec<&'static str>,
    ports: Vec<String>,
}

impl View for EngineRow {
    const HEADERS: &'static [&'static str] = &["ENGINE", "TOPOLOGIES", "PORTS"];
    fn row(&self) -> Vec<String> {
        vec![
            self.engine.to_string(),
            self.topologies.join(","),
            self.ports.join(","),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("engine", self.engine)
            .field("topologies", self.topologies.join(", "))
            .field("ports", self.ports.join(", "))
    }
}

pub fn engines(format: OutputFormat) -> anyhow::Result<String> {
    let rows: Vec<EngineRow> = CATALOG
        .iter()
        .map(|e| EngineRow {
            engine: e.name,
            topologies: e.topologies.iter().map(|t| t.as_str()).collect(),
            ports: e
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.name, p.number))
                .collect(),
        })
        .collect();
    output::list(format, &rows)
}

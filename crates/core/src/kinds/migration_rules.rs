//! The admission rules of a migration, pure: every broken rule a [`FieldError`] naming
//! the field and the rule, all of them at once. What the rules need from the store (the
//! target cluster, its network, the addresses taken in it) comes in as arguments.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};

use super::access::EgressRule;
use super::migration::{
    Migration, MigrationCreate, MigrationMode, MigrationStatus, MigrationUpdate, SourceCredentials,
};
use super::network::reserved_addresses;
use super::validate::{validate_name, Checks};
use crate::object::Object;
use crate::resources::{Cluster, Network};
use crate::{Cidr, CoreError, FieldError, MigrationId, ProjectId};

pub const MAX_URLS: usize = 16;
pub const MAX_PARTITIONS: usize = 64;

/// Admits a migration into `target` (a cluster of `network`). `taken` holds the addresses
/// of the network already in use (nodes, other replicators); the replicator gets the
/// highest free one, so it stays clear of node addresses, which are handed out lowest first.
pub fn new_migration(
    id: MigrationId,
    project: ProjectId,
    body: &MigrationCreate,
    target: &Cluster,
    network: &Network,
    taken: &HashSet<Ipv4Addr>,
    now: DateTime<Utc>,
) -> Result<Migration, CoreError> {
    let mut checks = Checks::new();
    let name = checks.field(validate_name("name", &body.name));
    checks.check(target.ensure_not_going().map_err(|_| {
        FieldError::new(
            "target_cluster_id",
            "cluster-deleting",
            format!("cluster {} is being deleted", target.id),
        )
    }));
    if target.engine != "nats" {
        checks.fail(FieldError::new(
            "target_cluster_id",
            "engine",
            format!(
                "cluster {} runs {}; a migration copies into a NATS JetStream cluster",
                target.id, target.engine
            ),
        ));
    }
    let egress = check_source(&mut checks, body);
    for (i, stream) in body.streams.iter().enumerate() {
        checks.check(check_stream_name(&format!("streams[{i}]"), stream));
    }
    if let MigrationMode::Partitioned { partitions } = body.mode {
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            checks.fail(FieldError::new(
                "mode.partitions",
                "range",
                format!("must be 1 to {MAX_PARTITIONS}"),
            ));
        }
    }
    for (field, patterns) in [
        ("filters.include_subjects", &body.filters.include_subjects),
        ("filters.exclude_subjects", &body.filters.exclude_subjects),
    ] {
        for (i, pattern) in patterns.iter().enumerate() {
            checks.check(check_subject_pattern(&format!("{field}[{i}]"), pattern));
        }
    }
    checks.extend(check_headers(&body.filters.exclude_headers));
    if let Some(transform) = &body.transform {
        checks.extend(super::migration_transform::transform_errors(transform));
    }
    let worker_ip = checks.field(worker_address(network, taken));
    let (name, worker_ip) = checks.finish_values(name.zip(worker_ip))?;
    Ok(crate::new_object!(
        now,
        Migration {
            id,
            project_id: project,
            name,
            target_cluster_id: target.id,
            network_id: network.id,
            source: body.source.shown(),
            streams: body.streams.clone(),
            mode: body.mode,
            filters: body.filters.clone(),
            transform: body.transform.clone().filter(|t| t != &Default::default()),
            worker_ip,
            egress,
            status: MigrationStatus::Provisioning,
            status_message: "starting the replicator".into(),
            progress: Default::default(),
            cutover: None,
        }
    ))
}

pub fn update_migration(
    current: &Migration,
    req: &MigrationUpdate,
    now: DateTime<Utc>,
) -> Result<Migration, CoreError> {
    current.ensure_not_going()?;
    let mut next = current.clone();
    if let Some(name) = &req.name {
        next.name = validate_name("name", name).map_err(|e| CoreError::Invalid(vec![e]))?;
    }
    next.updated_at = now;
    Ok(next)
}

/// The highest free address of the network.
fn worker_address(network: &Network, taken: &HashSet<Ipv4Addr>) -> Result<Ipv4Addr, FieldError> {
    let reserved = reserved_addresses(network.provider, &network.cidr_block);
    (network.cidr_block.start()..=network.cidr_block.end())
        .rev()
        .map(Ipv4Addr::from)
        .find(|ip| !reserved.contains(ip) && !taken.contains(ip))
        .ok_or_else(|| {
            FieldError::new(
                "target_cluster_id",
                "network-full",
                format!(
                    "network {} ({}) has no free address for the replicator",
                    network.id, network.cidr_block
                ),
            )
        })
}

/// Checks the source and returns the egress it needs: each URL's address and port.
fn check_source(checks: &mut Checks, body: &MigrationCreate) -> Vec<EgressRule> {
    let source = &body.source;
    if source.urls.is_empty() || source.urls.len() > MAX_URLS {
        checks.fail(FieldError::new(
            "source.urls",
            "count",
            format!("give 1 to {MAX_URLS} server URLs"),
        ));
    }
    let mut by_address: BTreeMap<Ipv4Addr, Vec<u16>> = BTreeMap::new();
    for (i, url) in source.urls.iter().enumerate() {
        if let Some((ip, port)) = checks.field(check_url(&format!("source.urls[{i}]"), url)) {
            let ports = by_address.entry(ip).or_default();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    if let Some(pem) = &source.ca_certificate {
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            checks.fail(FieldError::new(
                "source.ca_certificate",
                "pem",
                "must be a PEM certificate",
            ));
        }
    }
    match &source.credentials {
        Some(SourceCredentials::UserPassword { user, .. }) if user.trim().is_empty() => checks
            .fail(FieldError::new(
                "source.credentials.user",
                "required",
                "must not be empty",
            )),
        Some(SourceCredentials::Token { token }) if token.is_empty() => checks.fail(
            FieldError::new("source.credentials.token", "required", "must not be empty"),
        ),
        _ => {}
    }
    by_address
        .into_iter()
        .map(|(ip, ports)| EgressRule {
            cidr: Cidr::new(ip, 32).expect("a /32 is a prefix"),
            ports,
            comment: "migration source".into(),
        })
        .collect()
}

/// `nats://a.b.c.d:port` or `tls://a.b.c.d:port`.
fn check_url(field: &str, url: &str) -> Result<(Ipv4Addr, u16), FieldError> {
    let rest = ["nats://", "tls://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or_else(|| FieldError::new(field, "url", "must start with nats:// or tls://"))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
        FieldError::new(field, "url", "must name a port, e.g. nats://10.0.0.5:4222")
    })?;
    let ip: Ipv4Addr = host.parse().map_err(|_| {
        FieldError::new(
            field,
            "ip-address",
            format!("'{host}' is not an IPv4 address; the replicator's egress is opened to addresses, not names"),
        )
    })?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((ip, p)),
        _ => Err(FieldError::new(field, "url", "the port must be 1 to 65535")),
    }
}

/// JetStream stream names: no whitespace, `.`, `*`, `>`, path separators; at most 255.
fn check_stream_name(field: &str, name: &str) -> Result<(), FieldError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.chars().any(|c| {
            c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_control()
        });
    if bad {
        return Err(FieldError::new(
            field,
            "stream-name",
            "must be a stream name: 1 to 255 characters, no spaces, '.', '*', '>' or slashes",
        ));
    }
    Ok(())
}

fn check_subject_pattern(field: &str, pattern: &str) -> Result<(), FieldError> {
    let tokens: Vec<&str> = pattern.split('.').collect();
    let last = tokens.len() - 1;
    let bad = tokens.iter().enumerate().any(|(i, t)| {
        t.is_empty()
            || t.chars().any(char::is_whitespace)
            || (*t == ">" && i != last)
            || (t.len() > 1 && t.contains(['*', '>']))
    });
    if bad {
        return Err(FieldError::new(field, "subject-pattern", "must be a NATS subject pattern: dot-separated tokens, '*' for one token, '>' only last"));
    }
    Ok(())
}

fn check_headers(headers: &BTreeMap<String, String>) -> Vec<FieldError> {
    headers
        .keys()
        .filter(|name| name.is_empty() || name.chars().any(|c| !c.is_ascii_graphic() || c == ':'))
        .map(|name| {
            FieldError::new(
                format!("filters.exclude_headers.{name}"),
                "header-name",
                "must be printable ASCII without ':' or spaces",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{ClusterCreate, NetworkCreate, Provider, Topology};
    use crate::{rules, ClusterId, Id, NetworkId};
    use serde_json::json;

    fn network() -> Network {
        let req = NetworkCreate {
            name: "n".into(),
            provider: Provider::Local,
            region: "local".into(),
            cidr_block: "10.60.0.0/24".into(),
        };
        rules::new_network(NetworkId(id(1)), ProjectId(id(1)), &req, &[], Utc::now()).unwrap()
    }

    fn cluster(network: &Network, engine: &str) -> Cluster {
        let req = ClusterCreate {
            name: "c".into(),
            network_id: network.id.to_string(),
            engine: engine.into(),
            topology: Topology::SingleNode,
            public_access: None,
            private_allowlist: None,
            egress_allowlist: None,
        };
        let id = ClusterId(id(1));
        rules::new_cluster(
            id,
            network.project_id,
            &req,
            network,
            &HashSet::new(),
            "z",
            Utc::now(),
        )
        .unwrap()
    }

    fn id(n: u8) -> Id {
        Id::from_parts(1_700_000_000, [n; 8])
    }

    fn body(value: serde_json::Value) -> MigrationCreate {
        serde_json::from_value(value).unwrap()
    }

    fn admit(value: serde_json::Value, engine: &str) -> Result<Migration, CoreError> {
        let network = network();
        let target = cluster(&network, engine);
        let taken = target.nodes.iter().map(|n| n.ip).collect();
        let id = MigrationId(id(1));
        new_migration(
            id,
            network.project_id,
            &body(value),
            &target,
            &network,
            &taken,
            Utc::now(),
        )
    }

    fn rules_of(error: CoreError) -> Vec<(String, String)> {
        let CoreError::Invalid(errors) = error else {
            panic!("{error:?}")
        };
        errors.into_iter().map(|e| (e.field, e.rule)).collect()
    }

    #[test]
    fn a_plain_request_gets_the_highest_address_and_egress_to_the_source_only() {
        let m = admit(
            json!({"name": " events ", "target_cluster_id": "x",
                   "source": {"urls": ["nats://172.16.0.10:4222", "nats://172.16.0.10:4223", "tls://172.16.0.11:4222"]}}),
            "nats",
        )
        .unwrap();
        assert_eq!(m.name, "events");
        assert_eq!(m.mode, MigrationMode::Ordered);
        assert_eq!(m.worker_ip, Ipv4Addr::new(10, 60, 0, 254));
        let egress: Vec<(String, Vec<u16>)> = m
            .egress
            .iter()
            .map(|r| (r.cidr.to_string(), r.ports.clone()))
            .collect();
        assert_eq!(
            egress,
            [
                ("172.16.0.10/32".to_string(), vec![4222, 4223]),
                ("172.16.0.11/32".to_string(), vec![4222])
            ]
        );
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let error = admit(
            json!({
                "name": "m", "target_cluster_id": "x",
                "source": {"urls": ["http://x:1", "nats://host:4222", "nats://10.0.0.1"], "ca_certificate": "nope",
                           "credentials": {"kind": "token", "token": ""}},
                "streams": ["ORDERS", "bad.name"],
                "mode": {"mode": "partitioned", "partitions": 0},
                "filters": {"exclude_subjects": ["a.>.b"], "exclude_headers": {"Bad Name": "x"}},
                "transform": {"subjects": [{"from": "a.*", "to": "b.$2"}]}
            }),
            "postgresql",
        )
        .unwrap_err();
        assert_eq!(
            rules_of(error),
            [
                ("target_cluster_id", "engine"),
                ("source.urls[0]", "url"),
                ("source.urls[1]", "ip-address"),
                ("source.urls[2]", "url"),
                ("source.ca_certificate", "pem"),
                ("source.credentials.token", "required"),
                ("streams[1]", "stream-name"),
                ("mode.partitions", "range"),
                ("filters.exclude_subjects[0]", "subject-pattern"),
                ("filters.exclude_headers.Bad Name", "header-name"),
                ("transform.subjects[0]", "subject-rename"),
            ]
            .map(|(f, r)| (f.to_string(), r.to_string()))
        );
    }
}

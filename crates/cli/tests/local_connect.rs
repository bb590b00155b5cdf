//! Connecting to a `local` cluster from a peered lab host, as a customer's application
//! would: the cluster's names resolve through the platform DNS (the lab VPC's resolver),
//! every node serves TLS with a certificate from the installation CA for its name, the
//! certificate is renewed while the cluster keeps running, and a deleted cluster's names,
//! processes and certificates are gone.

mod local_support;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use isthmus_connect::pki::cert_info;
use local_support::{eventually, node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};

const HOST: &str = "customer/app";
/// The probe engine's TLS port.
const PROBE_PORT: u16 = 8443;
/// Short enough that the test sees a renewal (after two thirds of it), long enough that
/// every handshake in between finds a valid certificate.
const CERT_LIFETIME_SECONDS: &str = "15";

/// The IPv4 addresses `name` resolves to on the lab host (`getent ahostsv4`, which goes
/// through the host's resolv.conf); `None` when the name does not resolve.
fn resolve(lab: &LocalLab, name: &str) -> Option<BTreeSet<String>> {
    let run = lab.lab_exec(HOST, &["getent", "ahostsv4", name]);
    if run.code != Some(0) {
        return None;
    }
    Some(
        run.stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect(),
    )
}

/// A TLS handshake from the lab host to `ip`, verifying the chain against `ca` and the
/// certificate against `name`; the server's certificate (PEM) when it succeeds.
fn handshake(lab: &LocalLab, ca: &Path, ip: &str, name: &str) -> Result<String, String> {
    let connect = format!("{ip}:{PROBE_PORT}");
    let ca = ca.display().to_string();
    let run = lab.lab_exec(
        HOST,
        &[
            "timeout",
            "10",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            name,
            "-verify_hostname",
            name,
            "-CAfile",
            &ca,
            "-verify_return_error",
        ],
    );
    if run.code != Some(0) {
        return Err(format!("{}{}", run.stdout, run.stderr));
    }
    let begin = run.stdout.find("-----BEGIN CERTIFICATE-----");
    let end = run
        .stdout
        .find("-----END CERTIFICATE-----")
        .map(|e| e + "-----END CERTIFICATE-----".len());
    match (begin, end) {
        (Some(b), Some(e)) => Ok(run.stdout[b..e].to_string()),
        _ => Err(format!("no server certificate in:\n{}", run.stdout)),
    }
}

fn serial(pem: &str) -> String {
    cert_info(pem).expect("a certificate").serial
}

fn node_names(cluster: &Value) -> Vec<String> {
    cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["dns_name"].as_str().expect("node dns_name").to_string())
        .collect()
}

/// The pids of the cluster's engines, from the pid files the server keeps next to them.
fn engine_pids(node_dirs: &[PathBuf]) -> Vec<String> {
    node_dirs
        .iter()
        .map(|d| {
            std::fs::read_to_string(d.join("pid"))
                .unwrap_or_else(|e| panic!("pid file in {}: {e}", d.display()))
                .trim()
                .to_string()
        })
        .collect()
}

#[test]
fn a_peered_lab_host_resolves_the_cluster_and_verifies_every_node_over_tls_until_delete() {
    let mut lab = LocalLab::start_with(
        "isthi1",
        &["--node-cert-lifetime-seconds", CERT_LIFETIME_SECONDS],
    );
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let network = lab.project_and_network("172.29.97.0/24");
    let cluster = lab.cluster(&network, "three-node-multi-zone");
    let cluster_id = id_of(&cluster);
    let cluster_name = cluster["dns_name"].as_str().expect("dns_name").to_string();
    let ips = node_ips(&cluster);
    let names = node_names(&cluster);
    assert_eq!(ips.len(), 3);
    let peering = lab.peering(&network, "customer", &["172.16.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));

    // Names: the cluster name is every node, each node name its own node.
    let all: BTreeSet<String> = ips.iter().cloned().collect();
    eventually("the lab host resolves the cluster name", || {
        resolve(&lab, &cluster_name).is_some()
    });
    assert_eq!(resolve(&lab, &cluster_name), Some(all));
    for (name, ip) in names.iter().zip(&ips) {
        assert_eq!(
            resolve(&lab, name),
            Some(BTreeSet::from([ip.clone()])),
            "{name}"
        );
    }

    // TLS: every node proves its name with a certificate from the installation CA, and
    // no other name.
    let mut serials = Vec::new();
    for (name, ip) in names.iter().zip(&ips) {
        let pem = handshake(&lab, &ca, ip, name)
            .unwrap_or_else(|e| panic!("handshake with {name} at {ip}: {e}"));
        let info = cert_info(&pem).unwrap();
        assert!(info.dns_names.contains(name), "{info:?}");
        assert!(info.dns_names.contains(&cluster_name), "{info:?}");
        serials.push(info.serial);
        let wrong = format!("not-{name}");
        assert!(
            handshake(&lab, &ca, ip, &wrong).is_err(),
            "a handshake with {ip} as {wrong} must fail verification"
        );
    }

    // Renewal: each node soon serves a new certificate, still verified, and the cluster
    // stays running throughout.
    for ((name, ip), old) in names.iter().zip(&ips).zip(&serials) {
        eventually(&format!("{name} serves a renewed certificate"), || {
            handshake(&lab, &ca, ip, name).is_ok_and(|pem| serial(&pem) != *old)
        });
    }
    let now = lab.cli.json(&format!("cluster get {cluster_id}"));
    assert_eq!(now["status"], "running", "{now:#}");

    // Delete: the names go, then the engines and their certificate directories.
    let cluster_dir = lab.sandbox.data.path().join("nodes").join(&cluster_id);
    let node_dirs: Vec<PathBuf> = (0..3).map(|i| cluster_dir.join(i.to_string())).collect();
    let pids = engine_pids(&node_dirs);
    lab.cli.ok(&format!("cluster delete {cluster_id}"));
    eventually("the cluster name stops resolving", || {
        resolve(&lab, &cluster_name).is_none()
    });
    assert_eq!(resolve(&lab, &names[0]), None);
    eventually("the cluster is deleted", || {
        let run = lab.cli.run(&format!("cluster get {cluster_id} -o json"));
        serde_json::from_str::<Value>(&run.stdout).is_ok_and(|c| c["status"] == "deleted")
    });
    for pid in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "engine {pid} still runs after the delete"
        );
    }
    assert!(
        !cluster_dir.exists(),
        "{} (certificates and keys) is left",
        cluster_dir.display()
    );

    // The lab host's resolver configuration goes with the lab VPC.
    let resolv = PathBuf::from("/etc/netns")
        .join(lab.names.lab_host_ns("customer", "app"))
        .join("resolv.conf");
    assert!(resolv.exists(), "{}", resolv.display());
    lab.cli.ok(&format!(
        "peering delete {} --wait --timeout {WAIT_TIMEOUT}",
        id_of(&peering)
    ));
    lab.cli.ok("lab vpc delete customer");
    eventually("the lab host's resolv.conf is removed", || !resolv.exists());
}

#[test]
fn an_engine_that_dies_is_started_again_and_serves_its_certificate() {
    let mut lab = LocalLab::start("isthi2");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let network = lab.project_and_network("172.29.96.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let ip = node_ips(&cluster)[0].clone();
    let name = node_names(&cluster)[0].clone();
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));
    let node_dir = lab
        .sandbox
        .data
        .path()
        .join("nodes")
        .join(&cluster_id)
        .join("0");
    let first = engine_pids(std::slice::from_ref(&node_dir)).remove(0);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.parse().expect("a pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the engine");

    eventually("the engine is started again", || {
        // Read leniently: the pid file is replaced while the engine starts.
        let now = std::fs::read_to_string(node_dir.join("pid")).unwrap_or_default();
        !now.is_empty() && now.trim() != first && handshake(&lab, &ca, &ip, &name).is_ok()
    });
    eventually("the cluster is running again", || {
        lab.cli.json(&format!("cluster get {cluster_id}"))["status"] == "running"
    });
}

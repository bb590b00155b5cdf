//! A cluster's public endpoint on the `local` provider, as someone on the internet sees it:
//! the lab's internet is a namespace of ours with hosts of its own; an allowed host
//! resolves `public-<id>.<zone>` through the platform DNS and verifies the endpoint's TLS
//! against the installation CA; a host not on the allow-list cannot connect; turning
//! public access off closes the endpoint and its name; an allow-list change keeps the
//! established connections of the entries that stay and cuts those of entries removed.

mod local_support;
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use isthmus_driver_local::probe::{self, EchoServer};
use local_support::{eventually, node_ips, public_name, LocalLab, PORT};
use serde_json::Value;
use support::id_of;

/// The probe engine's TLS port.
const TLS_PORT: u16 = 8443;
const OFFICE: &str = "internet/office";
const STRANGER: &str = "internet/stranger";

/// A TLS handshake from `target` with `name:TLS_PORT` (resolved on `target`), verifying
/// the chain against `ca` and the certificate against `name`; openssl's output either way.
fn handshake(lab: &LocalLab, target: &str, ca: &Path, name: &str) -> Result<String, String> {
    handshake_at(lab, target, ca, name, name)
}

/// Like [`handshake`], connecting to `host` (a name or an address).
fn handshake_at(
    lab: &LocalLab,
    target: &str,
    ca: &Path,
    host: &str,
    name: &str,
) -> Result<String, String> {
    let connect = format!("{host}:{TLS_PORT}");
    let ca = ca.display().to_string();
    let run = lab.lab_exec(
        target,
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
    let output = format!("{}{}", run.stdout, run.stderr);
    if run.code == Some(0) {
        Ok(output)
    } else {
        Err(output)
    }
}

fn endpoint(cluster: &Value) -> (String, String) {
    let e = &cluster["public_endpoint"];
    let name = e["dns_name"].as_str();
    let ip = e["ip"].as_str();
    match (name, ip) {
        (Some(n), Some(i)) => (n.to_string(), i.to_string()),
        _ => panic!("no public endpoint in {cluster:#}"),
    }
}

fn reason(lab: &LocalLab, from: &str, to: &str) -> String {
    let answer = lab.cli.json(&format!("reach --from {from} --to {to}"));
    answer["verdicts"][0]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no reason in {answer:#}"))
        .to_string()
}

#[test]
fn an_allowed_internet_host_verifies_the_public_name_over_tls_and_others_cannot_connect() {
    let mut lab = LocalLab::start("isthu1");
    lab.internet_host("office", "203.0.113.10");
    lab.internet_host("stranger", "203.0.113.20");
    let network = lab.project_and_network("172.29.94.0/24");
    let cluster = lab.cluster_with(
        &network,
        "three-node-multi-zone",
        "--public-access on --public-allow 203.0.113.10/32=office",
    );
    let id = id_of(&cluster);
    let (name, ip) = endpoint(&cluster);
    assert_eq!(name, public_name(&cluster));
    let pool: isthmus_core::Cidr = "198.18.0.0/15".parse().unwrap();
    assert!(
        pool.contains_addr(ip.parse().unwrap()),
        "{ip} is outside {pool}"
    );
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));

    // The allowed host resolves the name through the platform DNS and verifies the chain
    // and the name; the same certificate does not pass for another name.
    eventually("the office resolves the public name", || {
        lab.resolve_on(OFFICE, &name).is_some()
    });
    assert_eq!(lab.resolve_on(OFFICE, &name), Some(vec![ip.clone()]));
    handshake(&lab, OFFICE, &ca, &name).unwrap_or_else(|e| panic!("handshake with {name}: {e}"));
    let to = format!("{name}:{TLS_PORT}");
    assert_eq!(reason(&lab, OFFICE, &to), "allowed");
    let wrong = format!("not-{name}");
    let refused = handshake_at(&lab, OFFICE, &ca, &ip, &wrong)
        .expect_err("a certificate for the public name must not pass for another name");
    assert!(refused.contains("hostname mismatch"), "{refused}");

    // A host not on the list resolves the name (DNS is public) but cannot connect.
    assert_eq!(lab.resolve_on(STRANGER, &name), Some(vec![ip.clone()]));
    assert!(!lab.connects_to(STRANGER, &name, TLS_PORT));
    assert!(handshake(&lab, STRANGER, &ca, &name).is_err());
    assert_eq!(reason(&lab, STRANGER, &to), "not-in-public-allowlist");

    // The internet never reaches the nodes' private addresses, allowed or not.
    for node in node_ips(&cluster) {
        assert!(!lab.connects_to(OFFICE, &node, TLS_PORT), "{node}");
        assert_eq!(
            reason(&lab, OFFICE, &format!("{node}:{TLS_PORT}")),
            "no-route"
        );
    }

    // Off: no endpoint, no name, no connection to the address it had; the list stays.
    let off = lab.update_cluster(&id, "--public-access off");
    assert!(off["public_endpoint"].is_null(), "{off:#}");
    assert_eq!(
        off["public_access"]["allowlist"][0]["cidr"],
        "203.0.113.10/32"
    );
    assert!(!lab.connects_to(OFFICE, &ip, TLS_PORT));
    eventually("the public name stops resolving", || {
        lab.resolve_on(OFFICE, &name).is_none()
    });
    assert!(!lab.connects_to(OFFICE, &name, TLS_PORT));
    assert_eq!(reason(&lab, OFFICE, &to), "public-access-disabled");

    // On again, live (no recreate): the office verifies the endpoint again.
    let on = lab.update_cluster(&id, "--public-access on");
    let (again, ip) = endpoint(&on);
    assert_eq!(again, name);
    eventually("the public name resolves again", || {
        lab.resolve_on(OFFICE, &name) == Some(vec![ip.clone()])
    });
    handshake(&lab, OFFICE, &ca, &name).unwrap_or_else(|e| panic!("handshake again: {e}"));
    assert_eq!(on["status"], "running");
}

/// Opens a connection from `target` (its own namespace) to `ip:PORT` and checks it echoes.
fn open(lab: &LocalLab, target: &str, ip: &str) -> std::net::TcpStream {
    let ns = lab.namespace_of(target);
    let addr = SocketAddr::from((ip.parse::<Ipv4Addr>().unwrap(), PORT));
    let mut stream = probe::connect(&ns, addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{target} → {addr}: {e:#}"));
    assert!(
        echoes(&mut stream, "hello"),
        "{target} → {addr} does not echo"
    );
    stream
}

/// Whether `stream` still carries data both ways (the echo comes back).
fn echoes(stream: &mut std::net::TcpStream, text: &str) -> bool {
    probe::round_trip(stream, text.as_bytes()).is_ok_and(|back| back == text.as_bytes())
}

#[test]
fn an_allow_list_change_keeps_established_connections_of_the_entries_that_stay() {
    let mut lab = LocalLab::start("isthu2");
    lab.internet_host("office", "203.0.113.10");
    lab.internet_host("home", "198.51.100.7");
    let network = lab.project_and_network("172.29.93.0/24");
    let cluster = lab.cluster_with(
        &network,
        "three-node-multi-zone",
        "--public-access on --public-allow 203.0.113.10/32=office \
         --public-allow 198.51.100.7/32=home",
    );
    let id = id_of(&cluster);
    let (_, ip) = endpoint(&cluster);
    let _listeners: Vec<EchoServer> = node_ips(&cluster)
        .iter()
        .enumerate()
        .map(|(i, node)| lab.listen_in_node(&id, i as u32, node.parse().unwrap()))
        .collect();
    let mut office = open(&lab, OFFICE, &ip);
    let mut home = open(&lab, "internet/home", &ip);

    // The list replaced from a file: office stays, home goes, a partner comes.
    let file = lab.sandbox.home.path().join("allowlist.txt");
    std::fs::write(
        &file,
        "# who may connect to the public endpoint\n203.0.113.10/32 office\n\
         192.0.2.0/24 partner\n",
    )
    .unwrap();
    let updated = lab.update_cluster(&id, &format!("--public-allowlist-file {}", file.display()));
    let list: Vec<(&str, &str)> = updated["public_access"]["allowlist"]
        .as_array()
        .expect("allowlist")
        .iter()
        .map(|e| (e["cidr"].as_str().unwrap(), e["comment"].as_str().unwrap()))
        .collect();
    assert_eq!(
        list,
        [("203.0.113.10/32", "office"), ("192.0.2.0/24", "partner")]
    );
    assert!(
        echoes(&mut office, "still here"),
        "office's connection was dropped"
    );
    assert!(
        !echoes(&mut home, "still here?"),
        "home's connection outlived its entry"
    );
    assert!(!lab.connects_to("internet/home", &ip, PORT));
    assert!(lab.connects_to(OFFICE, &ip, PORT));

    // Added back one by one, home connects again; office's connection carries on.
    lab.update_cluster(&id, "--add-public-allow 198.51.100.7/32=home");
    assert!(lab.connects_to("internet/home", &ip, PORT));
    assert!(
        echoes(&mut office, "and still"),
        "office's connection was dropped"
    );

    // An empty list when enabled: nobody, and the API says so.
    let run = lab.cli.run(&format!(
        "cluster update {id} --remove-public-allow 203.0.113.10/32 \
         --remove-public-allow 192.0.2.0/24 --remove-public-allow 198.51.100.7/32 -o json"
    ));
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("empty allow-list"),
        "no warning:\n{}",
        run.stderr
    );
    let empty = lab.settled_cluster(&id);
    assert!(
        !empty["warnings"].as_array().expect("warnings").is_empty(),
        "{empty:#}"
    );
    assert!(
        !echoes(&mut office, "gone?"),
        "office's connection outlived its entry"
    );
    assert!(!lab.connects_to(OFFICE, &ip, PORT));
}

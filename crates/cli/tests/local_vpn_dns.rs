//! A VPN laptop resolves the platform's names through the DNS its config pushes, end to
//! end through the real binary (root): wg-quick brings the downloaded config up with its
//! `DNS =` line, handed to the lab's resolvconf (`scripts/lab-resolvconf`), so the
//! laptop's own resolver asks the gateway's resolver through the tunnel. The laptop gets
//! the platform's answers (the node's own address), not a lab VPC's view, where the same
//! name resolves to that VPC's private endpoint; it connects by name with TLS verified
//! against the CA. After `wg-quick down` the laptop's resolver is the lab's again.
//! Kernel names use the prefix `isthy4`.

mod local_support;
mod support;

use isthmus_driver_local::vpn::daemon;
use local_support::{eventually, node_ips, LocalLab};
use support::{id_of, WAIT_TIMEOUT};

const PREFIX: &str = "isthy4";
const LAPTOP: &str = "internet/laptop";
const WG: &str = "isthy4lap";
const TLS_PORT: u16 = 8443;

struct Laptop;

impl Drop for Laptop {
    fn drop(&mut self) {
        let _ = daemon::stop(WG);
    }
}

/// wg-quick `verb` on the laptop, with the lab's resolvconf first on PATH.
fn wg_quick(ns: &str, verb: &str, conf: &str) {
    let shim = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/lab-resolvconf");
    let path = format!("PATH={shim}:{}", std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "env", &path])
        .args(["WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "wg-quick"])
        .args([verb, conf])
        .output()
        .expect("run wg-quick");
    assert!(
        out.status.success(),
        "wg-quick {verb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_vpn_laptop_resolves_cluster_names_through_the_pushed_dns_with_the_platforms_answers() {
    let mut lab = LocalLab::start(PREFIX);
    let _laptop = Laptop;
    let network = lab.project_and_network("10.89.0.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let name = cluster["dns_name"].as_str().unwrap().to_string();
    let node_ip = node_ips(&cluster)[0].clone();
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));

    // A lab VPC whose own view answers the same name with its private endpoint.
    lab.lab_vpc("cust", "172.31.30.0/24", &[("app", "172.31.30.10")]);
    let service = lab.cli.json(&format!(
        "endpoint-service create db-pl --cluster {cluster_id} --principal cust \
         --no-acceptance --wait --timeout {WAIT_TIMEOUT}"
    ));
    let ep = lab.cli.json(&format!(
        "lab endpoint create cust db --service {}",
        service["service_name"].as_str().unwrap()
    ));
    let endpoint_ip = ep["ip"].as_str().unwrap().to_string();
    eventually("the VPC resolves the cluster to its endpoint", || {
        lab.resolve_on("cust/app", &name) == Some(vec![endpoint_ip.clone()])
    });

    // The laptop, before the tunnel: the lab internet's resolver.
    lab.internet_host("laptop", "203.0.113.91");
    let laptop_ns = lab.namespace_of(LAPTOP);
    let gateway = lab.cli.json(&format!(
        "vpn gateway create laptops --network {network} --client-cidr 100.64.12.0/24 \
         --dns push --wait --timeout {WAIT_TIMEOUT}"
    ));
    let client = lab.cli.json(&format!(
        "vpn client add {} alice --grant {cluster_id}:{TLS_PORT}",
        id_of(&gateway)
    ));
    let key = lab.sandbox.home.path().join("alice.key");
    std::fs::write(
        &key,
        format!("{}\n", client["private_key"].as_str().unwrap()),
    )
    .unwrap();
    let config = lab.cli.ok(&format!(
        "vpn client config {} --private-key-file {}",
        id_of(&client),
        key.display()
    ));
    assert!(config.contains("DNS = 100.64.12.1, "), "{config}");
    let conf = lab.sandbox.home.path().join(format!("{WG}.conf"));
    std::fs::write(&conf, &config).unwrap();
    let resolv = format!("/etc/netns/{laptop_ns}/resolv.conf");
    eventually("the laptop has the lab's resolver", || {
        std::fs::read_to_string(&resolv).is_ok_and(|t| t.contains("written by isthmus"))
    });

    // Up, with `DNS =` as written: the laptop's resolver is the gateway's, through the
    // tunnel, and it answers the platform's address for the name.
    wg_quick(&laptop_ns, "up", conf.to_str().unwrap());
    let text = std::fs::read_to_string(&resolv).unwrap();
    assert!(
        text.starts_with("# written by resolvconf") && text.contains("nameserver 100.64.12.1"),
        "{text}"
    );
    assert_eq!(
        lab.resolve_on(LAPTOP, &name),
        Some(vec![node_ip.clone()]),
        "the platform's answer, not the lab VPC's endpoint {endpoint_ip}"
    );
    // The short name too, through the pushed search domain.
    assert_eq!(
        lab.resolve_on(LAPTOP, &cluster_id),
        Some(vec![node_ip.clone()])
    );
    let connect = format!("{name}:{TLS_PORT}");
    let run = lab.lab_exec(
        LAPTOP,
        &[
            "timeout",
            "10",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            &name,
            "-verify_hostname",
            &name,
            "-CAfile",
            ca.to_str().unwrap(),
            "-verify_return_error",
        ],
    );
    assert!(
        run.code == Some(0) && run.stdout.contains("Verify return code: 0 (ok)"),
        "TLS by name through the tunnel:\n{}{}",
        run.stdout,
        run.stderr
    );
    // Down: resolvconf gives the file back, and the lab's resolver returns.
    wg_quick(&laptop_ns, "down", conf.to_str().unwrap());
    eventually("the laptop has the lab's resolver again", || {
        std::fs::read_to_string(&resolv).is_ok_and(|t| t.contains("written by isthmus"))
    });
}

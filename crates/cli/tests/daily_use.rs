//! The rough edges a new user hit following the README (issue 17), each as the user met
//! it: what the server prints at start, what login, a bad URL or a missing token say, the
//! lab and `local` networks on a server without the local provider, allow-list files,
//! egress rules, public addresses, and list widths.

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use support::{id_of, Cli, Sandbox, Server, WAIT_TIMEOUT};

fn project(server: &Server, sandbox: &Sandbox, name: &str) -> Cli {
    let admin = server.cli(sandbox.home.path());
    admin.in_project(&id_of(&admin.json(&format!("project create {name}"))))
}

/// The address after `prefix` on a line of the server's log.
fn logged_after(server: &Server, prefix: &str) -> String {
    let log = server.log();
    let at = log
        .find(prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` line:\n{log}"));
    log[at + prefix.len()..].lines().next().unwrap().to_string()
}

#[test]
fn the_server_names_its_console_and_dns_port_at_start() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    assert_eq!(
        logged_after(&server, "web console: "),
        format!("{}/", server.url)
    );
    let dns = logged_after(&server, "platform DNS on ");
    let addr: SocketAddr = dns.split_whitespace().next().unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0, "the real port, not the asked-for 0: {dns}");
    assert!(dns.contains("for the zone "), "{dns}");
}

#[test]
fn login_refuses_a_project_that_does_not_exist_and_saves_nothing() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let cli = server.cli(sandbox.home.path());
    let line = format!(
        "login --url {} --token {} -p nosuch",
        server.url, server.admin_token
    );
    let error = cli.fails(&line);
    assert!(error.contains("no project named 'nosuch'"), "{error}");
    assert!(!sandbox
        .home
        .path()
        .join(".config/isthmus/profile.json")
        .exists());
}

#[test]
fn a_url_without_a_scheme_and_a_missing_token_say_what_to_do() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let cli = server.cli(sandbox.home.path());
    let port = server.url.rsplit(':').next().unwrap();
    let error = cli.fails(&format!("--url 127.0.0.1:{port} project list"));
    assert!(
        error.contains(&format!(
            "'127.0.0.1:{port}' has no scheme: write it as http://127.0.0.1:{port}"
        )),
        "{error}"
    );
    assert!(!error.contains("builder error"), "{error}");

    // The server keeps its token in its own --data-dir; the CLI looked elsewhere.
    let run = cli.run_with_profile_only(&format!("--url {} project list", server.url));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let error = run.stderr;
    let default_file = sandbox.home.path().join(".local/share/isthmus/admin-token");
    assert!(error.contains("no API token found"), "{error}");
    assert!(
        error.contains(&default_file.display().to_string()),
        "{error}"
    );
    assert!(error.contains("ISTHMUS_DATA_DIR"), "{error}");
}

#[test]
fn without_the_local_provider_lab_lists_and_local_networks_say_so() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &["--no-local"]);
    let cli = project(&server, &sandbox, "no-local");
    let error = cli.fails("lab vpc list");
    assert!(error.contains("need the local provider"), "{error}");
    let error = cli.fails("lab internet host list");
    assert!(error.contains("local provider"), "{error}");
    let error = cli.fails("network create lab --provider local --region host --cidr 10.99.0.0/24");
    assert!(error.contains("cannot make local networks"), "{error}");
    assert_eq!(cli.json("network list"), serde_json::json!([]));
}

#[test]
fn an_allowlist_file_takes_bare_addresses_and_names_a_bad_line_by_its_number() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let cli = project(&server, &sandbox, "files");
    let network = id_of(
        &cli.json("network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/16"),
    );
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node"
    )));
    let file = sandbox.home.path().join("allow.txt");
    std::fs::write(
        &file,
        "# office\n203.0.113.0/24 office\n198.51.100.7 laptop\n",
    )
    .unwrap();
    let updated = cli.json(&format!(
        "cluster update {cluster} --public-allowlist-file {}",
        file.display()
    ));
    let cidrs: Vec<&str> = updated["public_access"]["allowlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(cidrs, ["203.0.113.0/24", "198.51.100.7/32"]);
    // A bare address on the command line too; removed by its address.
    cli.ok(&format!(
        "cluster update {cluster} --add-public-allow 192.0.2.9=ci"
    ));
    let got = cli.json(&format!(
        "cluster update {cluster} --remove-public-allow 192.0.2.9"
    ));
    assert_eq!(
        got["public_access"]["allowlist"].as_array().unwrap().len(),
        2
    );
    // Temporary access: the entries added with --expire-after carry their expiry, shown
    // by `cluster get`; entries already there keep theirs (none).
    let temporary = cli.json(&format!(
        "cluster update {cluster} --add-public-allow 192.0.2.10=contractor --expire-after 8h"
    ));
    let list = temporary["public_access"]["allowlist"].as_array().unwrap();
    assert!(list[2]["expires_at"].is_string(), "{list:?}");
    assert!(list[0].get("expires_at").is_none(), "{list:?}");
    let shown = cli.ok(&format!("cluster get {cluster}"));
    assert!(
        shown.contains("192.0.2.10/32  contractor  (expires "),
        "{shown}"
    );
    cli.ok(&format!(
        "cluster update {cluster} --remove-public-allow 192.0.2.10"
    ));

    std::fs::write(
        &file,
        "203.0.113.0/24 office\n\n# typo below\n198.51.100.300 laptop\n",
    )
    .unwrap();
    let error = cli.fails(&format!(
        "cluster update {cluster} --public-allowlist-file {}",
        file.display()
    ));
    assert!(error.contains(": line 4: "), "{error}");
}

#[test]
fn egress_rules_are_shown_and_can_be_removed() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let cli = project(&server, &sandbox, "egress");
    let network = id_of(
        &cli.json("network create prod --provider aws --region us-east-1 --cidr 10.41.0.0/16"),
    );
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node \
         --egress 172.16.0.0/16:443,8443 --egress 172.17.0.0/24"
    )));
    let shown = cli.ok(&format!("cluster get {cluster}"));
    assert!(shown.contains("egress_allowlist (2)"), "{shown}");
    assert!(shown.contains("172.16.0.0/16  port 443,8443"), "{shown}");
    assert!(shown.contains("172.17.0.0/24  every port"), "{shown}");

    let left = cli.json(&format!(
        "cluster update {cluster} --remove-egress 172.16.0.0/16"
    ));
    assert_eq!(left["egress_allowlist"][0]["cidr"], "172.17.0.0/24");
    assert_eq!(left["egress_allowlist"].as_array().unwrap().len(), 1);
    let error = cli.fails(&format!(
        "cluster update {cluster} --remove-egress 172.16.0.0/16"
    ));
    assert!(error.contains("not in the egress allow-list"), "{error}");
    let none = cli.json(&format!("cluster update {cluster} --clear-egress"));
    assert_eq!(none["egress_allowlist"], serde_json::json!([]));
    let shown = cli.ok(&format!("cluster get {cluster}"));
    assert!(shown.contains("egress_allowlist (0)"), "{shown}");
}

/// The platform DNS's answer for `name` (A records), asked over UDP as a resolver would.
fn resolve(dns: SocketAddr, name: &str) -> Vec<Ipv4Addr> {
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&query, dns).unwrap();
    let mut answer = [0u8; 512];
    let n = socket.recv(&mut answer).expect("the platform DNS answers");
    let answer = &answer[..n];
    let count = u16::from_be_bytes([answer[6], answer[7]]) as usize;
    // Answers follow the echoed question; each A record ends in its 4 address bytes.
    let mut at = query.len();
    let mut ips = Vec::new();
    for _ in 0..count {
        // The record's name: labels, ending in a zero byte or a compressed pointer.
        loop {
            match answer[at] {
                0 => {
                    at += 1;
                    break;
                }
                len if len & 0xC0 == 0xC0 => {
                    at += 2;
                    break;
                }
                len => at += 1 + len as usize,
            }
        }
        let (rtype, len) = (
            u16::from_be_bytes([answer[at], answer[at + 1]]),
            u16::from_be_bytes([answer[at + 8], answer[at + 9]]) as usize,
        );
        at += 10;
        if rtype == 1 && len == 4 {
            ips.push(Ipv4Addr::new(
                answer[at],
                answer[at + 1],
                answer[at + 2],
                answer[at + 3],
            ));
        }
        at += len;
    }
    ips
}

/// `cluster update --public-access on --wait` returns once the change is applied: the
/// public name resolves at once, and `cluster addresses` lists private and public URIs.
#[test]
fn public_access_with_wait_resolves_at_once_and_addresses_show_both_scopes() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let dns: SocketAddr = logged_after(&server, "platform DNS on ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cli = project(&server, &sandbox, "public");
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.42.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = cli.json(&format!(
        "cluster create orders --network {network} --engine nats \
         --topology three-node-multi-zone --wait --timeout {WAIT_TIMEOUT}"
    ));
    let id = id_of(&cluster);
    let only_private = cli.json(&format!("cluster addresses {id}"));
    assert!(only_private
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["scope"] == "private"));

    let updated = cli.json(&format!(
        "cluster update {id} --public-access on --add-public-allow 198.51.100.7 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(updated["observed_generation"], updated["generation"]);
    let public = updated["public_endpoint"]["dns_name"].as_str().unwrap();
    let ip: Ipv4Addr = updated["public_endpoint"]["ip"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(resolve(dns, public), [ip], "{public} right after --wait");

    let table = cli.ok(&format!("cluster addresses {id}"));
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let dns_name = updated["dns_name"].as_str().unwrap();
    assert!(
        rows.iter().any(|r| r[0] == "private"
            && r[1] == "client"
            && r[2] == format!("tls://{dns_name}:4222")),
        "{table}"
    );
    assert!(
        rows.iter().any(|r| r[0] == "public"
            && r[1] == "client"
            && r[2] == format!("tls://{public}:4222")),
        "{table}"
    );
    // Three node seeds by their private names become the one public name.
    assert!(
        rows.iter().any(|r| r[0] == "public"
            && r[1] == "connection_string"
            && r[2] == format!("tls://{public}:4222")),
        "{table}"
    );
}

#[test]
fn a_peering_list_with_an_azure_vnet_fits_a_terminal() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let cli = project(&server, &sandbox, "widths");
    let network = id_of(
        &cli.json("network create hub --provider azure --region westeurope --cidr 10.43.0.0/16"),
    );
    let vnet = "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/customer-network-rg/providers/Microsoft.Network/virtualNetworks/customer-vnet";
    cli.ok(&format!(
        "peering create to-customer --network {network} --peer-account \
         0b1f6471-1bf0-4dda-aec3-111122223333 --peer-network {vnet} --peer-region westeurope \
         --route 192.168.0.0/24 --route 192.168.1.0/24 --route 192.168.2.0/24"
    ));
    let table = cli.ok("peering list");
    for line in table.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} columns:\n{table}",
            line.len()
        );
    }
    assert!(table.contains("customer-vnet"), "{table}");
    assert!(table.contains("192.168.0.0/24,+2 more"), "{table}");
}

#[test]
fn completions_regions_and_engines_work_offline() {
    let sandbox = Sandbox::new();
    let cli = Cli {
        url: "http://127.0.0.1:9".into(),
        token: String::new(),
        project: None,
        home: sandbox.home.path().to_path_buf(),
    };
    let bash = cli.ok("completions bash");
    assert!(bash.contains("_isthmus()"), "{bash}");
    assert!(bash.contains("network") && bash.contains("--cascade"));
    let zsh = cli.ok("completions zsh");
    assert!(zsh.starts_with("#compdef isthmus"), "{zsh}");
    assert!(cli.ok("completions fish").contains("complete -c isthmus"));

    let aws = cli.ok("regions --provider aws");
    assert!(aws.lines().next().unwrap().starts_with("PROVIDER"));
    assert!(aws.contains("aws       us-east-1"), "{aws}");
    assert!(!aws.contains("westeurope"), "{aws}");
    let all = cli.json("regions");
    let providers: std::collections::BTreeSet<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["aws", "azure", "gcp", "local"].into());

    let engines = cli.json("engines");
    let postgresql = engines
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["engine"] == "postgresql")
        .expect("postgresql in the catalog");
    assert_eq!(postgresql["topologies"], serde_json::json!(["single-node"]));
    let table = cli.ok("engines");
    assert!(table.contains("nats"), "{table}");
    assert!(
        table.contains("single-node,three-node-multi-zone"),
        "{table}"
    );
}

/// Every verb takes a name where it took an id; a name two objects share is refused
/// with their ids.
#[test]
fn verbs_take_names_as_well_as_ids() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let cli = project(&server, &sandbox, "names");
    cli.ok(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.44.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
         --region us-east-1 --cidr 192.168.0.0/16",
    );
    let peering = cli.json(&format!(
        "peering create to-customer --network prod --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(peering["status"], "pending_acceptance");
    cli.ok(&format!(
        "sim accept to-customer --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(cli.json("peering get to-customer")["id"], peering["id"]);
    assert!(cli
        .ok("peering actions to-customer")
        .contains("the peering is active"));
    let cluster = cli.json(&format!(
        "cluster create orders --network prod --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert!(cli.ok("cluster addresses orders").contains("private"));
    let renamed = cli.json(&format!(
        "cluster update orders --name billing --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(renamed["id"], cluster["id"]);
    cli.ok(&format!(
        "cluster delete billing --yes --wait --timeout {WAIT_TIMEOUT}"
    ));
    cli.ok("network update prod --name prod-eu");
    let error = cli.fails("network get prod");
    assert!(error.contains("no network named 'prod'"), "{error}");

    // A second network of that name is refused: a name says which, always.
    let error =
        cli.fails("network create prod-eu --provider aws --region us-east-1 --cidr 10.45.0.0/16");
    assert!(
        error.contains("a network named 'prod-eu' already exists"),
        "{error}"
    );
    assert_eq!(cli.ok("network list -o jsonpath={.name}"), "prod-eu\n");
}

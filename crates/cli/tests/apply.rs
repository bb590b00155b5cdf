//! `isthmus apply -f FILE`: networks, peerings and clusters from YAML documents, by name,
//! idempotently; `--dry-run` says what would change and changes nothing; what
//! `get -o yaml` prints applies as it is (unchanged).

mod support;

use support::{id_of, Cli, Sandbox, Server};

const FILE: &str = "\
kind: peering
name: to-app
network: prod
peer: {account_id: '123456789012', network_id: vpc-0c0ffee0, region: us-east-1}
routes: [10.20.0.0/16]
---
name: prod
provider: aws
region: us-east-1
cidr_block: 172.29.98.0/24
---
name: orders
network: prod
engine: probe
topology: single-node
";

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn setup() -> (Sandbox, Server, Cli) {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create declared")));
    (sandbox, server, cli)
}

#[test]
fn apply_creates_by_name_then_changes_nothing_the_second_time() {
    let (sandbox, _server, cli) = setup();
    let file = write(sandbox.home.path(), "all.yaml", FILE);

    let dry = cli.ok(&format!("apply -f {file} --dry-run"));
    assert_eq!(
        dry,
        "network prod: created\npeering to-app: created\ncluster orders: created\n\
         (dry run: nothing was changed)\n"
    );
    assert_eq!(
        cli.ok("network list -o jsonpath={.name}"),
        "\n",
        "a dry run changes nothing"
    );

    let first = cli.ok(&format!("apply -f {file}"));
    assert_eq!(
        first,
        "network prod: created\npeering to-app: created\ncluster orders: created\n"
    );
    let network = cli.json("network get prod");
    assert_eq!(cli.json("peering get to-app")["network_id"], network["id"]);
    assert_eq!(cli.json("cluster get orders")["network_id"], network["id"]);

    let again = cli.ok(&format!("apply -f {file}"));
    assert_eq!(
        again,
        "network prod: unchanged\npeering to-app: unchanged\ncluster orders: unchanged\n"
    );
}

#[test]
fn a_changed_field_is_updated_and_what_get_prints_applies_unchanged() {
    let (sandbox, _server, cli) = setup();
    let file = write(sandbox.home.path(), "all.yaml", FILE);
    cli.ok(&format!("apply -f {file}"));

    // `get -o yaml` is a document apply takes: nothing differs.
    for (kind, name) in [
        ("network", "prod"),
        ("peering", "to-app"),
        ("cluster", "orders"),
    ] {
        let yaml = cli.ok(&format!("{kind} get {name} -o yaml"));
        let got = write(sandbox.home.path(), &format!("{name}.yaml"), &yaml);
        assert_eq!(
            cli.ok(&format!("apply -f {got}")),
            format!("{kind} {name}: unchanged\n")
        );
    }

    let more = FILE.replace(
        "routes: [10.20.0.0/16]",
        "routes: [10.20.0.0/16, 10.30.0.0/16]",
    );
    let changed = write(sandbox.home.path(), "more.yaml", &more);
    let dry = cli.ok(&format!("apply -f {changed} --dry-run"));
    assert!(
        dry.contains("peering to-app: updated\n  routes: [\"10.20.0.0/16\"] → [\"10.20.0.0/16\",\"10.30.0.0/16\"]"),
        "{dry}"
    );
    assert_eq!(
        cli.json("peering get to-app")["routes"],
        serde_json::json!(["10.20.0.0/16"])
    );
    cli.ok(&format!("apply -f {changed}"));
    assert_eq!(
        cli.json("peering get to-app")["routes"],
        serde_json::json!(["10.20.0.0/16", "10.30.0.0/16"])
    );

    // What an update cannot change is refused, naming it.
    let moved = FILE.replace("172.29.98.0/24", "172.29.99.0/24");
    let moved = write(sandbox.home.path(), "moved.yaml", &moved);
    let error = cli.fails(&format!("apply -f {moved}"));
    assert!(
        error.contains("cidr_block (172.29.98.0/24 → 172.29.99.0/24)"),
        "{error}"
    );
}

//! How the CLI fails and how it prints: one `error:` line and exit 1 for every refusal,
//! exit 2 for usage errors, and -o json / -o yaml that parse.

mod support;

use support::{id_of, Cli, Sandbox, Server};

/// A CLI pointed at `url` with no server state needed.
fn offline_cli(url: &str, home: &std::path::Path) -> Cli {
    Cli {
        url: url.to_string(),
        token: "isth_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        project: None,
        home: home.to_path_buf(),
    }
}

#[test]
fn a_cidr_with_host_bits_is_refused_in_one_line_that_names_cidr_block() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create errors")));

    let stderr =
        cli.fails("network create bad --provider aws --region us-east-1 --cidr 172.29.98.7/24");
    assert!(stderr.contains("cidr_block"), "{stderr}");
    assert!(
        stderr.contains("172.29.98.0/24"),
        "the error suggests the network: {stderr}"
    );
}

#[test]
fn a_viewer_token_can_read_but_cannot_create() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let admin = admin.in_project(&id_of(&admin.json("project create shared")));

    let created = admin.json("token create dashboards --role viewer");
    assert_eq!(created["role"], "viewer");
    let secret = created["secret"]
        .as_str()
        .expect("the secret is shown once");
    assert!(secret.starts_with("isth_"), "{secret}");
    let viewer = admin.with_token(secret);

    assert_eq!(viewer.json("network list"), serde_json::json!([]));
    let stderr =
        viewer.fails("network create nope --provider aws --region us-east-1 --cidr 10.0.0.0/16");
    assert!(stderr.contains("forbidden"), "{stderr}");
}

#[test]
fn json_and_yaml_output_parse_and_carry_the_same_resource() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create formats")));
    let network =
        cli.json("network create prod --provider gcp --region europe-west1 --cidr 10.40.0.0/16");
    let id = id_of(&network);

    let as_json = cli.json(&format!("network get {id}"));
    let yaml_text = cli.ok(&format!("network get {id} -o yaml"));
    let as_yaml: serde_json::Value =
        serde_yaml::from_str(&yaml_text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{yaml_text}"));
    assert_eq!(as_yaml["id"], as_json["id"]);
    assert_eq!(as_yaml["cidr_block"], "10.40.0.0/16");
    assert_eq!(as_json["provider"], "gcp");

    let list: Vec<serde_json::Value> =
        serde_yaml::from_str(&cli.ok("network list -o yaml")).expect("a YAML list");
    assert_eq!(list.len(), 1);
}

#[test]
fn an_unreachable_server_is_named_with_a_hint_to_start_it() {
    let home = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");

    let stderr = offline_cli(&url, home.path()).fails("project list");
    assert_eq!(
        stderr.trim_end(),
        format!("error: cannot reach Isthmus at {url}: is `isthmus serve` running?")
    );
}

#[test]
fn a_usage_error_exits_2_as_clap_does() {
    let home = tempfile::tempdir().unwrap();
    let run =
        offline_cli("http://127.0.0.1:9", home.path()).run("network create prod --provider mars");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("mars"), "{}", run.stderr);
}

#[test]
fn a_client_verb_without_a_project_says_how_to_give_one() {
    let home = tempfile::tempdir().unwrap();
    let stderr = offline_cli("http://127.0.0.1:9", home.path()).fails("network list");
    assert!(stderr.contains("--project"), "{stderr}");
}

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::*;

fn ports(client: u16, cluster: u16, monitor: u16) -> BTreeMap<String, u16> {
    BTreeMap::from([
        ("client".to_string(), client),
        ("cluster".to_string(), cluster),
        ("monitor".to_string(), monitor),
        ("https".to_string(), 8443),
    ])
}

fn node(peers: Vec<Peer>) -> LaunchContext {
    LaunchContext {
        cluster_id: "c0ffee00000000000000".into(),
        node_index: 0,
        node_name: "c0ffee00000000000000-0.isthmus.internal".into(),
        cluster_name: "c0ffee00000000000000.isthmus.internal".into(),
        node_ip: IpAddr::V4(Ipv4Addr::new(10, 40, 0, 5)),
        data_dir: PathBuf::from("/var/lib/isthmus/n0"),
        cert: PathBuf::from("/var/lib/isthmus/n0/node.pem"),
        key: PathBuf::from("/var/lib/isthmus/n0/node.key"),
        ca: PathBuf::from("/var/lib/isthmus/ca.pem"),
        peers,
        ports: ports(4222, 6222, 8222),
        membership: Default::default(),
    }
}

fn peer(n: u8) -> Peer {
    Peer {
        node_name: format!("c0ffee00000000000000-{n}.isthmus.internal"),
        ip: IpAddr::V4(Ipv4Addr::new(10, 40, n, 5)),
        ports: ports(4222, 6222, 8222),
    }
}

#[test]
fn placeholders_are_replaced_by_the_nodes_values() {
    let ctx = node(vec![peer(1), peer(2)]);
    let rendered = render(
        "{node_ip}:{port:client} {node_name} #{node_index} {data_dir} {cert} {key} {ca} [{peers}]",
        &ctx,
        None,
        Some("cluster"),
    )
    .unwrap();
    assert_eq!(
        rendered,
        "10.40.0.5:4222 c0ffee00000000000000-0.isthmus.internal #0 /var/lib/isthmus/n0 \
         /var/lib/isthmus/n0/node.pem /var/lib/isthmus/n0/node.key /var/lib/isthmus/ca.pem \
         [10.40.1.5:6222,10.40.2.5:6222]"
    );
}

#[test]
fn an_unknown_placeholder_or_port_is_an_error_naming_it() {
    let ctx = node(Vec::new());
    let error = render("{nodeip}", &ctx, None, None).unwrap_err();
    assert!(format!("{error:#}").contains("unknown placeholder {nodeip}"));
    let error = render("{port:grpc}", &ctx, None, None).unwrap_err();
    assert!(format!("{error:#}").contains("no port named \"grpc\""));
}

#[test]
fn the_probe_runs_the_isthmus_binary_on_its_https_port() {
    let launch = probe_launch(Path::new("/usr/bin/isthmus"))
        .render(&node(Vec::new()))
        .unwrap();
    assert_eq!(launch.program, PathBuf::from("/usr/bin/isthmus"));
    assert_eq!(launch.args[0], "probe");
    let flag = |name: &str| {
        let i = launch.args.iter().position(|a| a == name).unwrap();
        launch.args[i + 1].clone()
    };
    assert_eq!(flag("--listen"), "10.40.0.5:8443");
    assert_eq!(flag("--cert"), "/var/lib/isthmus/n0/node.pem");
    assert_eq!(flag("--cluster-id"), "c0ffee00000000000000");
    assert!(launch.files.is_empty());
    assert_eq!(launch.ready.addr, "10.40.0.5:8443".parse().unwrap());
    assert_eq!(launch.ready.kind, Readiness::TlsHandshake { port: "https" });
    assert_eq!(launch.on_cert_renewal, CertRenewal::WatchesFiles);
}

#[test]
fn nats_starts_from_a_generated_config_file_in_the_data_dir() {
    let launch = nats_launch(Path::new("/usr/bin/nats-server"))
        .render(&node(Vec::new()))
        .unwrap();
    let config_path = PathBuf::from("/var/lib/isthmus/n0/nats.conf");
    assert_eq!(
        launch.args,
        vec!["-c".to_string(), config_path.display().to_string()]
    );
    assert_eq!(launch.files.len(), 1);
    assert_eq!(launch.files[0].0, config_path);
    assert_eq!(launch.ready.addr, "10.40.0.5:8222".parse().unwrap());
    assert_eq!(launch.on_cert_renewal, CertRenewal::SignalHup);
}

#[test]
fn a_single_nats_node_has_tls_and_jetstream_but_no_cluster() {
    let conf = nats_config(&node(Vec::new())).unwrap();
    assert!(conf.contains("listen: \"10.40.0.5:4222\""), "{conf}");
    assert!(conf.contains("https: \"10.40.0.5:8222\""), "{conf}");
    assert!(
        conf.contains("cert_file: \"/var/lib/isthmus/n0/node.pem\""),
        "{conf}"
    );
    assert!(
        conf.contains("store_dir: \"/var/lib/isthmus/n0/jetstream\""),
        "{conf}"
    );
    assert!(!conf.contains("cluster {"), "{conf}");
}

#[test]
fn three_nats_nodes_route_to_each_other_over_verified_tls() {
    let conf = nats_config(&node(vec![peer(1), peer(2)])).unwrap();
    assert!(conf.contains("cluster {"), "{conf}");
    assert!(conf.contains("name: \"c0ffee00000000000000\""), "{conf}");
    assert!(conf.contains("listen: \"10.40.0.5:6222\""), "{conf}");
    assert!(conf.contains("\"nats-route://10.40.1.5:6222\""), "{conf}");
    assert!(conf.contains("\"nats-route://10.40.2.5:6222\""), "{conf}");
    assert!(
        conf.contains("  tls {\n"),
        "routes have their own TLS block: {conf}"
    );
    assert!(
        conf.contains("verify: true"),
        "route peers present certificates: {conf}"
    );
}

#[test]
fn a_node_without_membership_goes_by_its_dns_name_with_no_tags_or_system_user() {
    let conf = nats_config(&node(vec![peer(1)])).unwrap();
    assert!(
        conf.contains("server_name: \"c0ffee00000000000000-0.isthmus.internal\"\n"),
        "{conf}"
    );
    assert!(!conf.contains("server_tags"), "{conf}");
    assert!(!conf.contains("accounts"), "{conf}");
}

#[test]
fn a_moving_node_has_its_own_member_name_its_network_tag_and_the_system_user() {
    let mut ctx = node(vec![peer(1)]);
    ctx.membership = Membership {
        member_name: Some("c0ffee00000000000000-0.isthmus.internal~3".into()),
        tags: vec!["isthmus-net:net1".into()],
        system_password: Some("s3cr\"et".into()),
    };
    let conf = nats_config(&ctx).unwrap();
    assert!(
        conf.contains("server_name: \"c0ffee00000000000000-0.isthmus.internal~3\"\n"),
        "{conf}"
    );
    // Clients still discover it by its DNS name.
    assert!(
        conf.contains("client_advertise: \"c0ffee00000000000000-0.isthmus.internal:4222\""),
        "{conf}"
    );
    assert!(
        conf.contains("server_tags: [\"isthmus-net:net1\"]"),
        "{conf}"
    );
    assert!(
        conf.contains(r#"users: [ { user: "isthmus", password: "s3cr\"et" } ]"#),
        "the password is quoted: {conf}"
    );
}

#[test]
fn launch_recipes_exist_for_the_catalog_engines_that_have_processes() {
    let (isthmus, nats) = (Path::new("/bin/isthmus"), Path::new("/bin/nats-server"));
    assert_eq!(launch_for("probe", isthmus, nats).unwrap().engine, "probe");
    assert_eq!(launch_for("nats", isthmus, nats).unwrap().engine, "nats");
    assert!(launch_for("mystery", isthmus, nats).is_none());
}

#[test]
fn catalog_ports_name_every_port_of_the_engine() {
    let nats = isthmus_core::engines::find("nats").unwrap();
    assert_eq!(catalog_ports(nats), {
        let mut p = ports(4222, 6222, 8222);
        p.remove("https");
        p
    });
}

//! Lab VPCs: the customer side of local peerings, with hosts to run commands from.

mod common;

use common::*;
use isthmus_driver_local::probe::EchoServer;
use isthmus_driver_local::{LabHostSpec, LabVpcSpec};

fn spec(hosts: &[(&str, Option<&str>)]) -> LabVpcSpec {
    LabVpcSpec {
        name: "corp".into(),
        cidr: cidr("172.16.0.0/16"),
        behind: None,
        hosts: hosts
            .iter()
            .map(|(name, ip)| LabHostSpec {
                name: name.to_string(),
                ip: ip.map(|ip| ip.parse().unwrap()),
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_hosts_get_addresses_and_run_commands_without_a_shell() {
    let fx = Fixture::new("isthc1");
    let d = &fx.driver;
    let vpc = d
        .ensure_lab_vpc(&spec(&[
            ("a", None),
            ("b", Some("172.16.5.5")),
            ("c", None),
        ]))
        .await
        .unwrap();
    let ips: Vec<String> = vpc.hosts.iter().map(|h| h.ip.to_string()).collect();
    assert_eq!(ips, ["172.16.0.2", "172.16.5.5", "172.16.0.3"]);

    let argv: Vec<String> = ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]
        .map(String::from)
        .to_vec();
    let out = d.lab_exec("corp", "b", &argv).await.unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("172.16.5.5/16"));

    let literal = "$(id);echo injected".to_string();
    let out = d
        .lab_exec("corp", "a", &["echo".into(), literal.clone()])
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        literal,
        "arguments reach the program verbatim"
    );

    let server = EchoServer::start(&vpc.hosts[1].namespace, addr(vpc.hosts[1].ip, 7000)).unwrap();
    assert!(
        can_connect(&vpc.hosts[0].namespace, server.addr),
        "hosts of one lab VPC reach each other"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_can_be_added_and_removed() {
    let fx = Fixture::new("isthc2");
    let d = &fx.driver;
    d.ensure_lab_vpc(&spec(&[("a", None)])).await.unwrap();
    let added = d
        .add_lab_host(
            "corp",
            &LabHostSpec {
                name: "b".into(),
                ip: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(added.ip.to_string(), "172.16.0.3");
    assert!(fx.namespaces().contains(&added.namespace));

    d.delete_lab_host("corp", "a").await.unwrap();
    let vpc = d.lab_vpc("corp").unwrap();
    assert_eq!(
        vpc.hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    assert_eq!(
        vpc.hosts[0].ip, added.ip,
        "remaining hosts keep their address"
    );
    assert!(d.lab_exec("corp", "a", &["true".into()]).await.is_err());

    d.delete_lab_vpc("corp").await.unwrap();
    assert!(d.lab_vpc("corp").is_none());
    assert_eq!(fx.namespaces(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_names_and_addresses_are_checked() {
    let fx = Fixture::new("isthc3");
    let d = &fx.driver;
    let bad_name = LabVpcSpec {
        name: "a b".into(),
        ..spec(&[])
    };
    assert!(d.ensure_lab_vpc(&bad_name).await.is_err());
    let outside = d
        .ensure_lab_vpc(&spec(&[("x", Some("10.0.0.1"))]))
        .await
        .unwrap_err();
    assert!(
        format!("{outside:#}").contains("outside lab VPC corp"),
        "{outside:#}"
    );
    let gateway = d
        .ensure_lab_vpc(&spec(&[("x", Some("172.16.0.1"))]))
        .await
        .unwrap_err();
    assert!(
        format!("{gateway:#}").contains("reserved or taken"),
        "{gateway:#}"
    );
}

//! The installation CA: created once with a private key only root can read, issuing node
//! certificates that clients verify by node name.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use isthmus_connect::pki::{cert_info, Ca, NodeIdentity, CA_CERT_FILE, CA_KEY_FILE};
use support::tls::handshake_in_memory;

const DAY: Duration = Duration::from_secs(86_400);

fn node_zero() -> NodeIdentity {
    NodeIdentity {
        node_dns: "c0ffee00000000000000-0.isthmus.internal".into(),
        cluster_dns: "c0ffee00000000000000.isthmus.internal".into(),
        public_dns: Some("public-c0ffee00000000000000.isthmus.internal".into()),
        ip: IpAddr::V4(Ipv4Addr::new(10, 40, 0, 5)),
    }
}

#[test]
fn the_ca_key_is_created_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    Ca::load_or_create(dir.path()).unwrap();
    let key_mode = std::fs::metadata(dir.path().join(CA_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    assert!(dir.path().join(CA_CERT_FILE).exists());
}

#[test]
fn loading_again_gives_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ca::load_or_create(dir.path()).unwrap();
    let second = Ca::load_or_create(dir.path()).unwrap();
    assert_eq!(first.cert_pem(), second.cert_pem());
    assert_eq!(
        std::fs::read_to_string(second.cert_path()).unwrap(),
        first.cert_pem()
    );
}

#[tokio::test]
async fn a_certificate_issued_after_reload_verifies_against_the_original_ca_pem() {
    let dir = tempfile::tempdir().unwrap();
    let original_pem = Ca::load_or_create(dir.path())
        .unwrap()
        .cert_pem()
        .to_string();
    let reloaded = Ca::load_or_create(dir.path()).unwrap();
    let issued = reloaded.issue_node_cert(&node_zero(), DAY).unwrap();
    let verdict = handshake_in_memory(
        &original_pem,
        &issued.cert_pem,
        &issued.key_pem,
        &node_zero().node_dns,
    )
    .await;
    assert_eq!(verdict, Ok(()));
}

#[test]
fn half_a_ca_is_an_error_not_a_new_ca() {
    let dir = tempfile::tempdir().unwrap();
    Ca::load_or_create(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
    let error = Ca::load_or_create(dir.path()).err().expect("refuses");
    assert!(error.to_string().contains("only one of"), "{error}");
}

#[test]
fn a_node_certificate_names_the_node_the_cluster_the_public_name_and_the_ip() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path()).unwrap();
    let node = node_zero();
    let issued = ca.issue_node_cert(&node, 30 * DAY).unwrap();
    let info = cert_info(&issued.cert_pem).unwrap();
    assert_eq!(
        info.dns_names,
        vec![
            node.node_dns.clone(),
            node.cluster_dns.clone(),
            node.public_dns.clone().unwrap()
        ]
    );
    assert_eq!(info.ip_addresses, vec![node.ip]);
    assert_eq!(info.not_after, issued.not_after);
    let lifetime = info.not_after - chrono::Utc::now();
    assert!(lifetime <= chrono::Duration::days(30));
    assert!(lifetime > chrono::Duration::days(29));
}

#[tokio::test]
async fn clients_verifying_against_the_ca_accept_every_name_of_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path()).unwrap();
    let node = node_zero();
    let issued = ca.issue_node_cert(&node, DAY).unwrap();
    for name in [
        node.node_dns.clone(),
        node.cluster_dns.clone(),
        node.public_dns.clone().unwrap(),
        node.ip.to_string(),
    ] {
        let verdict =
            handshake_in_memory(ca.cert_pem(), &issued.cert_pem, &issued.key_pem, &name).await;
        assert_eq!(verdict, Ok(()), "server name {name}");
    }
}

#[tokio::test]
async fn a_wrong_server_name_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path()).unwrap();
    let issued = ca.issue_node_cert(&node_zero(), DAY).unwrap();
    let verdict = handshake_in_memory(
        ca.cert_pem(),
        &issued.cert_pem,
        &issued.key_pem,
        "c0ffee00000000000000-1.isthmus.internal",
    )
    .await;
    let error = verdict.expect_err("another node's name must not verify");
    assert!(error.contains("not valid for name"), "{error}");
}

#[tokio::test]
async fn another_installations_ca_does_not_verify_our_nodes() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(ours.path()).unwrap();
    let other_ca = Ca::load_or_create(theirs.path()).unwrap();
    let issued = ca.issue_node_cert(&node_zero(), DAY).unwrap();
    let verdict = handshake_in_memory(
        other_ca.cert_pem(),
        &issued.cert_pem,
        &issued.key_pem,
        &node_zero().node_dns,
    )
    .await;
    assert!(verdict.is_err());
}

#[test]
fn written_node_files_keep_the_key_private() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(&dir.path().join("ca")).unwrap();
    let issued = ca.issue_node_cert(&node_zero(), DAY).unwrap();
    let (cert, key) = (dir.path().join("node.pem"), dir.path().join("node.key"));
    issued.write_to(&cert, &key).unwrap();
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), issued.cert_pem);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

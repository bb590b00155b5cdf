//! `isthmus vpn gateway …` and `isthmus vpn client …` through the real binary, on the
//! simulated AWS (modelled: no packets): a gateway, a client with a generated key shown
//! once, its config (text and QR), rotation, revoke; bad input is one line naming the
//! field. The real tunnel is `local_vpn.rs` (root).

mod support;

use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn a_gateway_and_its_clients_through_the_cli_with_one_line_errors() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create vpn")));
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let other = id_of(&cli.json(&format!(
        "network create other --provider aws --region us-east-1 --cidr 10.41.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let elsewhere = id_of(&cli.json(&format!(
        "cluster create far --network {other} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));

    let overlap = cli.fails(&format!(
        "vpn gateway create gw --network {network} --client-cidr 10.40.5.0/24"
    ));
    assert!(overlap.contains("client_cidr"), "{overlap}");
    let gateway = cli.json(&format!(
        "vpn gateway create gw --network {network} --client-cidr 100.64.0.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(gateway["status"], "ready", "{gateway:#}");
    let gw = id_of(&gateway);
    let second = cli.fails(&format!(
        "vpn gateway create gw2 --network {network} --client-cidr 100.65.0.0/24"
    ));
    assert!(
        second.contains("409") || second.contains("gateway"),
        "{second}"
    );
    let listed = cli.ok("vpn gateway list");
    assert!(
        listed.contains(&gw) && listed.contains("100.64.0.0/24"),
        "{listed}"
    );

    // Bad input: each one line that names the field.
    for (flags, field) in [
        ("--public-key not-a-key", "public_key"),
        (
            &format!("--grant {elsewhere}:8443") as &str,
            "grants[1].cluster_id",
        ),
        ("--expires 400d", "expires_at"),
    ] {
        let err = cli.fails(&format!(
            "vpn client add {gw} bad --grant {cluster}:8443 {flags}"
        ));
        assert!(err.contains(field), "{flags}: {err}");
    }
    let err = cli.fails(&format!("vpn client add {gw} bad --grant {cluster}:http"));
    assert!(err.contains("--grant"), "{err}");

    // A generated key: in this answer only.
    let added = cli.run(&format!(
        "vpn client add {gw} alice --grant {cluster} --expires 30d"
    ));
    assert_eq!(added.code, Some(0), "{}{}", added.stdout, added.stderr);
    assert!(
        added.stderr.contains("private key (shown once"),
        "{}",
        added.stderr
    );
    let alice = cli.json(&format!("vpn client list {gw}"))[0].clone();
    let id = id_of(&alice);
    assert_eq!(alice["address"], "100.64.0.2");
    assert_eq!(alice["grants"][0]["ports"][0], 8443, "the engine's port");
    assert!(alice.get("private_key").is_none());

    let config = cli.ok(&format!("vpn client config {id}"));
    assert!(
        config.contains("[Interface]\nPrivateKey = <the private key"),
        "{config}"
    );
    assert!(config.contains("Endpoint = vpn-"), "{config}");
    let png = sandbox.home.path().join("alice.png");
    cli.ok(&format!(
        "vpn client config {id} --qr --out {}",
        png.display()
    ));
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    let no_out = cli.fails(&format!("vpn client config {id} --qr"));
    assert!(no_out.contains("--out"), "{no_out}");

    let rotated = cli.json(&format!("vpn client rotate {id}"));
    assert_eq!(rotated["address"], alice["address"]);
    assert_ne!(rotated["public_key"], alice["public_key"]);
    assert!(rotated["private_key"].is_string());

    let revoked = cli.json(&format!(
        "vpn client revoke {id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(revoked["status"], "deleted", "{revoked:#}");
    let events = cli.ok("events -o json");
    for action in [
        "vpn_gateway.create",
        "vpn_client.create",
        "vpn_client.config_download",
        "vpn_client.update",
        "vpn_client.delete",
    ] {
        assert!(events.contains(action), "no {action} in the audit log");
    }
}

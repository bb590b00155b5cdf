//! The VPN gateway's console page in a real browser (headless Chromium) against the real
//! `isthmus serve` on the simulated AWS: its clients with their states, Add client (the
//! generated private key shown once), Rotate (a new key shown once), the config download
//! and Revoke.

mod browser;
mod support;

use browser::Page;
use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn a_gateway_page_adds_rotates_and_revokes_clients() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create vpn-console"));
    let cli = admin.in_project(&project);
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let gateway = id_of(&cli.json(&format!(
        "vpn gateway create laptops --network {network} --client-cidr 100.64.0.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));

    let page = Page::open(&format!("{}/", server.url), "vpn");
    // Tall enough that the clients' rows are clear of the status bar at the bottom.
    page.resize(1280, 1400);
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("logged in", "!document.querySelector('#login-token')");
    page.eval(&format!(
        "location.hash = '#/p/{project}/vpn-gateways/{gateway}'"
    ));
    page.wait_for(
        "the gateway's clients",
        "document.querySelector('#vpn-clients p.note, #vpn-clients table')",
    );

    // Add a client: its row, and its private key shown once.
    page.click("#vpn-client-add");
    page.fill("#vpn-client-name", "alice");
    page.fill("#vpn-client-grants", &format!("{cluster}:8443"));
    page.click("form[aria-label='Add a client'] button[type=submit]");
    page.wait_for(
        "alice's row and her private key",
        "document.querySelector('#vpn-clients tbody tr') && document.querySelector('#vpn-secret code') \
         && !document.querySelector(\"form[aria-label='Add a client']\")",
    );
    let key = page.text("#vpn-secret code");
    assert_eq!(key.trim().len(), 44, "a base64 WireGuard key: {key}");
    let client = cli.json(&format!("vpn client list {gateway}"))[0].clone();
    let id = id_of(&client);
    assert_eq!(
        page.text(&format!("#vpn-client-{id} .vpn-state")),
        "pending"
    );
    page.screenshot("vpn-01-client-added");

    // The config download is audited.
    page.click(&format!("#vpn-config-{id}"));
    let mut downloaded = false;
    for _ in 0..50 {
        if cli
            .ok("events -o json")
            .contains("vpn_client.config_download")
        {
            downloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        downloaded,
        "the download is in the audit log; alert {:?}, status {:?}, errors {:?}, events {}",
        page.text("#page-alert"),
        page.text("#status"),
        page.errors(),
        cli.ok("events -o json")
    );

    // Rotate: a new key, shown once; the client keeps its address.
    page.click(&format!("#vpn-rotate-{id}"));
    page.wait_for(
        "a new private key",
        &format!(
            "document.querySelector('#vpn-secret code') && document.querySelector('#vpn-secret code').innerText.trim() !== {}",
            browser::js(key.trim())
        ),
    );
    let rotated = cli.json(&format!("vpn client get {id}"));
    assert_ne!(rotated["public_key"], client["public_key"]);
    assert_eq!(rotated["address"], client["address"]);

    // Revoke: the client goes.
    page.click(&format!("#vpn-revoke-{id}"));
    let revoked = cli.poll_status("vpn client", &id, &["deleted"]);
    assert!(revoked["revoked_at"].is_string(), "{revoked:#}");
    page.click("#vpn-clients-refresh");
    page.wait_for(
        "the revoked client's row is gone",
        &format!("!document.querySelector('#vpn-client-{id}')"),
    );
    page.screenshot("vpn-02-revoked");
    assert!(page.errors().is_empty(), "{:?}", page.errors());
}

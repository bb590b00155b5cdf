//! The console's side of issue 17, in Chromium against the real server: a rejected
//! peering asks nothing of the customer, a cluster's Addresses tab labels private and
//! public URIs, its Access tab shows and edits the egress allow-list, and a peering list
//! with an Azure resource id keeps its Delete column on screen at 1280 px and 390 px.
//! Screenshots land in target/console-screenshots/daily-*.png.

mod browser;
mod support;

use browser::{js, Page};
use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

/// The right edge of every `selector` is inside the viewport (its width without the
/// scroll bar), with the page scrolled fully left.
fn on_screen(page: &Page, selector: &str) -> bool {
    let expr = format!(
        "[...document.querySelectorAll({})].every((e) => e.getBoundingClientRect().right <= document.documentElement.clientWidth)",
        js(selector)
    );
    page.eval(&expr).as_bool().unwrap()
}

#[test]
fn rejected_peerings_addresses_egress_and_wide_tables_in_the_console() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create daily"));
    let cli = admin.in_project(&project);
    let aws = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.50.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
         --region us-east-1 --cidr 192.168.0.0/16",
    );
    let rejected = id_of(&cli.json(&format!(
        "peering create to-customer --network {aws} --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    cli.ok(&format!("sim reject {rejected}"));
    cli.poll_status("peering", &rejected, &["rejected_by_peer"]);
    let azure = id_of(
        &cli.json("network create hub --provider azure --region westeurope --cidr 10.51.0.0/16"),
    );
    let vnet = "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/customer-network-rg/providers/Microsoft.Network/virtualNetworks/customer-vnet-with-a-long-name";
    cli.ok(&format!(
        "peering create to-azure-customer --network {azure} --peer-account \
         0b1f6471-1bf0-4dda-aec3-111122223333 --peer-network {vnet} --peer-region westeurope \
         --route 172.20.0.0/24 --route 172.20.1.0/24 --route 172.20.2.0/24"
    ));
    let cluster = cli.json(&format!(
        "cluster create events --network {aws} --engine nats --topology three-node-multi-zone \
         --public-access on --public-allow 203.0.113.7=office --egress 192.168.5.0/24:443 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let cluster_id = id_of(&cluster);

    let page = Page::open(&format!("{}/", server.url), "daily");
    page.wait_for("the login form", "document.querySelector('#login-token')");
    assert!(page.text("#login-help").contains("admin-token"));
    assert!(!page.text("#login-help").contains("printed by"));
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("the project list", "location.hash === '#/projects'");
    let base = format!("#/p/{project}");

    // A rejected peering: nothing to run, and the page says why.
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("{base}/peerings/{rejected}"))
    ));
    page.wait_for(
        "the rejected peering",
        "document.querySelector('#peering-explain [data-status=rejected_by_peer]')",
    );
    page.wait_for(
        "the empty list",
        "document.querySelector('#customer-actions-none')",
    );
    assert_eq!(page.count("#customer-actions"), 0);
    assert!(!page
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .contains("accept-vpc-peering-connection"));
    assert!(page.text("#peering-explain").contains("cannot be accepted"));
    page.screenshot("01-peering-rejected");

    // The peering list, with the Azure resource id, at 1280 px and on a phone.
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("{base}/peerings"))
    ));
    page.wait_for(
        "the peering list",
        "document.querySelector('tr[data-name=to-azure-customer] button.danger')",
    );
    assert!(
        on_screen(&page, "tr button.danger"),
        "Delete cut off at 1280 px"
    );
    page.screenshot("02-peerings-1280");
    page.resize(390, 800);
    page.wait_for("the narrow layout", "window.innerWidth === 390");
    assert!(
        on_screen(&page, "tr button.danger"),
        "Delete cut off at 390 px"
    );
    page.screenshot("03-peerings-390");
    page.resize(1280, 800);

    // Addresses: private and public, labelled.
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("{base}/clusters/{cluster_id}/addresses"))
    ));
    page.wait_for(
        "the public addresses",
        "document.querySelector('#public-addresses li')",
    );
    let public = cluster["public_endpoint"]["dns_name"].as_str().unwrap();
    let private = cluster["dns_name"].as_str().unwrap();
    assert!(page
        .text("#addresses")
        .contains(&format!("tls://{private}:4222")));
    assert!(page
        .text("#public-addresses")
        .contains(&format!("tls://{public}:4222")));
    assert_eq!(
        page.count("#public-addresses li[data-scope=public]"),
        page.count("#addresses li[data-scope=private]")
    );
    page.screenshot("04-cluster-addresses");

    // Access: the egress allow-list is shown and can be emptied.
    page.click("nav.tabs a[href$='/access']");
    page.wait_for(
        "the egress form",
        "document.querySelector('#egress-allowlist')",
    );
    assert_eq!(
        page.eval("document.querySelector('#egress-allowlist').value")
            .as_str(),
        Some("192.168.5.0/24:443")
    );
    page.screenshot("05-cluster-egress");
    page.fill("#egress-allowlist", "192.168.6.0/24 backups");
    page.click("form[aria-label='Egress allow-list'] button[type=submit]");
    page.wait_for(
        "the egress save",
        "document.querySelector('#status').innerText === 'Egress allow-list saved.'",
    );
    let saved = cli.json(&format!("cluster get {cluster_id}"));
    assert_eq!(saved["egress_allowlist"][0]["cidr"], "192.168.6.0/24");
    assert_eq!(saved["egress_allowlist"][0]["ports"], serde_json::json!([]));
    assert_eq!(saved["egress_allowlist"][0]["comment"], "backups");
    assert_eq!(saved["egress_allowlist"].as_array().unwrap().len(), 1);
    assert!(page.errors().is_empty(), "{:?}", page.errors());
}

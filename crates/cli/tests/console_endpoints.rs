//! The endpoint service's console page in a real browser (headless Chromium) against the
//! real `isthmus serve` on the simulated AWS: two customer endpoints wait for acceptance,
//! one is accepted and one rejected through the page's buttons, the customer's commands
//! shrink and grow with them (and copy), and the cluster's Addresses tab shows the service
//! name and the name the accepted customer resolves. Screenshots at 1280×800 and 390 px.

mod browser;
mod support;

use browser::{js, Page};
use serde_json::Value;
use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

const PRINCIPAL: &str = "arn:aws:iam::123456789012:root";

/// Scrolls `selector` to the top of the window, so the screenshot shows it.
fn show(page: &Page, selector: &str) {
    page.eval(&format!(
        "document.querySelector({}).scrollIntoView()",
        js(selector)
    ));
}

#[test]
fn an_endpoint_service_page_accepts_and_rejects_connections() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create endpoint-console"));
    let cli = admin.in_project(&project);
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let service = cli.json(&format!(
        "endpoint-service create orders-pl --cluster {cluster} --principal {PRINCIPAL} \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let id = id_of(&service);
    let service_name = service["service_name"].as_str().unwrap().to_string();
    let dns_name = service["cluster_dns_name"].as_str().unwrap().to_string();

    let page = Page::open(&format!("{}/", server.url), "endpoints");
    page.allow_clipboard(&server.url);
    page.resize(1280, 800);
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("logged in", "!document.querySelector('#login-token')");
    let service_page = format!("#/p/{project}/endpoint-services/{id}");
    page.eval(&format!("location.hash = {}", js(&service_page)));

    // Before any customer: no connections, and the first command creates the endpoint.
    page.wait_for(
        "the empty connections and the commands",
        "document.querySelector('#endpoint-connections') && document.querySelector('#customer-actions')",
    );
    assert!(page
        .text("#endpoint-connections")
        .contains("No connections yet"));
    assert!(page
        .text("#customer-actions")
        .contains("aws ec2 create-vpc-endpoint"));
    assert!(page.text("#customer-actions").contains(&service_name));

    // Two customer endpoints (two VPCs of the allowed account) wait for acceptance.
    for vpc in ["vpc-0a1b2c3d", "vpc-0e1f2a3b"] {
        let endpoint = cli.json(&format!(
            "sim endpoint create --cloud aws --account 123456789012 --network {vpc} \
             --region us-east-1 --service {service_name}"
        ));
        assert_eq!(endpoint["state"], "pendingAcceptance", "{endpoint:#}");
    }
    page.wait_for(
        "two pending connections",
        "document.querySelectorAll(\"#endpoint-connections tr[data-status='pending_acceptance']\").length === 2",
    );
    let connections = cli.json(&format!("endpoint-service connections {id}"));
    let by_vpc = |vpc: &str| -> Value {
        connections
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["network"] == vpc)
            .unwrap_or_else(|| panic!("a connection from {vpc}: {connections:#}"))
            .clone()
    };
    let (keep, drop) = (by_vpc("vpc-0a1b2c3d"), by_vpc("vpc-0e1f2a3b"));
    let (keep_id, drop_id) = (keep["id"].as_str().unwrap(), drop["id"].as_str().unwrap());
    let keep_endpoint = keep["endpoint_id"].as_str().unwrap();
    let drop_endpoint = drop["endpoint_id"].as_str().unwrap();
    let row = page.text(&format!("#epc-{keep_id}"));
    for shown in [
        keep_endpoint,
        "123456789012",
        "vpc-0a1b2c3d",
        "AWS: pendingAcceptance",
    ] {
        assert!(row.contains(shown), "{shown:?} in the row: {row}");
    }
    assert!(row.contains("0 conn., 0 B"), "the counters: {row}");
    // Pending endpoints exist: creating one is no longer asked for.
    let todo = page.text("#customer-actions");
    assert!(!todo.contains("create-vpc-endpoint"), "{todo}");
    assert!(todo.contains("aws route53 create-hosted-zone"), "{todo}");
    show(&page, "#endpoint-connections");
    page.screenshot("01-pending-1280");

    // Accept the first through its button: available at the provider too.
    page.click(&format!("#epc-accept-{keep_id}"));
    page.wait_for(
        "the accepted connection available",
        &format!("document.querySelector(\"#epc-{keep_id}[data-status='available']\")"),
    );
    assert!(page
        .text(&format!("#epc-{keep_id} .epc-provider-state"))
        .contains("AWS: available"));
    assert_eq!(
        page.count(&format!("#epc-accept-{keep_id}")),
        0,
        "no Accept on an available connection"
    );
    assert_eq!(
        page.count(&format!("#epc-reject-{keep_id}")),
        1,
        "an available connection can still be rejected"
    );

    // Reject the second: rejected, and the customer is told to delete their endpoint.
    page.click(&format!("#epc-reject-{drop_id}"));
    page.wait_for(
        "the rejected connection",
        &format!("document.querySelector(\"#epc-{drop_id}[data-status='rejected']\")"),
    );
    assert_eq!(page.count(&format!("#epc-{drop_id} button")), 0);
    let now = cli.json(&format!("endpoint-service connections {id}"));
    let status_of = |cid: &str| {
        now.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == cid)
            .map(|c| (c["status"].clone(), c["decision"].clone()))
    };
    assert_eq!(
        status_of(keep_id),
        Some(("available".into(), "accepted".into()))
    );
    assert_eq!(
        status_of(drop_id),
        Some(("rejected".into(), "rejected".into()))
    );
    page.wait_for(
        "the delete command for the rejected endpoint",
        &format!(
            "document.querySelector('#customer-actions').innerText.includes({})",
            js(&format!(
                "aws ec2 delete-vpc-endpoints --vpc-endpoint-ids {drop_endpoint}"
            ))
        ),
    );

    // The commands copy as shown.
    let last = page.count("#customer-actions li");
    page.click(&format!(
        "#customer-actions li:nth-child({last}) button.copy"
    ));
    page.wait_for(
        "the copy confirmation",
        "document.querySelector('#status').innerText.startsWith('Copied')",
    );
    let copied = page.eval("navigator.clipboard.readText()");
    assert!(
        copied.as_str().unwrap().contains(drop_endpoint),
        "the copy button copies the command: {copied}"
    );
    show(&page, "#endpoint-connections");
    page.screenshot("02-decided-1280");

    // The cluster's Addresses tab: the service name, and the name the accepted
    // customer resolves to their endpoint; nothing for the rejected one.
    let addresses = format!("#/p/{project}/clusters/{cluster}/addresses");
    page.eval(&format!("location.hash = {}", js(&addresses)));
    page.wait_for(
        "the private-endpoint addresses",
        "document.querySelector('#endpoint-addresses li') && document.querySelector('#addresses li')",
    );
    let listed = page.text("#endpoint-addresses");
    assert!(listed.contains(&service_name), "{listed}");
    assert!(listed.contains("private endpoint service name"), "{listed}");
    let resolved = format!(
        "#endpoint-addresses li[data-endpoint={}]",
        js(keep_endpoint)
    );
    let item = page.text(&resolved);
    assert!(item.contains(&dns_name), "{item}");
    assert!(item.contains("private endpoint: resolves to"), "{item}");
    assert!(item.contains("vpc-0a1b2c3d"), "{item}");
    assert_eq!(
        page.count(&format!(
            "#endpoint-addresses li[data-endpoint={}]",
            js(drop_endpoint)
        )),
        0,
        "a rejected endpoint resolves nothing"
    );
    show(&page, "#cluster-endpoint-addresses");
    page.screenshot("03-addresses-1280");

    // A phone's width: the same pages, readable.
    page.resize(390, 800);
    page.wait_for("the narrow layout", "window.innerWidth === 390");
    show(&page, "#cluster-endpoint-addresses");
    page.screenshot("04-addresses-390");
    page.eval(&format!("location.hash = {}", js(&service_page)));
    page.wait_for(
        "the service page again",
        &format!("document.querySelector('#epc-reject-{keep_id}')"),
    );
    show(&page, "#endpoint-connections");
    page.screenshot("05-service-390");
    show(&page, "#customer-actions");
    page.screenshot("06-commands-390");
    assert!(page.errors().is_empty(), "{:?}", page.errors());
}

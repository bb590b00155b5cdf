//! Detail pages (issue 17, item 13): a network's page lists its peerings and clusters;
//! Delete takes the same two steps as on the list (Delete, then Confirm delete, or
//! Cancel); an accepted delete goes back to the list, a refused one says why on the page.
//! Screenshots: target/console-screenshots/detail-*.png.

mod browser;
mod support;

use browser::{js, Page};
use support::{id_of, Sandbox, Server};

#[test]
fn a_detail_page_deletes_after_confirmation_or_says_why_not() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create detailed"));
    let cli = admin.in_project(&project);
    let spare = id_of(
        &cli.json("network create spare --provider aws --region us-east-1 --cidr 10.1.0.0/16"),
    );
    let busy = id_of(
        &cli.json("network create busy --provider aws --region us-east-1 --cidr 10.2.0.0/16"),
    );
    cli.ok("cluster create db --network busy --engine probe --topology single-node");

    let page = Page::open(&format!("{}/", server.url), "detail");
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("the project list", "location.hash === '#/projects'");
    let base = format!("#/p/{project}/networks");

    // A network with a cluster: refused, and the page says why.
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("{base}/{busy}"))
    ));
    page.wait_for(
        "the busy network",
        "document.querySelector('#network-actions button.danger')",
    );
    // The network's page lists what lives in it.
    page.wait_for(
        "the network's clusters",
        "document.querySelector('#network-clusters tr[data-name=db]')",
    );
    assert!(page
        .text("#network-peerings")
        .contains("No peerings in this network"));
    page.click("#network-actions button.danger");
    page.wait_for(
        "the confirmation",
        "document.querySelector('#network-actions button.confirm')",
    );
    page.screenshot("1280-confirm");
    page.click("#network-actions button.confirm");
    page.wait_for(
        "the refusal",
        "document.querySelector('#page-alert').textContent.includes('Cannot delete')",
    );
    assert!(
        page.text("#page-alert").contains("db"),
        "{}",
        page.text("#page-alert")
    );
    assert!(page
        .eval("location.hash")
        .as_str()
        .unwrap()
        .ends_with(&busy));

    // Cancel leaves it be; Confirm deletes and goes back to the list.
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("{base}/{spare}"))
    ));
    page.wait_for("the spare network", "document.querySelector('#network-details') && document.querySelector('h1').textContent.includes('spare')");
    page.resize(390, 800);
    page.click("#network-actions button.danger");
    page.wait_for(
        "the confirmation",
        "document.querySelector('#network-actions button.confirm')",
    );
    page.screenshot("390-confirm");
    page.click("#network-actions button:not(.danger)");
    page.wait_for(
        "the cancel",
        "document.querySelector('#network-actions button.danger:not(.confirm)')",
    );
    let kept = cli.json("network get spare")["status"].clone();
    assert!(
        kept != "deleting" && kept != "deleted",
        "Cancel deletes nothing: {kept}"
    );
    page.click("#network-actions button.danger");
    page.wait_for(
        "the confirmation",
        "document.querySelector('#network-actions button.confirm')",
    );
    page.click("#network-actions button.confirm");
    page.wait_for("the list", &format!("location.hash === {}", js(&base)));
    let status = cli.json(&format!("network get {spare}"))["status"].clone();
    assert!(status == "deleting" || status == "deleted", "{status}");

    // The peering form's transit routes sit right after the gateway-transit checkbox.
    page.resize(1280, 800);
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("#/p/{project}/peerings"))
    ));
    // Create opens the form in a dialog.
    page.click("#peering-create-open");
    page.wait_for(
        "the peering form",
        "document.querySelector('#peering-transit-routes')",
    );
    let beside = page.eval(
        "document.querySelector('#peering-transit').closest('.field').nextElementSibling \
         .contains(document.querySelector('#peering-transit-routes'))",
    );
    assert_eq!(beside, serde_json::json!(true));
    assert!(page.errors().is_empty(), "{:?}", page.errors());
}

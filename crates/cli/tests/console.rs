//! The web console in a real browser (Debian's Chromium, headless) against the real
//! `isthmus serve`: what a user does in it, from logging in to deleting everything, and
//! what a viewer may not do. Screenshots of each page land in target/console-screenshots/
//! (the paths are printed; run with `--nocapture` to see them).

mod browser;
mod support;

use browser::{js, Page};
use support::{id_of, Sandbox, Server};

/// The JavaScript condition "the row named `name` in `table` shows `status`".
fn row_status(table: &str, name: &str, status: &str) -> String {
    format!(
        "document.querySelector('#{table} tr[data-name={}] [data-status={}]')",
        js(name),
        js(status)
    )
}

fn row_gone(table: &str, name: &str) -> String {
    format!(
        "document.querySelector('#{table}') && !document.querySelector('#{table} tr[data-name={}]')",
        js(name)
    )
}

fn go(page: &Page, nav_page: &str) {
    page.click(&format!("#nav a[href$='/{nav_page}']"));
}

#[test]
fn a_user_runs_networks_peerings_and_clusters_from_the_console() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let page = Page::open(&format!("{}/", server.url), "user");
    // Set once; still there at the end, so nothing below reloaded the page.
    page.eval("window.__sameDocument = true");
    page.allow_clipboard(&server.url);

    // Log in with the token `isthmus serve` wrote.
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.screenshot("01-login");
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for(
        "the project picker",
        "document.querySelector('#project-create-open')",
    );

    // A new installation has no project yet: make one here (New project opens a dialog).
    page.click("#project-create-open");
    page.fill("#project-name", "console-demo");
    page.screenshot("02-projects");
    page.click("form[aria-label='New project'] button[type=submit]");
    page.wait_for(
        "the networks page",
        "document.querySelector('#network-create-open')",
    );
    // Create opens the form in a dialog.
    page.click("#network-create-open");
    page.wait_for(
        "the create dialog",
        "document.querySelector('#network-cidr')",
    );
    let project = page.eval("location.hash.split('/')[2]");
    let project = project.as_str().expect("project id in the URL").to_string();
    let cli = admin.in_project(&project);
    assert_eq!(page.text("#role"), "admin");
    page.assert_every_field_labelled();

    // A CIDR with host bits set: the API's error shows next to the CIDR field.
    page.fill("#network-name", "prod");
    page.fill("#network-cidr", "10.20.0.1/16");
    page.click("form[aria-label='Create network'] button[type=submit]");
    page.wait_for(
        "the CIDR error by its field",
        "document.querySelector('#network-cidr-error').innerText.length > 0",
    );
    assert!(
        page.text("#network-cidr-error").contains("10.20.0.0/16"),
        "the error suggests the network address: {}",
        page.text("#network-cidr-error")
    );
    assert_eq!(
        page.eval("document.querySelector('#network-cidr').getAttribute('aria-invalid')"),
        "true"
    );
    page.screenshot("03-network-invalid-cidr");

    // The valid CIDR: the row appears and turns active with no reload.
    page.fill("#network-cidr", "10.20.0.0/16");
    page.click("form[aria-label='Create network'] button[type=submit]");
    page.wait_for(
        "network prod active",
        &row_status("networks-table", "prod", "active"),
    );
    // The dialog closed with the create.
    assert_eq!(page.count("#network-create"), 0);
    page.screenshot("04-networks");

    // The customer's VPC in the simulated AWS, then a peering to it from the console.
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
         --region us-east-1 --cidr 192.168.0.0/16",
    );
    go(&page, "peerings");
    page.click("#peering-create-open");
    page.wait_for(
        "the peering form",
        "document.querySelector('#peering-name')",
    );
    page.assert_every_field_labelled();
    page.fill("#peering-name", "to-customer");
    page.fill("#peering-account", "111122223333");
    page.fill("#peering-peer-network", "vpc-0c0ffee0");
    page.fill("#peering-routes", "192.168.0.0/16");
    page.click("form[aria-label='Create peering'] button[type=submit]");
    page.wait_for(
        "the peering waiting for the customer",
        "document.querySelector('#peering-explain [data-status=pending_acceptance]')",
    );
    page.wait_for(
        "the customer's commands",
        "document.querySelector('#customer-actions')",
    );
    assert!(page
        .text("#customer-actions")
        .contains("aws ec2 accept-vpc-peering-connection"));
    assert!(page
        .text("#peering-explain")
        .contains("Your action is needed"));
    assert_eq!(page.text("#local-address"), "10.20.0.0/16");
    assert_eq!(page.text("#remote-address"), "192.168.0.0/16");
    page.screenshot("05-peering-pending-acceptance");
    page.click("#customer-actions li:first-child button.copy");
    page.wait_for(
        "the copy confirmation",
        "document.querySelector('#status').innerText.startsWith('Copied command 1')",
    );
    assert_eq!(
        page.eval("navigator.clipboard.readText()").as_str(),
        Some(page.text("#customer-actions li:first-child code").as_str()),
        "the copy button copies the accept command"
    );

    // The customer accepts on their side; the page follows by itself.
    let peering = page.eval("decodeURIComponent(location.hash.split('/')[4])");
    cli.ok(&format!(
        "sim accept {}",
        peering.as_str().expect("peering id")
    ));
    page.wait_for(
        "the peering active",
        "document.querySelector('#peering-explain [data-status=active]')",
    );
    page.screenshot("06-peering-active");

    // Routes are edited in place.
    page.click("#peering-edit-routes");
    page.fill("#peering-routes-edit", "192.168.0.0/17 192.168.128.0/17");
    page.click("form[aria-label='Edit routes'] button[type=submit]");
    page.wait_for(
        "the new routes",
        "document.querySelector('#remote-address').innerText === '192.168.0.0/17, 192.168.128.0/17'",
    );
    page.click("#peering-refresh");
    page.wait_for(
        "the updated peering active",
        "document.querySelector('#peering-explain [data-status=active]')",
    );

    // A cluster: created, running, its nodes and its addresses.
    go(&page, "clusters");
    page.click("#cluster-create-open");
    page.wait_for(
        "the cluster form",
        "document.querySelector('#cluster-name')",
    );
    page.assert_every_field_labelled();
    page.fill("#cluster-name", "orders");
    page.eval("document.querySelector('#cluster-topology').value = 'three-node-multi-zone'");
    page.click("form[aria-label='Create cluster'] button[type=submit]");
    page.wait_for(
        "cluster orders running",
        &row_status("clusters-table", "orders", "running"),
    );
    page.screenshot("07-clusters");
    page.click("#clusters-table tr[data-name=orders] a");
    page.wait_for(
        "the nodes",
        "document.querySelectorAll('#nodes tbody tr').length === 3",
    );
    assert!(
        page.text("#nodes").contains("10.20."),
        "{}",
        page.text("#nodes")
    );
    page.screenshot("08-cluster-nodes");

    page.click("nav.tabs a[href$='/addresses']");
    page.wait_for("the addresses", "document.querySelector('#addresses li')");
    let cluster = cli.json("cluster list")[0].clone();
    let first = cluster["addresses"][0]["uri"]
        .as_str()
        .expect("an address")
        .to_string();
    assert!(page.text("#addresses").contains(&first));
    page.click("#addresses li:first-child button.copy");
    page.wait_for(
        "the copy confirmation",
        "document.querySelector('#status').innerText.startsWith('Copied')",
    );
    page.wait_for(
        "the CA download link",
        "document.querySelector('#ca-download').href.startsWith('blob:')",
    );
    assert_eq!(
        page.eval("navigator.clipboard.readText()"),
        first.as_str(),
        "the copy button copies the address"
    );
    page.screenshot("09-cluster-addresses");

    // Public access with an allow-list, edited on its own tab.
    page.click("nav.tabs a[href$='/access']");
    page.wait_for(
        "the public access form",
        "document.querySelector('#public-allowlist')",
    );
    page.assert_every_field_labelled();
    page.click("#public-enabled");
    page.fill("#public-allowlist", "203.0.113.0/24 office");
    page.click("form[aria-label='Public access'] button[type=submit]");
    page.wait_for(
        "the save confirmation",
        "document.querySelector('#status').innerText === 'Public access saved.'",
    );
    let access = cli.json(&format!("cluster get {}", id_of(&cluster)))["public_access"].clone();
    assert_eq!(access["enabled"], true);
    assert_eq!(access["allowlist"][0]["cidr"], "203.0.113.0/24");
    assert_eq!(access["allowlist"][0]["comment"], "office");
    page.screenshot("10-cluster-public-access");

    // The private allow-list is a list of its own: a bad entry is named under its field,
    // a good one narrows peered sources without touching the public list.
    page.wait_for(
        "the endpoint line after the save",
        "document.querySelector('#private-allowlist') && document.body.innerText.includes('Public endpoint: public-')",
    );
    page.fill(
        "#private-allowlist",
        "192.168.1.10/32 app\n192.168.1.300/32",
    );
    page.click("form[aria-label='Private allow-list'] button[type=submit]");
    page.wait_for(
        "the error under the private allow-list",
        "document.querySelector('#private-allowlist-error').innerText.includes('192.168.1.300/32')",
    );
    page.fill("#private-allowlist", "192.168.1.10/32 app");
    page.click("form[aria-label='Private allow-list'] button[type=submit]");
    page.wait_for(
        "the private save confirmation",
        "document.querySelector('#status').innerText === 'Private allow-list saved.'",
    );
    let saved = cli.json(&format!("cluster get {}", id_of(&cluster)));
    assert_eq!(saved["private_allowlist"][0]["cidr"], "192.168.1.10/32");
    assert_eq!(saved["private_allowlist"][0]["comment"], "app");
    assert_eq!(
        saved["public_access"]["allowlist"][0]["cidr"],
        "203.0.113.0/24"
    );

    // Reachability: the customer's address over the peering gets in; another does not,
    // and the analyzer says what would fix it.
    go(&page, "reachability");
    page.wait_for(
        "the reachability form",
        "document.querySelector('#reach-from')",
    );
    page.assert_every_field_labelled();
    page.fill("#reach-from", "192.168.1.10");
    page.click("form[aria-label='Check reachability'] button[type=submit]");
    page.wait_for("the verdict", "document.querySelector('#reach-verdict')");
    assert_eq!(
        page.text("#reach-verdict"),
        "allowed",
        "{}",
        page.text("#reach-result")
    );
    assert_eq!(
        page.count("#reach-result .verdict"),
        3,
        "one verdict per node"
    );
    assert!(page
        .text("#reach-result")
        .contains("Over peering to-customer"));
    page.screenshot("11-reachability-allowed");
    page.fill("#reach-from", "172.16.0.5");
    page.click("form[aria-label='Check reachability'] button[type=submit]");
    page.wait_for(
        "the denial",
        "document.querySelector('#reach-verdict').innerText === 'denied'",
    );
    assert!(
        page.text("#reach-result").contains("Fix:"),
        "{}",
        page.text("#reach-result")
    );
    page.screenshot("12-reachability-denied");

    // The audit log has what was done, by whom; reached with the keyboard alone.
    page.eval("document.querySelector(\"#nav a[href$='/audit']\").focus()");
    page.press("Enter");
    page.wait_for(
        "the audit log",
        "document.querySelector('#audit-table tbody tr')",
    );
    for action in ["network.create", "peering.create", "cluster.create"] {
        assert!(
            page.text("#audit-table").contains(action),
            "no {action} in the audit log"
        );
    }
    page.screenshot("13-audit-log");

    // A network with a cluster inside cannot go: the API's 409 reason is shown.
    go(&page, "networks");
    page.wait_for(
        "the networks",
        &row_status("networks-table", "prod", "active"),
    );
    page.click("#networks-table tr[data-name=prod] button.danger");
    page.click("#networks-table tr[data-name=prod] button.confirm");
    page.wait_for(
        "the 409 reason",
        "document.querySelector('#page-alert').innerText.includes('Cannot delete network prod')",
    );
    assert!(
        page.text("#page-alert").contains("orders") || page.text("#page-alert").contains("cluster")
    );
    page.screenshot("14-network-delete-refused");

    // Narrow screens get the same page, without the optional columns.
    page.resize(390, 800);
    page.screenshot("15-narrow-networks");
    page.resize(1280, 800);

    // Delete everything, innermost first; each row goes away by itself.
    go(&page, "clusters");
    page.click("#clusters-table tr[data-name=orders] button.danger");
    page.click("#clusters-table tr[data-name=orders] button.confirm");
    page.wait_for("the cluster gone", &row_gone("clusters-table", "orders"));
    go(&page, "peerings");
    page.click("#peerings-table tr[data-name=to-customer] button.danger");
    page.click("#peerings-table tr[data-name=to-customer] button.confirm");
    page.wait_for(
        "the peering gone",
        &row_gone("peerings-table", "to-customer"),
    );
    go(&page, "networks");
    page.click("#networks-table tr[data-name=prod] button.danger");
    page.click("#networks-table tr[data-name=prod] button.confirm");
    page.wait_for("the network gone", &row_gone("networks-table", "prod"));
    assert_eq!(cli.json("network list"), serde_json::json!([]));

    assert_eq!(page.eval("window.__sameDocument === true"), true);
    assert_eq!(
        page.errors(),
        Vec::<String>::new(),
        "the page logged errors"
    );
}

#[test]
fn a_viewer_sees_no_create_or_delete_controls_and_the_api_still_refuses() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create shared"));
    let cli = admin.in_project(&project);
    cli.ok("network create prod --provider aws --region us-east-1 --cidr 10.30.0.0/16");
    let viewer = cli.json("token create dashboards --role viewer")["secret"]
        .as_str()
        .expect("the viewer's secret")
        .to_string();

    let page = Page::open(&format!("{}/", server.url), "viewer");
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &viewer);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("the project list", "document.querySelector('main table a')");
    page.click("main table a");
    page.wait_for(
        "the network row",
        "document.querySelector('#networks-table tr[data-name=prod]')",
    );
    assert_eq!(page.text("#role"), "viewer");
    page.screenshot("networks");

    for nav_page in ["networks", "peerings", "clusters"] {
        go(&page, nav_page);
        page.wait_for("the view-only note", "document.querySelector('#view-only')");
        assert_eq!(page.count("main form"), 0, "a create form on {nav_page}");
        assert_eq!(
            page.count("main [id$=-create-open]"),
            0,
            "a Create button on {nav_page}"
        );
        assert_eq!(
            page.count("main button.danger"),
            0,
            "a delete button on {nav_page}"
        );
    }

    // Hiding is a courtesy: a request forged in the page is still refused.
    let status = page.eval(&format!(
        "fetch('/v1/projects/{project}/networks', {{method: 'POST', headers: {{
            'Authorization': 'Bearer ' + sessionStorage.getItem('isthmus.token'),
            'Content-Type': 'application/json'}},
          body: JSON.stringify({{name: 'forged', provider: 'aws', region: 'us-east-1', cidr_block: '10.31.0.0/16'}})
        }}).then(r => r.status)"
    ));
    assert_eq!(status, 403);
    assert_eq!(
        page.errors(),
        Vec::<String>::new(),
        "the page logged errors"
    );
}

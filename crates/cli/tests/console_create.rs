//! The console's create dialogs, catalog choices, egress page and narrow tables (issue
//! 17, item 13 and defect 8): Create is a button that opens the form in a dialog; the
//! provider, region, engine and topology are choices from the catalog the API checks
//! (regions follow the provider, topologies the engine); the egress page lists every
//! cluster's rules and adds and removes them; at 390 px no table cell breaks a word in
//! two. Screenshots: target/console-screenshots/create-*.png at 1280×800 and 390 px.

mod browser;
mod support;

use browser::{js, Page};
use serde_json::Value;
use support::{Sandbox, Server, WAIT_TIMEOUT};

/// The words (split at spaces and hyphens) in the main tables' cells, outside code, that
/// the browser laid out on more than one line: a word broken in two.
const BROKEN_WORDS: &str = r#"(() => {
  const bad = [];
  for (const td of document.querySelectorAll('main td')) {
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.parentElement.closest('code')) continue;
      for (const m of n.data.matchAll(/[^\s-]+/g)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
        if (tops.size > 1) bad.push(m[0]);
      }
    }
  }
  return bad;
})()"#;

/// The right edge of every `selector` is inside the viewport.
fn on_screen(page: &Page, selector: &str) -> bool {
    page.eval(&format!(
        "[...document.querySelectorAll({})].every((e) => e.getBoundingClientRect().right <= document.documentElement.clientWidth)",
        js(selector)
    ))
    .as_bool()
    .unwrap()
}

fn options(page: &Page, select: &str) -> Vec<String> {
    let v = page.eval(&format!(
        "[...document.querySelector({}).options].map((o) => o.value)",
        js(select)
    ));
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect()
}

fn choose(page: &Page, select: &str, value: &str) {
    page.eval(&format!(
        "(() => {{ const s = document.querySelector({}); s.value = {}; s.dispatchEvent(new Event('change')); return s.value; }})()",
        js(select),
        js(value)
    ));
}

fn go(page: &Page, hash: &str) {
    page.eval(&format!("location.hash = {}", js(hash)));
}

#[test]
fn create_dialogs_catalog_choices_the_egress_page_and_whole_words_at_390_px() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());

    let page = Page::open(&format!("{}/", server.url), "create");
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for(
        "the project picker",
        "document.querySelector('#project-create-open')",
    );
    // No form until New project is pressed; then one, in a modal dialog.
    assert_eq!(page.count("main form"), 0);
    page.click("#project-create-open");
    page.wait_for(
        "the dialog",
        "document.querySelector('dialog[open] #project-name')",
    );
    page.fill("#project-name", "dialogs");
    page.click("form[aria-label='New project'] button[type=submit]");
    page.wait_for(
        "the networks page",
        "document.querySelector('#network-create-open')",
    );
    let project = page.eval("location.hash.split('/')[2]");
    let project = project.as_str().unwrap().to_string();
    let cli = admin.in_project(&project);
    assert_eq!(page.count("main form"), 0, "no form before Create");

    // The network dialog: providers and regions from the catalog.
    page.click("#network-create-open");
    page.wait_for(
        "the dialog",
        "document.querySelector('dialog[open] #network-region')",
    );
    page.assert_every_field_labelled();
    assert_eq!(
        options(&page, "#network-provider"),
        ["aws", "gcp", "azure", "local"]
    );
    let aws = options(&page, "#network-region");
    assert!(aws.contains(&"us-east-1".to_string()), "{aws:?}");
    assert_eq!(
        page.eval("document.querySelector('#network-region').value"),
        "us-east-1"
    );
    page.screenshot("01-network-dialog-1280");
    choose(&page, "#network-provider", "gcp");
    let gcp = options(&page, "#network-region");
    assert!(gcp.contains(&"europe-west1".to_string()), "{gcp:?}");
    assert!(!gcp.contains(&"us-east-1".to_string()), "{gcp:?}");
    choose(&page, "#network-provider", "local");
    assert_eq!(options(&page, "#network-region"), ["host"]);
    // Cancel closes it, and nothing was made.
    page.click("dialog[open] button[type=button]:last-child");
    page.wait_for("the dialog closed", "!document.querySelector('dialog')");
    assert!(cli.json("network list").as_array().unwrap().is_empty());

    page.click("#network-create-open");
    page.wait_for(
        "the dialog",
        "document.querySelector('dialog[open] #network-name')",
    );
    page.fill("#network-name", "prod");
    choose(&page, "#network-region", "eu-west-1");
    page.fill("#network-cidr", "10.50.0.0/16");
    page.click("form[aria-label='Create network'] button[type=submit]");
    page.wait_for(
        "network prod listed",
        "document.querySelector('#networks-table tr[data-name=prod]')",
    );
    page.wait_for("the dialog closed", "!document.querySelector('dialog')");
    let net = cli.json("network get prod");
    assert_eq!(net["region"], "eu-west-1", "{net:#}");
    cli.ok(&format!("network wait prod --timeout {WAIT_TIMEOUT}"));

    // The cluster dialog: engines from the catalog, topologies following the engine.
    go(&page, &format!("#/p/{project}/clusters"));
    page.click("#cluster-create-open");
    page.wait_for(
        "the dialog",
        "document.querySelector('dialog[open] #cluster-topology')",
    );
    assert_eq!(
        options(&page, "#cluster-engine"),
        ["probe", "nats", "postgresql"]
    );
    assert_eq!(
        options(&page, "#cluster-topology"),
        ["single-node", "three-node-multi-zone"]
    );
    choose(&page, "#cluster-engine", "postgresql");
    assert_eq!(options(&page, "#cluster-topology"), ["single-node"]);
    choose(&page, "#cluster-engine", "probe");
    page.fill("#cluster-name", "orders");
    page.click("form[aria-label='Create cluster'] button[type=submit]");
    page.wait_for(
        "cluster orders listed",
        "document.querySelector('#clusters-table tr[data-name=orders]')",
    );
    cli.ok(&format!("cluster wait orders --timeout {WAIT_TIMEOUT}"));

    // The peering dialog: the peer region is one of the chosen network's provider.
    go(&page, &format!("#/p/{project}/peerings"));
    page.click("#peering-create-open");
    page.wait_for(
        "the dialog",
        "document.querySelector('dialog[open] #peering-region')",
    );
    let peer_regions = options(&page, "#peering-region");
    assert_eq!(
        peer_regions, aws,
        "the regions of AWS, the network's provider"
    );

    // The egress page: a rule from the CLI, one added in the dialog, one removed.
    cli.ok("cluster update orders --add-egress 172.16.0.0/16:443,8443");
    go(&page, &format!("#/p/{project}/egress"));
    page.wait_for(
        "the egress rule",
        "document.querySelector('#egress-table tr[data-cidr=\"172.16.0.0/16\"]')",
    );
    assert!(page.text("#nav").contains("Egress"));
    assert!(page
        .text("#egress-table tr[data-cidr='172.16.0.0/16']")
        .contains("443, 8443"));
    page.click("#egress-create-open");
    page.wait_for(
        "the dialog",
        "document.querySelector('dialog[open] #egress-cidr')",
    );
    page.assert_every_field_labelled();
    page.fill("#egress-cidr", "172.17.0.0/24");
    page.fill("#egress-ports", "5432");
    page.fill("#egress-comment", "reporting");
    page.screenshot("02-egress-dialog-1280");
    page.click("form[aria-label='Add egress rule'] button[type=submit]");
    page.wait_for(
        "the added rule",
        "document.querySelector('#egress-table tr[data-cidr=\"172.17.0.0/24\"]')",
    );
    let rules = |cli: &support::Cli| -> Vec<String> {
        let c: Value = cli.json("cluster get orders");
        c["egress_allowlist"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}:{}", r["cidr"].as_str().unwrap(), r["ports"]))
            .collect()
    };
    assert_eq!(
        rules(&cli),
        ["172.16.0.0/16:[443,8443]", "172.17.0.0/24:[5432]"]
    );
    page.screenshot("03-egress-1280");
    page.click("#egress-table tr[data-cidr='172.16.0.0/16'] button.danger");
    page.click("#egress-table tr[data-cidr='172.16.0.0/16'] button.confirm");
    page.wait_for(
        "the removed rule gone",
        "!document.querySelector('#egress-table tr[data-cidr=\"172.16.0.0/16\"]')",
    );
    assert_eq!(rules(&cli), ["172.17.0.0/24:[5432]"]);

    // A peering waiting on the customer (the longest status word), then every list at
    // 390 px: whole words, and the last column on screen.
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
         --region eu-west-1 --cidr 192.168.0.0/16",
    );
    cli.ok(&format!(
        "peering create to-customer-analytics --network prod --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region eu-west-1 --route 192.168.0.0/24 \
         --route 192.168.1.0/24 --wait --timeout {WAIT_TIMEOUT}"
    ));
    page.resize(390, 800);
    page.wait_for("the narrow layout", "window.innerWidth === 390");
    for (list, row) in [
        ("networks", "#networks-table tr[data-name=prod]"),
        (
            "peerings",
            "#peerings-table tr[data-name=to-customer-analytics]",
        ),
        ("clusters", "#clusters-table tr[data-name=orders]"),
        ("egress", "#egress-table tr[data-cidr='172.17.0.0/24']"),
    ] {
        go(&page, &format!("#/p/{project}/{list}"));
        page.wait_for(
            list,
            &format!(
                "document.querySelector({})",
                js(&format!("{row} button.danger"))
            ),
        );
        let broken = page.eval(BROKEN_WORDS);
        assert_eq!(
            broken,
            Value::Array(vec![]),
            "words broken on {list} at 390 px"
        );
        assert!(
            on_screen(&page, "main tr button.danger"),
            "{list}: Delete cut off"
        );
        let overflow = page.eval(
            "[...document.querySelectorAll('main .table-wrap')].some((w) => w.scrollWidth > w.clientWidth)",
        );
        assert_eq!(
            overflow, false,
            "{list}: the table scrolls sideways at 390 px"
        );
        page.screenshot(&format!("04-{list}-390"));
    }
    page.click("#egress-create-open");
    page.wait_for(
        "the dialog",
        "document.querySelector('dialog[open] #egress-cidr')",
    );
    assert!(
        on_screen(&page, "dialog[open] button"),
        "dialog cut off at 390 px"
    );
    page.screenshot("05-egress-dialog-390");
    assert!(page.errors().is_empty(), "{:?}", page.errors());
}

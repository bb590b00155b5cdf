//! The console's audit log (issue 17, item 13): newest first, actors by their token's
//! name, filters by kind and actor and a search by name, readable at 1280×800 and 390 px
//! wide. Screenshots land in target/console-screenshots/audit-*.png.

mod browser;
mod support;

use browser::{js, Page};
use support::{id_of, Sandbox, Server};

/// Picks `value` in the select `selector`, as a person choosing it would.
fn choose(page: &Page, selector: &str, value: &str) {
    page.eval(&format!(
        "(() => {{ const s = document.querySelector({}); s.value = {}; \
         s.dispatchEvent(new Event('change')); return s.value; }})()",
        js(selector),
        js(value)
    ));
}

#[test]
fn the_audit_log_is_newest_first_names_actors_and_filters() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create audited"));
    let admin = admin.in_project(&project);
    let secret = admin.json("token create alice --role operator")["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let alice = admin.with_token(&secret);
    alice.ok("network create web --provider aws --region us-east-1 --cidr 10.1.0.0/16");
    admin.ok("network create db --provider aws --region us-east-1 --cidr 10.2.0.0/16");

    let page = Page::open(&format!("{}/", server.url), "audit");
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("the project list", "location.hash === '#/projects'");
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("#/p/{project}/audit"))
    ));
    page.wait_for(
        "the audit rows",
        "document.querySelectorAll('#audit-table tbody tr[data-seq]').length > 2",
    );

    // Newest first.
    let seqs: Vec<i64> = page
        .eval("[...document.querySelectorAll('#audit-table tbody tr')].map((r) => Number(r.dataset.seq))")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seqs, sorted, "newest first");
    let first = page.text("#audit-table tbody tr:first-child");
    // The last network made (or the controller's work on it) is on top.
    assert!(first.contains("db"), "{first}");
    assert!(
        !page.text("#audit-table").contains("token:"),
        "every actor by name: {}",
        page.text("#audit-table")
    );
    page.screenshot("1280");

    // Alice's change, by her name, alone.
    choose(&page, "#audit-actor", "alice");
    let rows = page.count("#audit-table tbody tr[data-seq]");
    assert_eq!(rows, 1, "{}", page.text("#audit-table"));
    let row = page.text("#audit-table tbody tr");
    assert!(row.contains("alice") && row.contains("web"), "{row}");
    assert!(!page.text("#audit-table").contains("token:"));

    // Every actor, tokens only, then a search by name.
    choose(&page, "#audit-actor", "");
    choose(&page, "#audit-kind", "token");
    assert!(!page.text("#audit-table").contains("network.create"));
    choose(&page, "#audit-kind", "");
    page.fill("#audit-search", "web");
    page.wait_for(
        "the search",
        "(() => { const rows = [...document.querySelectorAll('#audit-table tbody tr[data-seq]')]; \
         return rows.length >= 1 && rows.every((r) => r.textContent.includes('web')); })()",
    );
    page.assert_every_field_labelled();

    // Narrow: the filters stack and the table stays inside the screen.
    page.resize(390, 800);
    page.wait_for(
        "the narrow layout",
        "document.documentElement.clientWidth <= 390",
    );
    let fits = page.eval(
        "document.querySelector('#audit-search').getBoundingClientRect().right <= document.documentElement.clientWidth",
    );
    assert_eq!(fits, serde_json::json!(true));
    page.screenshot("390");
    assert!(page.errors().is_empty(), "{:?}", page.errors());
}

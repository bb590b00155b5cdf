//! The console's tokens page (issue 17, item 13), for a project's admin: the tokens with
//! their roles, a create form that shows the new secret once (and the secret works), and
//! revoke in two steps (the revoked secret is refused). Screenshots:
//! target/console-screenshots/tokens-*.png at 1280×800 and 390 px.

mod browser;
mod support;

use browser::{js, Page};
use support::{id_of, Sandbox, Server};

#[test]
fn an_admin_lists_creates_and_revokes_tokens_in_the_console() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create tokened"));
    let admin = admin.in_project(&project);
    admin.ok("token create dashboards --role viewer");

    let page = Page::open(&format!("{}/", server.url), "tokens");
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &server.admin_token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("the project list", "location.hash === '#/projects'");
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("#/p/{project}/tokens"))
    ));
    page.wait_for(
        "the tokens",
        "document.querySelector('#tokens-table tr[data-name=dashboards]')",
    );
    assert!(page.text("#nav").contains("Tokens"));
    assert!(page
        .text("#tokens-table tr[data-name=dashboards]")
        .contains("viewer"));

    // Create opens its form in a dialog.
    page.click("#token-create-open");
    page.wait_for("the create dialog", "document.querySelector('#token-name')");
    page.fill("#token-name", "ci");
    page.eval("(() => { const s = document.querySelector('#token-role'); s.value = 'operator'; return s.value; })()");
    page.click("form[aria-label='Create token'] button[type=submit]");
    page.wait_for("the secret", "document.querySelector('#token-secret code')");
    let secret = page.text("#token-secret code");
    assert!(secret.starts_with("isth_"), "{secret}");
    page.wait_for(
        "the new token",
        "document.querySelector('#tokens-table tr[data-name=ci]')",
    );
    assert!(page
        .text("#tokens-table tr[data-name=ci]")
        .contains("operator"));
    page.assert_every_field_labelled();
    page.screenshot("1280");
    let ci = admin.with_token(&secret);
    ci.ok("network create from-ci --provider aws --region us-east-1 --cidr 10.1.0.0/16");

    page.resize(390, 800);
    // Clear of the status bar fixed at the bottom of a narrow screen.
    page.eval(
        "(() => { document.querySelector('#tokens-table tr[data-name=ci]').scrollIntoView({ block: 'center' }); return true; })()",
    );
    page.click("#tokens-table tr[data-name=ci] button.danger");
    page.wait_for(
        "the confirmation",
        "document.querySelector('#tokens-table tr[data-name=ci] button.confirm')",
    );
    page.screenshot("390-confirm");
    page.eval(
        "(() => { document.querySelector('#tokens-table tr[data-name=ci]').scrollIntoView({ block: 'center' }); return true; })()",
    );
    page.click("#tokens-table tr[data-name=ci] button.confirm");
    page.wait_for(
        "the revoked token gone",
        "!document.querySelector('#tokens-table tr[data-name=ci] button.danger')",
    );
    let refused = ci.run("network list");
    assert_eq!(
        refused.code,
        Some(1),
        "a revoked token is refused: {}",
        refused.stdout
    );
    assert!(page.errors().is_empty(), "{:?}", page.errors());
}

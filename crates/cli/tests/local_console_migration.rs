//! The migration page in Chromium against the real server on the `local` provider: a lab
//! source copied into a managed cluster while a steady writer appends; the page draws lag
//! and rate over time, the per-stream counters, and a cut-over button that asks for a
//! confirmation (Cancel changes nothing), then shows the report with the moved consumer's
//! proof (lag 0). Screenshots at 1280×800 and 390 px land in
//! target/console-screenshots/migration-*.png.

mod browser;
mod lab_host;
mod local_support;
mod migration_support;
mod support;

use async_nats::jetstream::consumer::{pull, AckPolicy};
use browser::{js, Page};
use futures::StreamExt;
use local_support::{eventually, LocalLab};
use migration_support::{on_source, source_last_seq, SteadyWriter, SOURCE_IP};
use support::{id_of, WAIT_TIMEOUT};

const PROCESSED: usize = 100;

/// Clicks `selector` as a user does (the mouse, at the element's middle), after scrolling
/// it to the middle of the viewport, clear of the status bar fixed at the bottom.
fn click_centered(page: &Page, selector: &str) {
    page.wait_for(
        &format!("{selector} to click"),
        &format!("document.querySelector({})", js(selector)),
    );
    page.eval(&format!(
        "document.querySelector({}).scrollIntoView({{block: 'center'}})",
        js(selector)
    ));
    page.click(selector);
}

#[test]
fn the_migration_page_charts_lag_and_rate_and_cuts_over_after_a_confirmation() {
    let mut lab = LocalLab::start("istho2");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("src", SOURCE_IP)]);
    let network = lab.project_and_network("172.29.93.0/24");
    let project = lab.cli.project.clone().unwrap();
    let cluster_id = id_of(&lab.cli.json(&format!(
        "cluster create events --network {network} --engine nats --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    lab.peering(&network, "customer", &["172.16.0.0/16"]);
    let server = lab.cli.json("lab service add customer/src nats")["url"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the lab source accepts a fill", || {
        lab.cli
            .run("lab service fill customer/src nats --stream ORDERS --count 5000 --subjects 16")
            .code
            == Some(0)
    });
    let src_ns = lab.names.lab_host_ns("customer", "src");
    // A durable consumer that has processed the first events: the cut-over moves it.
    let processed = on_source(&src_ns, |js| async move {
        let consumer = js
            .get_stream("ORDERS")
            .await?
            .create_consumer(pull::Config {
                durable_name: Some("billing".into()),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            })
            .await?;
        let mut batch = consumer.fetch().max_messages(PROCESSED).messages().await?;
        let mut n = 0;
        while let Some(m) = batch.next().await {
            m.map_err(|e| anyhow::anyhow!(e))?
                .double_ack()
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            n += 1;
        }
        Ok(n)
    })
    .unwrap();
    assert_eq!(processed, PROCESSED);
    let writer = SteadyWriter::start(&src_ns, "ORDERS", 100);
    let id = id_of(&lab.cli.json(&format!(
        "migration create move --cluster {cluster_id} --source {server} \
         --wait --timeout {WAIT_TIMEOUT}"
    )));

    let page = Page::open(&format!("{}/", lab.cli.url), "migration");
    page.wait_for("the login form", "document.querySelector('#login-token')");
    page.fill("#login-token", &lab.cli.token);
    page.click("form[aria-label^='Log in'] button[type=submit]");
    page.wait_for("the project list", "location.hash === '#/projects'");
    page.eval(&format!(
        "location.hash = {}",
        js(&format!("#/p/{project}/migrations/{id}"))
    ));
    // The controller keeps one sample per 5 s: the chart shows from the second one.
    page.wait_for(
        "the lag and rate chart",
        "document.querySelector('#migration-chart-rate') && document.querySelector('#migration-chart-lag')",
    );
    let summary =
        page.eval("document.querySelector('#migration-chart svg').getAttribute('aria-label')");
    assert!(
        summary
            .as_str()
            .unwrap()
            .starts_with("Lag and copy rate over"),
        "{summary}"
    );
    let points = page.eval("document.querySelector('#migration-chart-rate').points.length");
    assert!(points.as_u64().unwrap() >= 2, "{points}");
    page.wait_for(
        "the stream's counters",
        "document.querySelector('#migration-streams tr[data-stream=ORDERS]')",
    );
    page.wait_for(
        "the cut-over button",
        "document.querySelector('#migration-cutover')",
    );
    // Progress keeps arriving while the writer appends: the panel updates in place, so
    // the button a user is about to click is the same element after an update.
    page.eval(
        "(() => { window.cutButton = document.querySelector('#migration-cutover'); \
         window.copiedBefore = document.querySelector('#migration-streams tr[data-stream=ORDERS]').textContent; \
         return true; })()",
    );
    page.wait_for(
        "a progress update",
        "document.querySelector('#migration-streams tr[data-stream=ORDERS]').textContent !== window.copiedBefore",
    );
    assert_eq!(
        page.eval("document.querySelector('#migration-cutover') === window.cutButton"),
        true,
        "the cut-over button survives a progress update"
    );
    // The measured rate is shown rounded (a whole number from 10 up, one decimal below).
    let rate = page.text("#migration-rate");
    let rounded = rate == "-"
        || rate
            .split('.')
            .nth(1)
            .is_none_or(|decimals| decimals.len() == 1)
            && rate
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.');
    assert!(rounded, "the rate shown: {rate}");
    page.eval("document.querySelector('#migration-chart').scrollIntoView({block: 'center'})");
    page.screenshot("01-chart-1280");

    // The writers stop; the migration becomes ready once the source's end is copied.
    writer.stop();
    let end = source_last_seq(&src_ns, "ORDERS");
    eventually("ready for the cut-over at the source's end", || {
        let m = lab.cli.json(&format!("migration get {id}"));
        m["status"] == "ready_for_cutover" && m["progress"]["streams"][0]["copied_through"] == end
    });

    // The button asks first; Cancel leaves the migration running.
    page.wait_for(
        "the page at ready_for_cutover",
        "document.querySelector('#migration-explain [data-status=ready_for_cutover]') && document.querySelector('#migration-cutover')",
    );
    click_centered(&page, "#migration-cutover");
    page.wait_for(
        "the confirmation",
        "document.querySelector('#migration-cutover-confirm') && document.activeElement.id === 'migration-cutover-go'",
    );
    assert!(page
        .text("#migration-cutover-confirm")
        .contains("Stop every writer of the source first"));
    page.screenshot("02-confirm-1280");
    click_centered(&page, "#migration-cutover-cancel");
    page.wait_for(
        "the confirmation gone",
        "!document.querySelector('#migration-cutover-confirm') && document.querySelector('#migration-cutover')",
    );
    let still = lab.cli.json(&format!("migration get {id}"));
    assert_eq!(still["status"], "ready_for_cutover", "{still:#}");
    assert!(still["cutover"].is_null(), "{still:#}");

    click_centered(&page, "#migration-cutover");
    page.wait_for(
        "the confirmation",
        "document.querySelector('#migration-cutover-go')",
    );
    click_centered(&page, "#migration-cutover-go");
    page.wait_for(
        "the cut-over report",
        "document.querySelector('#migration-cutover-report tr[data-consumer=billing]')",
    );
    let row = page.eval(
        "[...document.querySelectorAll('#migration-cutover-report tr[data-consumer=billing] td')].map((td) => td.textContent)",
    );
    assert_eq!(row[1], PROCESSED.to_string(), "source ack floor: {row}");
    assert_eq!(row[5], "0", "lag: {row}");
    let report = page.text("#migration-cutover-report");
    assert!(report.contains(&format!("ORDERS #{end}")), "{report}");
    page.screenshot("03-report-1280");
    let cut = lab.cli.json(&format!("migration get {id}"));
    assert!(
        ["cut_over", "completed"].contains(&cut["status"].as_str().unwrap()),
        "{cut:#}"
    );
    assert_eq!(cut["cutover"]["consumers"][0]["lag"], 0, "{cut:#}");

    // A phone's width: the chart scales down, nothing runs off the right edge.
    page.resize(390, 800);
    page.eval("window.scrollTo(0, 0)");
    page.wait_for(
        "the narrow layout, the chart redrawn at its width",
        "document.documentElement.clientWidth <= 390 && document.querySelector('#migration-chart svg').viewBox.baseVal.width <= 390",
    );
    page.eval("document.querySelector('#migration-chart').scrollIntoView({block: 'start'})");
    let fits = page.eval(
        "['#migration-chart svg', '#migration-panel h2', '#migration-cutover-report p'].every((s) => \
         document.querySelector(s).getBoundingClientRect().right <= document.documentElement.clientWidth)",
    );
    assert_eq!(fits, true, "the chart and headings fit 390 px");
    page.screenshot("04-chart-390");
    page.eval("document.querySelector('#migration-cutover-report').scrollIntoView()");
    page.screenshot("05-report-390");
    assert_eq!(page.errors(), Vec::<String>::new(), "script errors");

    lab.cli.ok(&format!(
        "migration delete {id} --wait --timeout {WAIT_TIMEOUT}"
    ));
}

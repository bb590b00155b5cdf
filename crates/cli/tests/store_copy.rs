//! Moving an installation to PostgreSQL: a server on the data dir's SQLite file makes some
//! state, is stopped, `isthmus store copy` moves it into an empty PostgreSQL database (a
//! throwaway PostgreSQL 15 of the test's own) and verifies it, and a server started on
//! that database with `--database` serves the same resources, tokens and audit log.

mod support;

use isthmus_store::testing::TestPostgres;
use support::{assert_one_error_line, id_of, Cli, Sandbox, Server};

#[test]
fn a_stopped_sqlite_installation_moves_to_postgres_whole() {
    let pg = TestPostgres::start().expect("start the test PostgreSQL");
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(pg.fresh_database())
        .expect("create the target database");
    let sandbox = Sandbox::new();
    let first = Server::start(sandbox.data.path(), &[]);
    let admin = first.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create moving"));
    let cli = admin.in_project(&project);
    let network = id_of(
        &cli.json("network create prod --provider aws --region us-east-1 --cidr 10.50.0.0/16"),
    );
    let before = cli.poll_status("network", &network, &["active"]);
    let events_before = cli.json("events");
    first.kill();

    let db = sandbox.data.path().join("isthmus.db");
    let copy = format!("store copy --from {} --to {url}", db.display());
    let out = cli.ok(&copy);
    assert!(out.contains("verified every row"), "{out}");
    assert!(
        out.contains("sim_journal"),
        "the simulated clouds' log is copied too: {out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["projects", "1", "rows"]),
        "{out}"
    );
    // A second copy into the same (no longer empty) database is refused, in one line.
    let again = cli.run(&copy);
    assert_ne!(again.code, Some(0));
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    assert_one_error_line(&again.stderr);

    let second = Server::start(sandbox.data.path(), &["--database", &url]);
    assert!(
        second.log().contains("the store is PostgreSQL"),
        "{}",
        second.log()
    );
    let cli = Cli {
        url: second.url.clone(),
        ..cli
    };
    assert_eq!(second.admin_token, cli.token, "the admin token is the same");
    let after = cli.json(&format!("network get {network}"));
    assert_eq!(after, before);
    let events_after = cli.json("events");
    let (old, new) = (
        events_before.as_array().unwrap(),
        events_after.as_array().unwrap(),
    );
    assert_eq!(&new[..old.len()], &old[..], "the audit log came along");
    // The rules see the copied state.
    let overlap =
        cli.fails("network create again --provider aws --region us-east-1 --cidr 10.50.1.0/24");
    assert!(overlap.contains("overlaps"), "{overlap}");
}

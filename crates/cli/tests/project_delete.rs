//! `isthmus project delete` (issue 17, item 11): a project with objects in it is refused,
//! naming them, unless `--cascade`, which deletes them all (a network with a cluster in
//! it, its peering) and then the project; an empty project goes at once; its tokens'
//! roles in it go with it.

mod support;

use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn a_project_with_objects_is_refused_naming_them_and_cascade_deletes_everything() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create doomed"));
    let cli = admin.in_project(&project);
    cli.ok(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
         --region us-east-1 --cidr 192.168.0.0/16",
    );
    cli.ok(
        "peering create to-customer --network prod --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16",
    );
    cli.ok(&format!(
        "cluster create orders --network prod --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    ));

    // Not a terminal, so not asked; refused by the server, naming what remains.
    let error = cli.fails("project delete doomed");
    for named in [
        "project doomed still holds",
        "network 'prod'",
        "cluster 'orders'",
        "peering 'to-customer'",
        "--cascade",
    ] {
        assert!(error.contains(named), "{named} in: {error}");
    }
    assert_eq!(admin.json("project get doomed")["name"], "doomed");
    assert_eq!(cli.json("network get prod")["status"], "active");

    // With --cascade: the cluster and the peering go, then the network, then the project.
    let run = cli.run(&format!(
        "project delete doomed --cascade --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("deleted project doomed ({project})")),
        "{}",
        run.stdout
    );
    let gone = admin.fails(&format!("project get {project}"));
    assert!(gone.contains("not found"), "{gone}");
    let listed = admin.json("project list");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != project.as_str()),
        "{listed:#}"
    );
    // The audit log outside the project still holds its history; a new project may take
    // the name.
    id_of(&admin.json("project create doomed"));
}

#[test]
fn an_empty_project_goes_at_once_and_a_missing_one_is_named() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create empty"));
    let out = admin.ok("project delete empty --yes");
    assert!(
        out.contains(&format!("deleted project empty ({project})")),
        "{out}"
    );
    let error = admin.fails("project delete empty");
    assert!(error.contains("no project named 'empty'"), "{error}");
}

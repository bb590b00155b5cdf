//! `peering … --wait` ends non-zero, with the reason, when the peering settles in a failure.

mod support;

use support::{id_of, Cli, Sandbox, Server, WAIT_TIMEOUT};

fn project_with_active_network(admin: &Cli) -> (Cli, String) {
    let cli = admin.in_project(&id_of(&admin.json("project create peerings")));
    let network = cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.30.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    (cli, id_of(&network))
}

#[test]
fn a_peering_to_a_vpc_that_does_not_exist_fails_the_wait_as_invalid_specification() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, network_id) = project_with_active_network(&server.cli(sandbox.home.path()));

    let stderr = cli.fails_after_progress(&format!(
        "peering create nowhere --network {network_id} --peer-account 111122223333 \
         --peer-network vpc-0dead000 --peer-region us-east-1 --route 192.168.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let error = stderr.lines().last().unwrap();
    assert!(error.contains("invalid_specification"), "{stderr}");
    assert!(
        error.contains("vpc-0dead000"),
        "the status message says why: {stderr}"
    );
}

#[test]
fn waiting_on_a_peering_the_customer_rejected_fails_with_rejected_by_peer() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, network_id) = project_with_active_network(&server.cli(sandbox.home.path()));
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
            --region us-east-1 --cidr 192.168.0.0/16",
    );
    let peering = cli.json(&format!(
        "peering create to-customer --network {network_id} --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(peering["status"], "pending_acceptance", "{peering:#}");
    let peering_id = id_of(&peering);

    cli.ok(&format!("sim reject {peering_id}"));
    cli.poll_status("peering", &peering_id, &["rejected_by_peer"]);

    let stderr = cli.fails_after_progress(&format!(
        "peering wait {peering_id} --timeout {WAIT_TIMEOUT}"
    ));
    assert!(
        stderr.lines().last().unwrap().contains("rejected_by_peer"),
        "{stderr}"
    );
}

/// A peering in `error` ends `--wait` as a failure, as a network or a cluster in `error`
/// does: the one definition of settled counts `error` as failed for every kind.
#[test]
fn waiting_on_a_peering_in_error_fails_with_its_reason() {
    let sandbox = Sandbox::new();
    // No local provider: a `local` network never becomes active, so its peering waits
    // for it and only this test moves the peering's status.
    let server = Server::start(sandbox.data.path(), &["--no-local"]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create errors"));
    let cli = admin.in_project(&project);
    // The API refuses such a network now (no driver would run it): it is written to the
    // store as an older server accepted it.
    let network = stored_local_network(&server, &project);
    let peering = id_of(&cli.json(&format!(
        "peering create to-lab --network {network} --peer-account lab --peer-network nowhere \
         --peer-region host --route 10.1.0.0/16"
    )));

    mark_error(
        &server,
        &project,
        &peering,
        "ensure peering: no veth support",
    );

    let stderr =
        cli.fails_after_progress(&format!("peering wait {peering} --timeout {WAIT_TIMEOUT}"));
    let error = stderr.lines().last().unwrap();
    assert!(
        error.contains(&format!("peering {peering} is error")),
        "{stderr}"
    );
}

/// A `local` network written straight to the server's store (the API refuses one on a
/// server without the local provider); returns its id.
fn stored_local_network(server: &Server, project: &str) -> String {
    use isthmus_core::resources::{Network, NetworkCreate, Provider};
    use isthmus_store::api::{Api, Env};
    use isthmus_store::sqlite::SqliteStore;
    use isthmus_store::{Actor, Store};

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let db = server.data_dir.join(isthmus_server::serve::DB_FILE);
        let store = SqliteStore::open(&db)
            .await
            .expect("open the server's store");
        let req = NetworkCreate {
            name: "lab".into(),
            provider: Provider::Local,
            region: "host".into(),
            cidr_block: "172.29.98.0/24".into(),
        };
        let created = Api::<Network>::new(store.docs())
            .create(
                &Actor("test".into()),
                project.parse().unwrap(),
                &req,
                &Env::default(),
                None,
            )
            .await
            .expect("store the network");
        store.close().await;
        created.resource.id.to_string()
    })
}

/// Writes what the controller writes when a peering fails for good (`error`, with the
/// reason, its spec observed), through the server's store, as the controller would.
fn mark_error(server: &Server, project: &str, peering: &str, reason: &str) {
    use isthmus_core::resources::Peering;
    use isthmus_core::state::PeeringStatus;
    use isthmus_core::CoreError;
    use isthmus_store::api::Api;
    use isthmus_store::sqlite::SqliteStore;
    use isthmus_store::{Actor, Store, StoreError};

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let db = server.data_dir.join(isthmus_server::serve::DB_FILE);
        let store = SqliteStore::open(&db)
            .await
            .expect("open the server's store");
        let (project, peering) = (
            project.parse().unwrap(),
            peering.parse::<isthmus_core::Id>().unwrap(),
        );
        // The running controller writes this peering too: compare-and-swap until ours lands.
        loop {
            let mut p = Api::<Peering>::new(store.docs())
                .get(project, peering)
                .await
                .expect("the peering");
            p.status = PeeringStatus::Error;
            p.status_message = reason.to_string();
            p.observed_generation = p.generation;
            match Api::<Peering>::new(store.docs())
                .save_status(&Actor::controller(), &p)
                .await
            {
                Ok(_) => break,
                Err(StoreError::Core(CoreError::VersionMismatch { .. })) => continue,
                Err(e) => panic!("mark peering {peering} error: {e}"),
            }
        }
        store.close().await;
    });
}

/// Once the customer rejected the request, nothing is left for them to run (AWS cannot
/// accept a rejected request): `peering actions` says what happened instead, `reach`
/// gives the commands that recreate it, and those commands work as given.
#[test]
fn a_rejected_peering_asks_nothing_of_the_customer_and_reach_recreates_it() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, network_id) = project_with_active_network(&server.cli(sandbox.home.path()));
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
            --region us-east-1 --cidr 192.168.0.0/16",
    );
    let peering = id_of(&cli.json(&format!(
        "peering create to-customer --network {network_id} --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network_id} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let pending = cli.ok(&format!("peering actions {peering}"));
    assert!(
        pending.contains("accept-vpc-peering-connection"),
        "{pending}"
    );

    // `--wait` returns once the platform saw the customer's answer.
    let rejected = cli.json(&format!(
        "sim reject {peering} --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(rejected["status"], "rejected_by_peer", "{rejected:#}");
    let actions = cli.ok(&format!("peering actions {peering}"));
    assert!(!actions.contains("aws ec2"), "{actions}");
    assert!(actions.contains("cannot be accepted"), "{actions}");
    assert_eq!(
        cli.json(&format!("peering actions {peering}")),
        serde_json::json!([])
    );
    let shown = cli.ok(&format!("peering get {peering}"));
    assert!(!shown.contains("accept-vpc-peering-connection"), "{shown}");

    let reach = cli.json(&format!("reach --from 192.168.1.1 --to {cluster}:8443"));
    let fix = &reach["verdicts"][0]["fix"];
    let summary = fix["summary"].as_str().unwrap();
    assert!(!summary.contains("must still"), "{summary}");
    assert!(
        summary.contains("delete it and create it again"),
        "{summary}"
    );
    let commands: Vec<String> = fix["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(commands.len(), 2, "{fix:#}");
    // The API and the cloud accept the fix as given.
    for command in &commands {
        cli.ok(command
            .strip_prefix("isthmus ")
            .expect("an isthmus command"));
    }
    let again = cli
        .json("peering list")
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] != "deleted" && p["id"] != peering.as_str())
        .cloned()
        .expect("the recreated peering");
    assert_eq!(again["name"], "to-customer");
    let again = id_of(&again);
    cli.poll_status("peering", &again, &["pending_acceptance"]);
    let accepted = cli.json(&format!(
        "sim accept {again} --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(accepted["status"], "active", "{accepted:#}");
    let active = cli.ok(&format!("peering actions {again}"));
    assert!(
        active.contains("Nothing: the peering is active"),
        "{active}"
    );
    let allowed = cli.ok(&format!("reach --from 192.168.1.1 --to {cluster}:8443"));
    assert!(allowed.contains(": allowed\n"), "{allowed}");
}

/// A network's delete names its peerings instead of taking them along; `--cascade` takes
/// them (the network stays until they are gone).
#[test]
fn a_network_delete_refuses_while_peerings_remain_unless_cascade() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, network_id) = project_with_active_network(&server.cli(sandbox.home.path()));
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
            --region us-east-1 --cidr 192.168.0.0/16",
    );
    let peering = id_of(&cli.json(&format!(
        "peering create to-customer --network {network_id} --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 192.168.0.0/16"
    )));
    let refused = cli.fails(&format!("network delete {network_id}"));
    assert!(refused.contains("to-customer"), "{refused}");
    assert!(refused.contains(&peering), "{refused}");
    assert!(refused.contains("--cascade"), "{refused}");
    cli.ok(&format!(
        "network delete {network_id} --cascade --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(
        cli.json(&format!("peering get {peering}"))["status"],
        "deleted"
    );
}

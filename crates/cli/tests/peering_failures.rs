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
    let network =
        id_of(&cli.json("network create lab --provider local --region host --cidr 172.29.98.0/24"));
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

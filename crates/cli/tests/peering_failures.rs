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

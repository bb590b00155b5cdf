//! `isthmus reach` and `isthmus plan … --peering` against a server on the simulated AWS
//! cloud: the analyzer's answer as a person reads it, and the planners fed by a real
//! peering instead of typed-in routes.

mod support;

use support::{id_of, Cli, Sandbox, Server, WAIT_TIMEOUT};

/// A project with an active AWS network 10.30.0.0/16, a peering to the customer's
/// 172.30.0.0/16 (still waiting for acceptance) and a running probe cluster.
fn setup(admin: &Cli) -> (Cli, String, String) {
    let cli = admin.in_project(&id_of(&admin.json("project create reach")));
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.30.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    cli.ok(
        "sim vpc create --cloud aws --account 111122223333 --network vpc-0c0ffee0 \
         --region us-east-1 --cidr 172.30.0.0/16",
    );
    let peering = id_of(&cli.json(&format!(
        "peering create to-customer --network {network} --peer-account 111122223333 \
         --peer-network vpc-0c0ffee0 --peer-region us-east-1 --route 172.30.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    (cli, peering, cluster)
}

#[test]
fn reach_explains_a_pending_peering_then_allows_once_accepted() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, peering, cluster) = setup(&server.cli(sandbox.home.path()));

    let pending = cli.ok(&format!("reach --from 172.30.1.1 --to {cluster}:8443"));
    assert!(
        pending.starts_with(&format!("172.30.1.1 → {cluster} port 8443: denied\n")),
        "{pending}"
    );
    assert!(
        pending.contains("  verdict      denied (peering-not-active)\n"),
        "{pending}"
    );
    assert!(
        pending.contains("the customer must still: Accept the peering connection"),
        "{pending}"
    );

    cli.ok(&format!("sim accept {peering}"));
    cli.poll_status("peering", &peering, &["active"]);
    let allowed = cli.ok(&format!("reach --from 172.30.1.1 --to {cluster}"));
    assert!(allowed.contains(": allowed\n"), "{allowed}");
    assert!(
        allowed.contains("  route        172.30.0.0/16\n"),
        "{allowed}"
    );

    let json = cli.json(&format!("reach --from 172.30.1.1 --to {cluster}:5432"));
    assert_eq!(json["allowed"], false);
    assert_eq!(json["verdicts"][0]["reason"], "port-not-served");

    let unknown = cli.fails("reach --from 172.30.1.1 --to nosuch");
    assert!(
        unknown.contains("unknown destination 'nosuch'"),
        "{unknown}"
    );
}

#[test]
fn plan_reads_the_routes_network_and_provider_from_a_peering() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, peering, _) = setup(&server.cli(sandbox.home.path()));

    let k8s = cli.ok(&format!(
        "plan k8s --subnet 172.31.0.0/17 --pods 172.30.0.0/16 --services 172.31.128.0/17 \
         --peering {peering}"
    ));
    assert!(
        k8s.contains("  pods      yes (by 172.30.0.0/16)\n"),
        "{k8s}"
    );
    assert!(k8s.contains("routes to use: 172.30.0.0/15\n"), "{k8s}");

    let tailscale = cli.ok(&format!("plan tailscale --peering {peering}"));
    assert!(
        tailscale.contains(
            "sudo tailscale up --advertise-routes=10.30.0.0/16,172.30.0.0/16 --accept-routes\n"
        ),
        "{tailscale}"
    );
    assert!(tailscale.contains("--no-source-dest-check"), "{tailscale}");
}

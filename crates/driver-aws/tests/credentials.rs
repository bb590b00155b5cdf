//! Credentials: without any, `aws` stays on the simulator and the start-up line says so;
//! with them, it runs on EC2 at the configured endpoint; credentials EC2 refuses are a
//! clear, permanent condition on the resource. (One test per binary: it sets the
//! process environment.)

mod support;

use isthmus_core::conditions::find_condition;
use isthmus_core::state::NetworkStatus;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_follows_the_credentials_and_refused_ones_are_a_clear_condition() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("HOME", dir.path());
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        dir.path().join("credentials"),
    );
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        std::env::remove_var(v);
    }
    std::env::remove_var("AWS_ENDPOINT_URL");
    std::env::remove_var("AWS_ENDPOINT_URL_EC2");
    let (none, line) = isthmus_driver_aws::choose(None);
    assert!(none.is_none());
    assert!(
        line.starts_with("aws provider: simulated (no AWS credentials"),
        "{line}"
    );

    std::fs::write(
        dir.path().join("credentials"),
        "[default]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s\n",
    )
    .unwrap();
    std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let (some, line) = isthmus_driver_aws::choose(None);
    assert!(some.is_some());
    assert!(
        line.starts_with(
            "aws provider: EC2 at http://127.0.0.1:9 with credentials from profile default"
        ),
        "{line}"
    );

    // moto checking keys: ours are unknown to it, as revoked keys are to AWS.
    let w = World::on(Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])).await;
    let net = w.network("10.20.0.0/16").await;
    let refused = w.network_reaches(&net, NetworkStatus::Error).await;
    assert!(
        refused
            .status_message
            .contains("AWS refused the credentials"),
        "{}",
        refused.status_message
    );
    let ready = find_condition(&refused.conditions, "Ready").expect("a Ready condition");
    assert_eq!(ready.reason, "Unsupported", "{ready:?}");
}

//! Every state of a connection, every move between them, each cloud's words for them,
//! and how an observation of the provider becomes the stored list.

use chrono::{TimeZone, Utc};

use super::ConnectionStatus::*;
use super::*;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).unwrap()
}

#[test]
fn every_move_of_the_machine_is_pinned() {
    let allowed: &[(ConnectionStatus, &[ConnectionStatus])] = &[
        (
            PendingAcceptance,
            &[Available, Rejected, Disconnected, Failed, Deleting],
        ),
        (Available, &[Rejected, Disconnected, Failed, Deleting]),
        (Rejected, &[Disconnected, Deleting]),
        (Failed, &[Disconnected, Deleting]),
        (Disconnected, &[Deleting]),
        (Deleting, &[Deleted]),
        (Deleted, &[]),
    ];
    for (from, to) in allowed {
        for next in ConnectionStatus::ALL {
            let legal = from == next || to.contains(next);
            assert_eq!(from.transition(*next).is_ok(), legal, "{from} → {next}");
        }
    }
    let e = Rejected.transition(Available).unwrap_err();
    assert_eq!(
        e.to_string(),
        "endpoint connection cannot go from rejected to available"
    );
}

#[test]
fn waiting_for_acceptance_is_settled_and_refusals_are_failures() {
    assert_eq!(PendingAcceptance.phase(), Settled::Done);
    assert_eq!(Available.phase(), Settled::Done);
    for s in [Rejected, Disconnected, Failed] {
        assert_eq!(s.phase(), Settled::Failed, "{s}");
        assert!(!s.carries_traffic());
    }
    assert_eq!(Deleting.phase(), Settled::Moving);
    assert!(Available.carries_traffic());
}

#[test]
fn each_cloud_names_the_states_in_its_own_words() {
    let words = |p: Provider| -> Vec<&str> {
        [PendingAcceptance, Available, Rejected, Disconnected, Failed]
            .iter()
            .map(|s| s.provider_word(p))
            .collect()
    };
    assert_eq!(
        words(Provider::Aws),
        [
            "pendingAcceptance",
            "available",
            "rejected",
            "deleted",
            "failed"
        ]
    );
    assert_eq!(
        words(Provider::Gcp),
        [
            "PENDING",
            "ACCEPTED",
            "REJECTED",
            "CLOSED",
            "NEEDS_ATTENTION"
        ]
    );
    assert_eq!(
        words(Provider::Azure),
        [
            "Pending",
            "Approved",
            "Rejected",
            "Disconnected",
            "Rejected"
        ]
    );
    assert_eq!(
        words(Provider::Local),
        [
            "pending_acceptance",
            "available",
            "rejected",
            "disconnected",
            "failed"
        ]
    );
    assert_eq!(
        ConnectionStatus::from_provider(Provider::Aws, "expired"),
        Some(Failed)
    );
    assert_eq!(
        ConnectionStatus::from_provider(Provider::Gcp, "pending"),
        None
    );
    for p in [Provider::Aws, Provider::Gcp, Provider::Local] {
        for s in [PendingAcceptance, Available, Rejected, Disconnected, Failed] {
            assert_eq!(
                ConnectionStatus::from_provider(p, s.provider_word(p)),
                Some(s),
                "{p} {s}"
            );
        }
    }
}

fn seen(endpoint: &str, word: &str) -> ObservedConnection {
    ObservedConnection {
        endpoint_id: endpoint.into(),
        principal: "123456789012".into(),
        network: "vpc-0a1b2c3d".into(),
        provider_state: word.into(),
        message: format!("{endpoint} is {word}"),
        connections: 3,
        bytes: 1500,
    }
}

#[test]
fn a_new_endpoint_appears_pending_and_follows_the_provider() {
    let first = merge_observed(
        Provider::Aws,
        "svc",
        &[],
        &[seen("vpce-1", "pendingAcceptance")],
        now(),
    );
    assert_eq!(first.len(), 1);
    let c = &first[0];
    assert_eq!(
        (c.status, c.decision),
        (PendingAcceptance, Decision::Undecided)
    );
    assert_eq!(c.id, connection_id("svc", "vpce-1"));
    assert!(c.id.starts_with("epc-") && c.id.len() == 20);
    let mut accepted = first.clone();
    accepted[0].decision = Decision::Accepted;
    let later = merge_observed(
        Provider::Aws,
        "svc",
        &accepted,
        &[seen("vpce-1", "available")],
        now(),
    );
    assert_eq!(
        (later[0].status, later[0].decision),
        (Available, Decision::Accepted)
    );
    assert_eq!((later[0].connections, later[0].bytes), (3, 1500));
    assert_eq!(later[0].provider_state, "available");
}

#[test]
fn an_endpoint_the_provider_no_longer_has_is_disconnected() {
    let up = merge_observed(
        Provider::Gcp,
        "svc",
        &[],
        &[seen("fr-1", "ACCEPTED")],
        now(),
    );
    let gone = merge_observed(Provider::Gcp, "svc", &up, &[], now());
    assert_eq!(gone[0].status, Disconnected);
    assert_eq!(gone[0].provider_state, "CLOSED");
    assert_eq!(gone[0].status_message, "the customer deleted the endpoint");
    let mut deleting = up.clone();
    deleting[0].status = Deleting;
    assert_eq!(
        merge_observed(Provider::Gcp, "svc", &deleting, &[], now())[0].status,
        Deleted
    );
}

#[test]
fn a_move_the_machine_refuses_keeps_the_status_and_says_why() {
    let rejected = merge_observed(
        Provider::Azure,
        "svc",
        &[],
        &[seen("pe-1", "Rejected")],
        now(),
    );
    let back = merge_observed(
        Provider::Azure,
        "svc",
        &rejected,
        &[seen("pe-1", "Approved")],
        now(),
    );
    assert_eq!(back[0].status, Rejected);
    assert!(back[0]
        .status_message
        .contains("cannot go from rejected to available"));
    let odd = merge_observed(
        Provider::Azure,
        "svc",
        &rejected,
        &[seen("pe-1", "Weird")],
        now(),
    );
    assert_eq!(odd[0].status, Rejected);
    assert!(
        odd[0].status_message.contains("unknown state"),
        "{}",
        odd[0].status_message
    );
}

#[test]
fn a_principal_not_allowed_is_a_failure_with_its_reason() {
    let mut s = seen("vpce-2", "failed");
    s.message = "principal 999999999999 is not allowed".into();
    let c = &merge_observed(Provider::Aws, "svc", &[], &[s], now())[0];
    assert_eq!(c.status, Failed);
    assert_eq!(c.status_message, "principal 999999999999 is not allowed");
}

//! Endpoint services: what a create admits, the cap per cluster, the names in each
//! cloud's form, decisions on connections and what removing a principal does.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};

use super::*;
use crate::kinds::endpoint_connection::connection_id;
use crate::object::Object;
use crate::resources::{ClusterCreate, NetworkCreate, Topology};
use crate::rules::{new_cluster, new_network};
use crate::{Id, NetworkId};

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).unwrap()
}

fn project() -> ProjectId {
    ProjectId(Id::from_parts(1_700_000_000, [0; 8]))
}

fn cluster_on(provider: Provider, region: &str) -> (Cluster, Network) {
    let req = NetworkCreate {
        name: "prod".into(),
        provider,
        region: region.into(),
        cidr_block: "10.20.0.0/16".into(),
    };
    let net = new_network(
        NetworkId(Id::from_parts(1, [1; 8])),
        project(),
        &req,
        &[],
        now(),
    )
    .unwrap();
    let req = ClusterCreate {
        name: "orders".into(),
        network_id: net.id.to_string(),
        engine: "probe".into(),
        topology: Topology::ThreeNodeMultiZone,
        public_access: None,
        private_allowlist: None,
        egress_allowlist: None,
    };
    let mut c = new_cluster(
        ClusterId(Id::from_parts(2, [2; 8])),
        project(),
        &req,
        &net,
        &HashSet::new(),
        "db.example",
        now(),
    )
    .unwrap();
    c.status = ClusterStatus::Running;
    (c, net)
}

fn create(principals: &[&str]) -> EndpointServiceCreate {
    EndpointServiceCreate {
        name: "orders-pl".into(),
        cluster_id: String::new(),
        allowed_principals: principals.iter().map(|p| p.to_string()).collect(),
        acceptance_required: true,
    }
}

fn sid(n: u8) -> EndpointServiceId {
    EndpointServiceId(Id::from_parts(3, [n; 8]))
}

pub(crate) fn aws_service() -> EndpointService {
    let (c, net) = cluster_on(Provider::Aws, "eu-west-1");
    new_endpoint_service(
        sid(1),
        project(),
        &create(&["arn:aws:iam::123456789012:root"]),
        &c,
        &net,
        &[],
        now(),
    )
    .unwrap()
}

fn with_connection(
    mut s: EndpointService,
    principal: &str,
    status: ConnectionStatus,
) -> EndpointService {
    let endpoint = format!("vpce-{principal}");
    s.connections.push(EndpointConnection {
        id: connection_id(&s.id.to_string(), &endpoint),
        endpoint_id: endpoint,
        principal: principal.into(),
        network: "vpc-0a1b2c3d".into(),
        status,
        provider_state: status.provider_word(s.provider).into(),
        status_message: String::new(),
        decision: Decision::Undecided,
        connections: 0,
        bytes: 0,
        created_at: now(),
    });
    s
}

#[test]
fn a_new_service_is_published_under_its_clouds_name() {
    let s = aws_service();
    assert_eq!(s.status, EndpointServiceStatus::Provisioning);
    let suffix = s
        .service_name
        .strip_prefix("com.amazonaws.vpce.eu-west-1.vpce-svc-")
        .unwrap();
    assert_eq!(suffix.len(), 17);
    assert!(suffix
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(s.cluster_dns_name, format!("{}.db.example", s.cluster_id));
    assert_eq!(
        s.service_name,
        service_name(Provider::Aws, "eu-west-1", s.id)
    );

    let gcp = service_name(Provider::Gcp, "europe-west1", sid(1));
    assert_eq!(
        gcp,
        format!(
            "projects/isthmus-platform/regions/europe-west1/serviceAttachments/isthmus-{}",
            sid(1)
        )
    );
    let azure = service_name(Provider::Azure, "westeurope", sid(1));
    assert!(
        azure.starts_with(&format!("isthmus-{}.", sid(1))),
        "{azure}"
    );
    assert!(
        azure.ends_with(".westeurope.azure.privatelinkservice"),
        "{azure}"
    );
    let guid = azure.split('.').nth(1).unwrap();
    assert!(crate::clouds::is_guid(guid), "{guid}");
    assert_eq!(
        service_name(Provider::Local, "lab", sid(1)),
        format!("isthmus.local.{}", sid(1))
    );
}

#[test]
fn malformed_principals_and_names_are_all_named_in_one_422() {
    let (c, net) = cluster_on(Provider::Gcp, "europe-west1");
    let mut req = create(&["customer-prod", "Not A Project"]);
    req.name = " ".into();
    let CoreError::Invalid(errors) =
        new_endpoint_service(sid(1), project(), &req, &c, &net, &[], now()).unwrap_err()
    else {
        panic!("expected a 422");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "allowed_principals[1]"]);
    assert_eq!(errors[1].rule, "gcp-project");
}

#[test]
fn a_cluster_holds_at_most_a_hundred_services_and_deleted_ones_do_not_count() {
    let (c, net) = cluster_on(Provider::Aws, "eu-west-1");
    let mut others: Vec<EndpointService> = (0..100u8)
        .map(|i| {
            new_endpoint_service(sid(i), project(), &create(&[]), &c, &net, &[], now()).unwrap()
        })
        .collect();
    let e = new_endpoint_service(sid(200), project(), &create(&[]), &c, &net, &others, now())
        .unwrap_err();
    assert!(
        matches!(&e, CoreError::Conflict { rule, field, .. } if rule == "endpoint-services-per-cluster" && field.as_deref() == Some("cluster_id")),
        "{e:?}"
    );
    others[0].status = EndpointServiceStatus::Deleted;
    assert!(
        new_endpoint_service(sid(200), project(), &create(&[]), &c, &net, &others, now()).is_ok()
    );
}

#[test]
fn a_deleting_cluster_takes_no_new_service() {
    let (mut c, net) = cluster_on(Provider::Aws, "eu-west-1");
    c.status = ClusterStatus::Deleting;
    let e =
        new_endpoint_service(sid(1), project(), &create(&[]), &c, &net, &[], now()).unwrap_err();
    assert!(matches!(e, CoreError::Conflict { ref rule, .. } if rule == "cluster-deleting"));
}

#[test]
fn the_cluster_blocks_its_deletion_while_a_service_lives() {
    let owner = EndpointService::INFO.owner.unwrap();
    assert_eq!(
        (owner.kind, owner.field, owner.on_delete),
        ("cluster", "cluster_id", OnOwnerDelete::Block)
    );
    assert_eq!(EndpointService::INFO.plural, "endpoint-services");
}

#[test]
fn accepting_a_pending_connection_is_a_spec_change_and_repeating_it_is_not() {
    let s = with_connection(
        aws_service(),
        "123456789012",
        ConnectionStatus::PendingAcceptance,
    );
    let cid = s.connections[0].id.clone();
    let accept = EndpointServiceChange::Decide {
        connection: cid.clone(),
        decision: Decision::Accepted,
    };
    let next = change_endpoint_service(&s, &accept, now()).unwrap();
    assert_eq!(next.connections[0].decision, Decision::Accepted);
    assert_eq!(next.generation, s.generation + 1);
    let again = change_endpoint_service(&next, &accept, now()).unwrap();
    assert_eq!(again.generation, next.generation);
}

#[test]
fn rejecting_an_available_connection_says_its_flows_are_cut() {
    let s = with_connection(aws_service(), "123456789012", ConnectionStatus::Available);
    let cid = s.connections[0].id.clone();
    let reject = EndpointServiceChange::Decide {
        connection: cid,
        decision: Decision::Rejected,
    };
    let next = change_endpoint_service(&s, &reject, now()).unwrap();
    assert_eq!(next.connections[0].decision, Decision::Rejected);
    assert!(
        next.warnings[0].contains("established flows are cut"),
        "{:?}",
        next.warnings
    );
    // The operator's own reject needs no cause (not "rejected because it was rejected").
    assert!(!next.warnings[0].contains("because"), "{:?}", next.warnings);
}

#[test]
fn a_connection_from_a_principal_not_listed_cannot_be_accepted() {
    let s = with_connection(
        aws_service(),
        "999999999999",
        ConnectionStatus::PendingAcceptance,
    );
    let cid = s.connections[0].id.clone();
    let accept = EndpointServiceChange::Decide {
        connection: cid,
        decision: Decision::Accepted,
    };
    let e = change_endpoint_service(&s, &accept, now()).unwrap_err();
    assert!(
        matches!(e, CoreError::Conflict { ref rule, .. } if rule == "principal-not-allowed"),
        "{e:?}"
    );
}

#[test]
fn only_open_connections_take_decisions_and_unknown_ones_are_not_found() {
    let s = with_connection(
        aws_service(),
        "123456789012",
        ConnectionStatus::Disconnected,
    );
    let cid = s.connections[0].id.clone();
    let accept = EndpointServiceChange::Decide {
        connection: cid,
        decision: Decision::Accepted,
    };
    let e = change_endpoint_service(&s, &accept, now()).unwrap_err();
    assert!(matches!(e, CoreError::Conflict { ref rule, .. } if rule == "connection-not-open"));
    let missing = EndpointServiceChange::Decide {
        connection: "epc-0".into(),
        decision: Decision::Accepted,
    };
    assert!(matches!(
        change_endpoint_service(&s, &missing, now()),
        Err(CoreError::NotFound { .. })
    ));
}

#[test]
fn removing_a_principal_rejects_its_connections_and_says_so() {
    let s = with_connection(aws_service(), "123456789012", ConnectionStatus::Available);
    let update = EndpointServiceChange::Update(EndpointServiceUpdate {
        allowed_principals: Some(vec!["arn:aws:iam::210987654321:root".into()]),
        ..Default::default()
    });
    let next = change_endpoint_service(&s, &update, now()).unwrap();
    assert_eq!(next.connections[0].decision, Decision::Rejected);
    assert!(
        next.warnings[0].contains("principal was removed"),
        "{:?}",
        next.warnings
    );
    assert_eq!(next.generation, s.generation + 1);
    let bad = EndpointServiceChange::Update(EndpointServiceUpdate {
        allowed_principals: Some(vec!["*".into()]),
        ..Default::default()
    });
    let e = change_endpoint_service(&s, &bad, now()).unwrap_err();
    assert!(e.to_string().starts_with("allowed_principals[0]"), "{e}");
}

#[test]
fn a_deleting_service_takes_no_change() {
    let mut s = aws_service();
    s.status = EndpointServiceStatus::Deleting;
    let rename = EndpointServiceChange::Update(EndpointServiceUpdate {
        name: Some("x".into()),
        ..Default::default()
    });
    assert!(matches!(
        change_endpoint_service(&s, &rename, now()),
        Err(CoreError::Conflict { .. })
    ));
}

#[test]
fn the_service_machine_settles_like_every_other() {
    use EndpointServiceStatus::*;
    for s in EndpointServiceStatus::all() {
        if !s.is_going() {
            assert!(s.transition(Deleting).is_ok(), "{s} must be deletable");
        }
        assert_eq!(s.to_string().parse::<EndpointServiceStatus>().unwrap(), *s);
    }
    assert_eq!(Available.phase(), crate::object::Settled::Done);
    assert_eq!(Error.phase(), crate::object::Settled::Failed);
    assert_eq!(Provisioning.phase(), crate::object::Settled::Moving);
    assert!(Deleted.transition(Available).is_err());
}

//! The customer's commands per cloud, safely quoted, and how they shrink.

use super::*;
use crate::kinds::endpoint_connection::{connection_id, Decision, EndpointConnection};
use crate::kinds::endpoint_service::{service_name, EndpointService, EndpointServiceStatus};
use crate::{ClusterId, EndpointServiceId, Id, ProjectId};
use chrono::{TimeZone, Utc};

fn service(provider: Provider, region: &str) -> EndpointService {
    let t = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let id = EndpointServiceId(Id::from_parts(3, [3; 8]));
    EndpointService {
        id,
        project_id: ProjectId(Id::from_parts(1, [0; 8])),
        name: "orders".into(),
        cluster_id: ClusterId(Id::from_parts(2, [2; 8])),
        provider,
        region: region.into(),
        allowed_principals: vec!["p1".into()],
        acceptance_required: true,
        service_name: service_name(provider, region, id),
        cluster_dns_name: "c1.db.example".into(),
        connections: Vec::new(),
        customer_actions: Vec::new(),
        warnings: Vec::new(),
        status: EndpointServiceStatus::Available,
        status_message: String::new(),
        generation: 1,
        observed_generation: 1,
        conditions: Vec::new(),
        created_at: t,
        updated_at: t,
        version: 1,
    }
}

fn connect(s: &mut EndpointService, endpoint: &str, status: ConnectionStatus) {
    s.connections.push(EndpointConnection {
        id: connection_id("s", endpoint),
        endpoint_id: endpoint.into(),
        principal: "p1".into(),
        network: "n".into(),
        status,
        provider_state: status.provider_word(s.provider).into(),
        status_message: String::new(),
        decision: Decision::Undecided,
        connections: 0,
        bytes: 0,
        created_at: s.created_at,
    });
}

fn lines(s: &EndpointService) -> Vec<String> {
    for_endpoint_service(s)
        .into_iter()
        .map(|a| a.command)
        .collect()
}

#[test]
fn aws_asks_for_an_interface_endpoint_then_only_the_name() {
    let mut s = service(Provider::Aws, "eu-west-1");
    let before = lines(&s);
    assert_eq!(before.len(), 2);
    assert_eq!(
        before[0],
        format!(
            "aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --service-name {} --vpc-id <YOUR_VPC_ID> --subnet-ids <YOUR_SUBNET_IDS> --security-group-ids <YOUR_SECURITY_GROUP_ID> --region eu-west-1",
            s.service_name
        )
    );
    assert!(before[1].starts_with("aws route53 create-hosted-zone --name c1.db.example --vpc 'VPCRegion=eu-west-1,VPCId='<YOUR_VPC_ID>"), "{}", before[1]);
    connect(
        &mut s,
        "vpce-0a1b2c3d4e5f60718",
        ConnectionStatus::PendingAcceptance,
    );
    let pending = lines(&s);
    assert_eq!(pending.len(), 1);
    assert!(pending[0].starts_with("aws route53"));
    s.connections[0].status = ConnectionStatus::Available;
    assert_eq!(lines(&s), pending);
}

#[test]
fn gcp_asks_for_a_forwarding_rule_to_the_attachment() {
    let s = service(Provider::Gcp, "europe-west1");
    let l = lines(&s);
    assert_eq!(
        l[0],
        format!(
            "gcloud compute forwarding-rules create isthmus-{} --project <YOUR_PROJECT> --region europe-west1 --network <YOUR_NETWORK> --subnet <YOUR_SUBNET> --target-service-attachment {}",
            s.id, s.service_name
        )
    );
    assert!(
        l[1].starts_with(
            "gcloud dns record-sets create c1.db.example. --zone <YOUR_PRIVATE_ZONE> --type A"
        ),
        "{}",
        l[1]
    );
}

#[test]
fn azure_asks_for_a_manual_request_private_endpoint_by_alias() {
    let s = service(Provider::Azure, "westeurope");
    let l = lines(&s);
    assert!(
        l[0].starts_with("az network private-endpoint create --name isthmus-"),
        "{}",
        l[0]
    );
    assert!(l[0].contains(&format!(
        "--private-connection-resource-id {}",
        s.service_name
    )));
    assert!(
        l[0].contains("--manual-request true --location westeurope"),
        "{}",
        l[0]
    );
    assert!(l[1].starts_with("az network private-dns record-set a add-record"));
}

#[test]
fn the_lab_resolves_names_itself_so_local_asks_only_for_the_endpoint() {
    let mut s = service(Provider::Local, "lab");
    assert_eq!(
        lines(&s),
        [format!(
            "isthmus lab endpoint create <YOUR_LAB_VPC> isthmus-{} --service {}",
            s.id, s.service_name
        )]
    );
    connect(&mut s, "app-ep", ConnectionStatus::Available);
    assert!(lines(&s).is_empty());
}

#[test]
fn refused_endpoints_are_to_be_deleted_and_their_ids_are_quoted() {
    let mut s = service(Provider::Aws, "eu-west-1");
    connect(&mut s, "vpce-1; rm -rf /", ConnectionStatus::Rejected);
    let l = lines(&s);
    assert_eq!(l.len(), 3, "{l:?}");
    assert_eq!(
        l[2],
        "aws ec2 delete-vpc-endpoints --vpc-endpoint-ids 'vpce-1; rm -rf /'"
    );
    let words = shlex::split(&l[2]).unwrap();
    assert_eq!(words.last().unwrap(), "vpce-1; rm -rf /");
}

#[test]
fn a_region_from_input_is_quoted_too() {
    let mut s = service(Provider::Aws, "eu-west-1");
    s.region = "eu-west-1 $(id)".into();
    let l = lines(&s);
    assert!(l[0].ends_with("--region 'eu-west-1 $(id)'"), "{}", l[0]);
}

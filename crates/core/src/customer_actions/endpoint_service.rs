//! The commands a customer runs to reach an endpoint service from their own VPC: create
//! the endpoint (AWS interface endpoint, GCP forwarding rule to the service attachment,
//! Azure private endpoint by alias with a manual request, a lab endpoint on `local`),
//! point the cluster's name at it, and delete endpoints the service refused. The list
//! shrinks as the handshake goes on: once an endpoint is pending or available, creating
//! one is no longer asked for.

use super::{fixed, flag, placeholder, value, words, Command, Placeholder, Word};
use crate::kinds::endpoint_connection::ConnectionStatus;
use crate::kinds::endpoint_service::EndpointService;
use crate::resources::{CustomerAction, Provider};

/// The customer's own VPC, subnets, security group, network and zone: only they know them.
pub const VPC_PLACEHOLDER: Placeholder = Placeholder("<YOUR_VPC_ID>");
pub const SUBNETS_PLACEHOLDER: Placeholder = Placeholder("<YOUR_SUBNET_IDS>");
pub const SECURITY_GROUP_PLACEHOLDER: Placeholder = Placeholder("<YOUR_SECURITY_GROUP_ID>");
pub const PROJECT_PLACEHOLDER: Placeholder = Placeholder("<YOUR_PROJECT>");
pub const NETWORK_PLACEHOLDER: Placeholder = Placeholder("<YOUR_NETWORK>");
pub const SUBNET_PLACEHOLDER: Placeholder = Placeholder("<YOUR_SUBNET>");
pub const ZONE_PLACEHOLDER: Placeholder = Placeholder("<YOUR_PRIVATE_ZONE>");
pub const ENDPOINT_IP_PLACEHOLDER: Placeholder = Placeholder("<ENDPOINT_IP>");
pub const LAB_VPC_PLACEHOLDER: Placeholder = Placeholder("<YOUR_LAB_VPC>");
use super::RESOURCE_GROUP_PLACEHOLDER;

pub fn for_endpoint_service(s: &EndpointService) -> Vec<CustomerAction> {
    let open = s.connections.iter().any(|c| {
        matches!(
            c.status,
            ConnectionStatus::PendingAcceptance | ConnectionStatus::Available
        )
    });
    let mut out = Vec::new();
    if !open {
        out.push(create(s));
    }
    if let Some(dns) = dns(s) {
        out.push(dns);
    }
    for c in s.connections.iter().filter(|c| {
        matches!(
            c.status,
            ConnectionStatus::Rejected | ConnectionStatus::Failed
        )
    }) {
        if let Some(cmd) = delete_refused(s.provider, &c.endpoint_id, &c.principal) {
            out.push(cmd);
        }
    }
    out.into_iter().map(Command::into_action).collect()
}

/// The name the customer gives their side (a GCP address and forwarding rule, an Azure
/// private endpoint): derived from the service id, so only safe characters.
fn endpoint_name(s: &EndpointService) -> String {
    format!("isthmus-{}", s.id)
}

fn cmd(head: &[&'static str], tail: Vec<Word>, description: String) -> Command {
    let mut words_: Vec<Word> = head.iter().map(|w| fixed(w)).collect();
    words_.extend(tail);
    Command {
        description,
        words: words_,
    }
}

fn who(s: &EndpointService) -> String {
    if s.allowed_principals.is_empty() {
        "no principal yet: ask the platform operator to add yours to allowed_principals".into()
    } else {
        s.allowed_principals.join(", ")
    }
}

fn create(s: &EndpointService) -> Command {
    let svc = || value(s.service_name.clone());
    let region = || value(s.region.clone());
    let allowed = who(s);
    match s.provider {
        Provider::Aws => cmd(
            &["aws", "ec2", "create-vpc-endpoint"],
            words([
                flag("--vpc-endpoint-type", fixed("Interface")),
                flag("--service-name", svc()),
                flag("--vpc-id", placeholder(VPC_PLACEHOLDER)),
                flag("--subnet-ids", placeholder(SUBNETS_PLACEHOLDER)),
                flag("--security-group-ids", placeholder(SECURITY_GROUP_PLACEHOLDER)),
                flag("--region", region()),
            ]),
            format!("Create an interface endpoint to the service in your VPC (allowed: {allowed})."),
        ),
        Provider::Gcp => {
            let mut tail = vec![value(endpoint_name(s))];
            tail.extend(words([
                flag("--project", placeholder(PROJECT_PLACEHOLDER)),
                flag("--region", region()),
                flag("--network", placeholder(NETWORK_PLACEHOLDER)),
                flag("--subnet", placeholder(SUBNET_PLACEHOLDER)),
                flag("--target-service-attachment", svc()),
            ]));
            cmd(
                &["gcloud", "compute", "forwarding-rules", "create"],
                tail,
                format!("Create a Private Service Connect endpoint to the service attachment in your network (allowed projects: {allowed})."),
            )
        }
        Provider::Azure => cmd(
            &["az", "network", "private-endpoint", "create"],
            words([
                flag("--name", value(endpoint_name(s))),
                flag("--resource-group", placeholder(RESOURCE_GROUP_PLACEHOLDER)),
                flag("--vnet-name", placeholder(NETWORK_PLACEHOLDER)),
                flag("--subnet", placeholder(SUBNET_PLACEHOLDER)),
                flag("--private-connection-resource-id", svc()),
                flag("--connection-name", value(endpoint_name(s))),
                flag("--manual-request", fixed("true")),
                flag("--location", region()),
            ]),
            format!("Create a private endpoint to the service's alias in your VNet; it waits for approval (allowed subscriptions: {allowed})."),
        ),
        Provider::Local => {
            let tail = vec![
                placeholder(LAB_VPC_PLACEHOLDER),
                value(endpoint_name(s)),
                fixed("--service"),
                svc(),
            ];
            cmd(
                &["isthmus", "lab", "endpoint", "create"],
                tail,
                format!("Create an endpoint to the service in your lab VPC (allowed: {allowed})."),
            )
        }
    }
}

/// Inside the customer's VPC the cluster's name should lead to the endpoint. The lab's
/// resolver does that itself; on a cloud it is a private zone record of the customer's.
fn dns(s: &EndpointService) -> Option<Command> {
    let name = s.cluster_dns_name.clone();
    let description = format!(
        "Make {name} resolve to your endpoint inside your network (a private zone record), so clients and TLS use the cluster's own name."
    );
    Some(match s.provider {
        Provider::Aws => cmd(
            &["aws", "route53", "create-hosted-zone"],
            words([
                flag("--name", value(name)),
                flag("--vpc", vpc_config(s)),
                flag("--caller-reference", value(format!("isthmus-{}", s.id))),
            ]),
            format!("{description} Then add an alias record for it to the endpoint's DNS name."),
        ),
        Provider::Gcp => cmd(
            &["gcloud", "dns", "record-sets", "create"],
            {
                let mut t = vec![value(format!("{name}."))];
                t.extend(words([
                    flag("--zone", placeholder(ZONE_PLACEHOLDER)),
                    flag("--type", fixed("A")),
                    flag("--ttl", fixed("300")),
                    flag("--rrdatas", placeholder(ENDPOINT_IP_PLACEHOLDER)),
                ]));
                t
            },
            description,
        ),
        Provider::Azure => cmd(
            &[
                "az",
                "network",
                "private-dns",
                "record-set",
                "a",
                "add-record",
            ],
            words([
                flag("--resource-group", placeholder(RESOURCE_GROUP_PLACEHOLDER)),
                flag("--zone-name", placeholder(ZONE_PLACEHOLDER)),
                flag("--record-set-name", value(name)),
                flag("--ipv4-address", placeholder(ENDPOINT_IP_PLACEHOLDER)),
            ]),
            description,
        ),
        Provider::Local => return None,
    })
}

/// `VPCRegion=<region>,VPCId=<YOUR_VPC_ID>` as one word.
fn vpc_config(s: &EndpointService) -> Word {
    use super::Part;
    // `=` and `,` are not in the generator's fixed alphabet: the fixed text goes in as
    // a value (quoted if the shell needs it), the region with it.
    Word(vec![
        Part::value(format!("VPCRegion={},VPCId=", s.region)),
        Part::Placeholder(VPC_PLACEHOLDER),
    ])
}

fn delete_refused(provider: Provider, endpoint: &str, principal: &str) -> Option<Command> {
    let description = format!(
        "Delete endpoint {endpoint} ({principal}): the service refused it, and it reaches nothing."
    );
    Some(match provider {
        Provider::Aws => cmd(
            &["aws", "ec2", "delete-vpc-endpoints"],
            words([flag("--vpc-endpoint-ids", value(endpoint))]),
            description,
        ),
        Provider::Gcp => cmd(
            &["gcloud", "compute", "forwarding-rules", "delete"],
            vec![value(endpoint), fixed("--quiet")],
            description,
        ),
        Provider::Azure => cmd(
            &["az", "network", "private-endpoint", "delete"],
            words([flag("--ids", value(endpoint))]),
            description,
        ),
        Provider::Local => cmd(
            &["isthmus", "lab", "endpoint", "delete"],
            vec![value(endpoint)],
            description,
        ),
    })
}

#[cfg(test)]
#[path = "endpoint_service_tests.rs"]
mod tests;

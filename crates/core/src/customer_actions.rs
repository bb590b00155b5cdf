//! The commands a customer runs on their side of a peering, generated from its fields.
//!
//! Every value comes from the peering and its network; where a provider id is not known
//! yet (AWS assigns `pcx-…` only once the request exists) the command carries a visible
//! placeholder and the controller regenerates the list once the id is known. Values are
//! shell-quoted when they hold anything but plain id characters, so a pasted command
//! never runs something the customer did not see.

use crate::resources::{CustomerAction, Network, Peering, Provider};
use crate::NetworkId;

/// The GCP project that holds the platform's VPC networks.
pub const GCP_PLATFORM_PROJECT: &str = "isthmus-platform";
/// The Azure service principal that creates the platform's side of VNet peerings.
pub const AZURE_PLATFORM_PRINCIPAL_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
/// Shown until AWS has assigned the peering connection its id.
pub const PCX_PLACEHOLDER: &str = "<PCX_ID_SHOWN_ONCE_REQUESTED>";
/// The customer's route table: only they know it.
pub const ROUTE_TABLE_PLACEHOLDER: &str = "<YOUR_ROUTE_TABLE_ID>";
/// The customer's Azure resource group, when the peer VNet is given by name only.
pub const RESOURCE_GROUP_PLACEHOLDER: &str = "<YOUR_RESOURCE_GROUP>";

/// The name the platform gives its network on clouds where the caller chooses names
/// (GCP VPC networks, Azure VNets), so it is known before the network exists.
pub fn platform_network_name(id: NetworkId) -> String {
    format!("isthmus-{id}")
}

/// The name of the customer's side of a GCP peering (and of ours on Azure).
pub fn peering_name(peering: &Peering) -> String {
    format!("isthmus-{}", peering.id)
}

pub fn for_peering(network: &Network, peering: &Peering) -> Vec<CustomerAction> {
    match network.provider {
        Provider::Aws => aws(network, peering),
        Provider::Gcp => gcp(network, peering),
        Provider::Azure => azure(peering),
        Provider::Local => Vec::new(),
    }
}

fn aws(network: &Network, peering: &Peering) -> Vec<CustomerAction> {
    let pcx = peering
        .provider_peering_id
        .as_deref()
        .unwrap_or(PCX_PLACEHOLDER);
    vec![
        CustomerAction {
            description: format!(
                "Accept the peering connection in account {} (region {}).",
                peering.peer.account_id, peering.peer.region
            ),
            command: format!(
                "aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id {} --region {}",
                quote(pcx),
                quote(&peering.peer.region)
            ),
        },
        CustomerAction {
            description: format!(
                "Route the platform network {} through the peering, in every route table of VPC {} that should reach it.",
                network.cidr_block, peering.peer.network_id
            ),
            command: format!(
                "aws ec2 create-route --route-table-id {} --destination-cidr-block {} --vpc-peering-connection-id {}",
                ROUTE_TABLE_PLACEHOLDER,
                network.cidr_block,
                quote(pcx)
            ),
        },
    ]
}

fn gcp(network: &Network, peering: &Peering) -> Vec<CustomerAction> {
    let platform_network = network
        .provider_network_id
        .clone()
        .unwrap_or_else(|| platform_network_name(network.id));
    vec![CustomerAction {
        description: format!(
            "Create the reciprocal peering from network {} of project {} to the platform network.",
            peering.peer.network_id, peering.peer.account_id
        ),
        command: format!(
            "gcloud compute networks peerings create {} --project {} --network {} --peer-project {} --peer-network {} --import-custom-routes --export-custom-routes",
            peering_name(peering),
            quote(&peering.peer.account_id),
            quote(&peering.peer.network_id),
            GCP_PLATFORM_PROJECT,
            quote(&platform_network)
        ),
    }]
}

fn azure(peering: &Peering) -> Vec<CustomerAction> {
    let mut actions = vec![role_grant(peering)];
    if peering.allow_gateway_transit {
        actions.push(hub_gateway_transit(peering));
    }
    actions
}

/// With gateway transit our side of the peering uses the customer's gateway
/// (`useRemoteGateways`), which Azure allows only while their side — the hub's peering to
/// the platform VNet — has `allowGatewayTransit` set.
fn hub_gateway_transit(peering: &Peering) -> CustomerAction {
    let (resource_group, vnet) = azure_vnet_parts(peering);
    let behind: Vec<String> = peering
        .transit_routes
        .iter()
        .map(|r| r.to_string())
        .collect();
    let reached = if behind.is_empty() {
        "sources behind its gateway".to_string()
    } else {
        format!("sources behind its gateway ({})", behind.join(", "))
    };
    CustomerAction {
        description: format!(
            "Allow gateway transit on VNet {vnet}'s peering to the platform: the platform's side \
             uses your VNet's VPN/ExpressRoute gateway (use remote gateways), so {reached} reach \
             the platform. The VNet needs such a gateway."
        ),
        command: format!(
            "az network vnet peering update --name {} --resource-group {resource_group} \
             --vnet-name {vnet} --allow-gateway-transit true",
            peering_name(peering)
        ),
    }
}

/// The peer VNet's resource group and name: read from its resource id when given as
/// one, else the placeholder group and the name as given (both shell-quoted).
fn azure_vnet_parts(peering: &Peering) -> (String, String) {
    let vnet = &peering.peer.network_id;
    let segment_after = |key: &str| {
        let mut parts = vnet.split('/');
        parts
            .by_ref()
            .find(|p| p.eq_ignore_ascii_case(key))
            .and_then(|_| parts.next())
            .filter(|p| !p.is_empty())
            .map(quote)
    };
    match (
        segment_after("resourceGroups"),
        segment_after("virtualNetworks"),
    ) {
        (Some(group), Some(name)) if vnet.starts_with("/subscriptions/") => (group, name),
        _ => (RESOURCE_GROUP_PLACEHOLDER.to_string(), quote(vnet)),
    }
}

fn role_grant(peering: &Peering) -> CustomerAction {
    CustomerAction {
        description: format!(
            "Let the platform create both sides of the peering: grant its principal Network Contributor on VNet {}.",
            peering.peer.network_id
        ),
        command: format!(
            "az role assignment create --assignee {} --role \"Network Contributor\" --scope {}",
            AZURE_PLATFORM_PRINCIPAL_ID,
            azure_vnet_scope(peering)
        ),
    }
}

/// The peer VNet's resource id: given as such, or built from the subscription and name
/// (each user-given piece quoted on its own, so the placeholder stays editable).
fn azure_vnet_scope(peering: &Peering) -> String {
    let vnet = &peering.peer.network_id;
    if vnet.starts_with("/subscriptions/") {
        quote(vnet)
    } else {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{}",
            quote(&peering.peer.account_id),
            RESOURCE_GROUP_PLACEHOLDER,
            quote(vnet)
        )
    }
}

/// Single-quotes `value` for a POSIX shell unless it only holds characters that are
/// never special (ids, names, regions, resource paths).
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | ',' | '+' | '=')
        });
    let placeholder = value.starts_with('<') && value.ends_with('>');
    if plain || placeholder {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::PeerSpec;
    use crate::state::{NetworkStatus, PeeringStatus};
    use crate::{Id, PeeringId, ProjectId};
    use chrono::{TimeZone, Utc};

    fn network(provider: Provider, provider_network_id: Option<&str>) -> Network {
        let t = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        Network {
            id: NetworkId(Id::from_parts(1_700_000_000, [1; 8])),
            project_id: ProjectId(Id::from_parts(1_700_000_000, [0; 8])),
            name: "prod".into(),
            provider,
            region: "eu-west-1".into(),
            cidr_block: "10.20.0.0/16".parse().unwrap(),
            status: NetworkStatus::Active,
            status_message: String::new(),
            provider_network_id: provider_network_id.map(str::to_string),
            generation: 1,
            observed_generation: 1,
            conditions: Vec::new(),
            created_at: t,
            updated_at: t,
            version: 1,
        }
    }

    fn peering(net: &Network, account: &str, vpc: &str, pcx: Option<&str>) -> Peering {
        Peering {
            transit_routes: Vec::new(),
            id: PeeringId(Id::from_parts(1_700_000_000, [2; 8])),
            project_id: net.project_id,
            name: "to-app".into(),
            network_id: net.id,
            peer: PeerSpec {
                account_id: account.into(),
                network_id: vpc.into(),
                region: "eu-west-2".into(),
            },
            routes: vec!["192.168.0.0/24".parse().unwrap()],
            allow_gateway_transit: false,
            status: PeeringStatus::Provisioning,
            status_message: String::new(),
            provider_peering_id: pcx.map(str::to_string),
            customer_actions: Vec::new(),
            warnings: Vec::new(),
            generation: 1,
            observed_generation: 0,
            conditions: Vec::new(),
            created_at: net.created_at,
            updated_at: net.created_at,
            version: 1,
        }
    }

    fn commands(actions: Vec<CustomerAction>) -> Vec<String> {
        actions.into_iter().map(|a| a.command).collect()
    }

    #[test]
    fn aws_customer_accepts_the_connection_and_routes_the_platform_cidr() {
        let net = network(Provider::Aws, Some("vpc-0a1b2c3d4e5f60718"));
        let p = peering(
            &net,
            "123456789012",
            "vpc-0fedcba987654321",
            Some("pcx-1a2b3c4d5e6f70819"),
        );
        assert_eq!(
            commands(for_peering(&net, &p)),
            vec![
                "aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id pcx-1a2b3c4d5e6f70819 --region eu-west-2",
                "aws ec2 create-route --route-table-id <YOUR_ROUTE_TABLE_ID> --destination-cidr-block 10.20.0.0/16 --vpc-peering-connection-id pcx-1a2b3c4d5e6f70819",
            ]
        );
    }

    #[test]
    fn aws_commands_carry_a_visible_placeholder_until_the_connection_id_is_known() {
        let net = network(Provider::Aws, None);
        let p = peering(&net, "123456789012", "vpc-0fedcba987654321", None);
        let cmds = commands(for_peering(&net, &p));
        assert_eq!(
            cmds[0],
            "aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id <PCX_ID_SHOWN_ONCE_REQUESTED> --region eu-west-2"
        );
        assert!(cmds[1].ends_with("--vpc-peering-connection-id <PCX_ID_SHOWN_ONCE_REQUESTED>"));
    }

    #[test]
    fn gcp_customer_creates_the_reciprocal_peering_to_the_platform_network() {
        let net = network(Provider::Gcp, None);
        let p = peering(&net, "acme-prod", "default", None);
        assert_eq!(
            commands(for_peering(&net, &p)),
            vec![format!(
                "gcloud compute networks peerings create isthmus-{} --project acme-prod --network default --peer-project isthmus-platform --peer-network isthmus-{} --import-custom-routes --export-custom-routes",
                p.id, net.id
            )]
        );
    }

    #[test]
    fn azure_customer_grants_the_platform_principal_network_contributor_on_the_vnet() {
        let net = network(Provider::Azure, None);
        let vnet = "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/app/providers/Microsoft.Network/virtualNetworks/app-vnet";
        let p = peering(&net, "0b1f6471-1bf0-4dda-aec3-111122223333", vnet, None);
        assert_eq!(
            commands(for_peering(&net, &p)),
            vec![format!(
                "az role assignment create --assignee 7c9e6679-7425-40de-944b-e07fc1f90ae7 --role \"Network Contributor\" --scope {vnet}"
            )]
        );
    }

    #[test]
    fn azure_vnet_given_by_name_is_scoped_under_the_subscription_with_a_resource_group_placeholder()
    {
        let net = network(Provider::Azure, None);
        let p = peering(&net, "sub-1", "app-vnet", None);
        assert_eq!(
            commands(for_peering(&net, &p))[0],
            "az role assignment create --assignee 7c9e6679-7425-40de-944b-e07fc1f90ae7 --role \"Network Contributor\" --scope /subscriptions/sub-1/resourceGroups/<YOUR_RESOURCE_GROUP>/providers/Microsoft.Network/virtualNetworks/app-vnet"
        );
    }

    #[test]
    fn azure_gateway_transit_asks_the_hub_side_to_allow_it_naming_the_group_and_vnet() {
        let net = network(Provider::Azure, None);
        let vnet = "/subscriptions/sub-1/resourceGroups/hub-rg/providers/Microsoft.Network/virtualNetworks/hub-vnet";
        let mut p = peering(&net, "sub-1", vnet, None);
        p.allow_gateway_transit = true;
        p.transit_routes = vec!["172.20.0.0/24".parse().unwrap()];
        let actions = for_peering(&net, &p);
        assert_eq!(actions.len(), 2, "the role grant, then the hub's setting");
        assert_eq!(
            actions[1].command,
            format!(
                "az network vnet peering update --name isthmus-{} --resource-group hub-rg \
                 --vnet-name hub-vnet --allow-gateway-transit true",
                p.id
            )
        );
        let said = &actions[1].description;
        assert!(said.contains("use remote gateways"), "{said}");
        assert!(said.contains("172.20.0.0/24"), "{said}");
    }

    #[test]
    fn azure_without_gateway_transit_asks_only_for_the_role_grant() {
        let net = network(Provider::Azure, None);
        let p = peering(&net, "sub-1", "hub-vnet", None);
        assert_eq!(for_peering(&net, &p).len(), 1);
        let mut with = p.clone();
        with.allow_gateway_transit = true;
        assert!(
            commands(for_peering(&net, &with))[1]
                .contains("--resource-group <YOUR_RESOURCE_GROUP> --vnet-name hub-vnet"),
            "a VNet given by name leaves its group to the customer"
        );
    }

    #[test]
    fn local_peerings_need_nothing_from_the_customer() {
        let net = network(Provider::Local, None);
        let p = peering(&net, "lab", "lab-vpc-1", None);
        assert!(for_peering(&net, &p).is_empty());
    }

    #[test]
    fn values_with_shell_characters_are_single_quoted() {
        let net = network(Provider::Gcp, None);
        let p = peering(&net, "acme;rm", "net$(x)", None);
        let cmd = &commands(for_peering(&net, &p))[0];
        assert!(
            cmd.contains("--project 'acme;rm' --network 'net$(x)'"),
            "{cmd}"
        );
    }
}

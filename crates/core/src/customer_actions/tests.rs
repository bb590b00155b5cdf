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
            "az role assignment create --assignee 7c9e6679-7425-40de-944b-e07fc1f90ae7 --role 'Network Contributor' --scope {vnet}"
        )]
    );
}

#[test]
fn azure_vnet_given_by_name_is_scoped_under_the_subscription_with_a_resource_group_placeholder() {
    let net = network(Provider::Azure, None);
    let p = peering(&net, "sub-1", "app-vnet", None);
    assert_eq!(
        commands(for_peering(&net, &p))[0],
        "az role assignment create --assignee 7c9e6679-7425-40de-944b-e07fc1f90ae7 --role 'Network Contributor' --scope /subscriptions/sub-1/resourceGroups/<YOUR_RESOURCE_GROUP>/providers/Microsoft.Network/virtualNetworks/app-vnet"
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
fn the_list_is_empty_once_the_peering_is_active_failed_or_going_and_says_why() {
    let net = network(Provider::Aws, Some("vpc-0a1b2c3d4e5f60718"));
    let mut p = peering(&net, "123456789012", "vpc-0fedcba9", Some("pcx-1a2b"));
    for waiting in [
        PeeringStatus::Provisioning,
        PeeringStatus::PendingAcceptance,
        PeeringStatus::PendingPeer,
    ] {
        p.status = waiting;
        assert_eq!(for_peering(&net, &p).len(), 2, "{waiting}");
        assert_eq!(none_left(&p), None, "{waiting}");
    }
    for (status, said) in [
        (PeeringStatus::Active, "the peering is active"),
        (PeeringStatus::RejectedByPeer, "cannot be accepted"),
        (PeeringStatus::DeletedByPeer, "deleted their side"),
        (PeeringStatus::InvalidSpecification, "refused the request"),
        (PeeringStatus::Error, "in error"),
        (PeeringStatus::Deleting, "being deleted"),
        (PeeringStatus::Deleted, "being deleted"),
    ] {
        p.status = status;
        assert!(for_peering(&net, &p).is_empty(), "{status}");
        let text = none_left(&p).expect("a reason");
        assert!(text.contains(said), "{status}: {text}");
        assert!(!text.contains("accept-vpc-peering-connection"), "{text}");
    }
    p.status = PeeringStatus::RejectedByPeer;
    assert!(none_left(&p).unwrap().contains("create it again"));
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

#[test]
fn a_value_shaped_like_a_placeholder_is_quoted_like_any_other() {
    let net = network(Provider::Aws, None);
    let mut p = peering(&net, "123456789012", "vpc-0fedcba9", None);
    let hostile = r"</dev/null;touch${IFS}/tmp/x;:\>";
    p.peer.region = hostile.into();
    let cmd = &commands(for_peering(&net, &p))[0];
    let argv = shlex::split(cmd).unwrap();
    assert_eq!(argv[argv.len() - 2..], ["--region", hostile], "{cmd}");
    assert!(
        cmd.contains("--region '</dev/null;touch${IFS}/tmp/x;:'"),
        "{cmd}"
    );
    p.peer.region = "<YOUR_ROUTE_TABLE_ID>".into();
    let cmd = &commands(for_peering(&net, &p))[0];
    assert!(cmd.ends_with("--region '<YOUR_ROUTE_TABLE_ID>'"), "{cmd}");
    p.provider_peering_id = Some("<PCX_ID_SHOWN_ONCE_REQUESTED>".into());
    let cmd = &commands(for_peering(&net, &p))[1];
    assert!(
        cmd.ends_with("--vpc-peering-connection-id '<PCX_ID_SHOWN_ONCE_REQUESTED>'"),
        "{cmd}"
    );
}

mod lexed {
    //! Every generated command, read back by a POSIX shell lexer, is exactly the argv
    //! the generator meant, whatever the field values.

    use super::*;
    use crate::clouds;
    use proptest::prelude::*;

    /// A strict POSIX word splitter: quotes and backslashes as sh reads them, and an
    /// error for anything unquoted that a shell would not take literally (operators,
    /// expansions, globs, comments, tildes). Placeholders must have been replaced.
    fn strict_split(line: &str) -> Result<Vec<String>, String> {
        let mut words = Vec::new();
        let mut cur: Option<String> = None;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                ' ' => {
                    if let Some(w) = cur.take() {
                        words.push(w);
                    }
                }
                '\'' => {
                    let w = cur.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => w.push(c),
                            None => return Err("unterminated '".into()),
                        }
                    }
                }
                '"' => {
                    let w = cur.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(c @ ('$' | '`' | '"' | '\\')) => w.push(c),
                                Some('\n') => {}
                                Some(c) => {
                                    w.push('\\');
                                    w.push(c)
                                }
                                None => return Err("unterminated \"".into()),
                            },
                            Some(c @ ('$' | '`' | '!')) => {
                                return Err(format!("expansion {c} inside \"\""))
                            }
                            Some(c) => w.push(c),
                            None => return Err("unterminated \"".into()),
                        }
                    }
                }
                '\\' => match chars.next() {
                    Some('\n') | None => return Err("line continuation".into()),
                    Some(c) => cur.get_or_insert_with(String::new).push(c),
                },
                '#' | '~' if cur.is_none() => return Err(format!("unquoted {c} at word start")),
                c if c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '-' | '_' | '.' | '/' | ':' | '@' | '+' | '#' | '~' | '%' | ',' | '=' | ']'
                    ) =>
                {
                    cur.get_or_insert_with(String::new).push(c)
                }
                c => return Err(format!("unquoted {c:?}")),
            }
        }
        if let Some(w) = cur.take() {
            words.push(w);
        }
        Ok(words)
    }

    /// What the customer does before running: put their own ids for the placeholders.
    fn filled(text: &str) -> String {
        PLACEHOLDERS.iter().fold(text.to_string(), |t, p| {
            t.replace(p.as_str(), "FILLED-BY-CUSTOMER")
        })
    }

    fn check(net: &Network, p: &Peering) -> Result<(), TestCaseError> {
        for cmd in super::super::commands(net, p) {
            let line = cmd.render();
            let argv: Vec<String> = cmd.argv();
            // shlex reads the line as sh does (placeholders are plain text to it).
            prop_assert_eq!(shlex::split(&line), Some(argv.clone()), "{}", line);
            // Once the customer fills the placeholders, nothing is left unquoted
            // that a shell would treat as anything but literal text.
            let want: Vec<String> = argv.iter().map(|w| filled(w)).collect();
            prop_assert_eq!(strict_split(&filled(&line)), Ok(want), "{}", line);
        }
        Ok(())
    }

    fn provider() -> impl Strategy<Value = Provider> {
        prop_oneof![
            Just(Provider::Aws),
            Just(Provider::Gcp),
            Just(Provider::Azure)
        ]
    }

    /// Hostile text: shell metacharacters, quotes, placeholders' shape, any char.
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~]{0,40}",
            "<[ -~]{0,30}>",
            prop::sample::select(vec![
                r"</dev/null;touch${IFS}/tmp/x;:\>".to_string(),
                "<YOUR_ROUTE_TABLE_ID>".into(),
                "<PCX_ID_SHOWN_ONCE_REQUESTED>".into(),
                "'$(id)'".into(),
                "a'b\"c\\d`e`".into(),
                "#x".into(),
                "~root".into(),
                "".into(),
                "^x".into(),
                "x\ny".into(),
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_field_values_lex_back_to_the_intended_argv(
            provider in provider(),
            account in hostile(),
            vpc in hostile(),
            region in hostile(),
            pcx in prop::option::of(hostile()),
            platform in prop::option::of(hostile()),
            transit in any::<bool>(),
            as_id in any::<bool>(),
        ) {
            let net = network(provider, platform.as_deref());
            let vnet = if as_id {
                format!("/subscriptions/{account}/resourceGroups/{region}/providers/Microsoft.Network/virtualNetworks/{vpc}")
            } else {
                vpc
            };
            let mut p = peering(&net, &account, &vnet, pcx.as_deref());
            p.peer.region = region;
            p.allow_gateway_transit = transit;
            check(&net, &p)?;
        }

        #[test]
        fn valid_field_values_lex_back_to_the_intended_argv(
            (provider, account, vpc, region) in prop_oneof![
                ("[0-9]{12}", "vpc-([0-9a-f]{8}|[0-9a-f]{17})", prop::sample::select(clouds::AWS_REGIONS))
                    .prop_map(|(a, v, r)| (Provider::Aws, a, v, r.to_string())),
                ("[a-z][a-z0-9-]{4,28}[a-z0-9]", "[a-z]([a-z0-9-]{0,61}[a-z0-9])?", prop::sample::select(clouds::GCP_REGIONS))
                    .prop_map(|(a, v, r)| (Provider::Gcp, a, v, r.to_string())),
                ("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                 "[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]",
                 "[A-Za-z0-9_.()-]{0,89}[A-Za-z0-9_()-]",
                 any::<bool>(),
                 prop::sample::select(clouds::AZURE_REGIONS))
                    .prop_map(|(a, v, g, as_id, r)| {
                        let v = if as_id {
                            format!("/subscriptions/{a}/resourceGroups/{g}/providers/Microsoft.Network/virtualNetworks/{v}")
                        } else {
                            v
                        };
                        (Provider::Azure, a, v, r.to_string())
                    }),
            ],
            transit in any::<bool>(),
        ) {
            prop_assert!(clouds::check_peer_fields("peer.", provider, &account, &vpc, &region).is_empty());
            let net = network(provider, None);
            let mut p = peering(&net, &account, &vpc, None);
            p.peer.region = region;
            p.allow_gateway_transit = transit;
            check(&net, &p)?;
        }
    }
}

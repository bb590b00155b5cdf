//! What the real clouds accept, so the API (and the simulated clouds) refuse what AWS,
//! GCP and Azure would: their region catalogs, their zone names, the formats of the
//! account and network ids a peering names, and AWS's VPC sizes.
//!
//! The `local` provider is not a cloud: its regions are free-form names (`host`) and its
//! peers are lab VPCs in account `lab`, checked only for being printable single words.

use crate::resources::{PeerSpec, Provider};
use crate::{Cidr, FieldError};

/// AWS commercial, GovCloud and China regions.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Google Cloud regions.
pub const GCP_REGIONS: &[&str] = &[
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west10",
    "europe-west12",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
];

/// Azure regions (the programmatic names the API takes).
pub const AZURE_REGIONS: &[&str] = &[
    "australiacentral",
    "australiacentral2",
    "australiaeast",
    "australiasoutheast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "brazilsoutheast",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "francesouth",
    "germanynorth",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "jioindiacentral",
    "jioindiawest",
    "koreacentral",
    "koreasouth",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "norwaywest",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southafricawest",
    "southcentralus",
    "southeastasia",
    "southindia",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "switzerlandwest",
    "uaecentral",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westindia",
    "westus",
    "westus2",
    "westus3",
];

/// The longest value a peer or customer-VPC field may hold (an Azure VNet resource id
/// with a 90-character group and a 64-character name fits).
pub const MAX_ID_LEN: usize = 300;

/// The cloud's region catalog; `None` for `local`, whose regions are free-form.
pub fn regions(provider: Provider) -> Option<&'static [&'static str]> {
    match provider {
        Provider::Aws => Some(AWS_REGIONS),
        Provider::Gcp => Some(GCP_REGIONS),
        Provider::Azure => Some(AZURE_REGIONS),
        Provider::Local => None,
    }
}

/// A value as an error message may quote it: at most 64 characters, escaped.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    let escaped = format!("'{}'", cut.escape_debug());
    if cut.len() < value.len() {
        format!("{escaped}…")
    } else {
        escaped
    }
}

/// The catalog entry closest to `value` (fewest edits; the first of equals).
pub fn closest<'a>(value: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let wanted: String = value.chars().take(64).collect::<String>().to_lowercase();
    candidates
        .iter()
        .min_by_key(|c| strsim::levenshtein(&wanted, c))
        .copied()
}

/// A region of `provider` in `field`: syntax first (lowercase letters, digits, '-'), then,
/// for a cloud, membership of its catalog with a did-you-mean.
pub fn check_region(field: &str, provider: Provider, region: &str) -> Result<(), FieldError> {
    let syntax = !region.is_empty()
        && region.len() <= 40
        && lowercase_digits_hyphens(region)
        && !region.starts_with('-');
    if !syntax {
        return Err(FieldError::new(
            field,
            "region-syntax",
            format!(
                "{} is not a {provider} region name (lowercase letters, digits and '-', e.g. {})",
                shown(region),
                example_region(provider)
            ),
        ));
    }
    let Some(catalog) = regions(provider) else {
        return Ok(());
    };
    if catalog.contains(&region) {
        return Ok(());
    }
    let hint = closest(region, catalog)
        .map(|c| format!("; did you mean '{c}'?"))
        .unwrap_or_default();
    Err(FieldError::new(
        field,
        "known-region",
        format!(
            "'{region}' is not a region of {}{hint}",
            cloud_name(provider)
        ),
    ))
}

fn cloud_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Aws => "AWS",
        Provider::Gcp => "GCP",
        Provider::Azure => "Azure",
        Provider::Local => "local",
    }
}

fn example_region(provider: Provider) -> &'static str {
    match provider {
        Provider::Aws => "us-east-1",
        Provider::Gcp => "us-central1",
        Provider::Azure => "westeurope",
        Provider::Local => "host",
    }
}

/// The zone of the `index`-th node of a network in `region`, as the cloud names zones:
/// AWS `us-east-1a`, GCP `us-central1-a`, Azure `1`/`2`/`3` (zones are numbered within a
/// region). Nodes are spread over three zones.
pub fn zone_name(provider: Provider, region: &str, index: usize) -> String {
    let letter = (b'a' + (index % 3) as u8) as char;
    match provider {
        Provider::Aws | Provider::Local => format!("{region}{letter}"),
        Provider::Gcp => format!("{region}-{letter}"),
        Provider::Azure => (index % 3 + 1).to_string(),
    }
}

/// The prefix lengths a cloud allows for a VPC / VNet address space: AWS /16 … /28;
/// GCP subnets and Azure address spaces /8 … /29.
pub fn vpc_prefix_lengths(provider: Provider) -> std::ops::RangeInclusive<u8> {
    match provider {
        Provider::Aws => 16..=28,
        _ => 8..=29,
    }
}

/// A VPC's address space in `field` must fit the cloud's size limits.
pub fn check_vpc_size(field: &str, provider: Provider, cidr: &Cidr) -> Result<(), FieldError> {
    let range = vpc_prefix_lengths(provider);
    if range.contains(&cidr.prefix_len()) {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        "vpc-size",
        format!(
            "{cidr} has prefix length /{}; a {provider} VPC must be between /{} and /{}",
            cidr.prefix_len(),
            range.start(),
            range.end()
        ),
    ))
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// AWS account ids are 12 digits.
pub fn is_aws_account(v: &str) -> bool {
    v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
}

/// AWS VPC ids: `vpc-` and 8 (older) or 17 lowercase hex digits.
pub fn is_aws_vpc_id(v: &str) -> bool {
    v.strip_prefix("vpc-")
        .is_some_and(|h| (h.len() == 8 || h.len() == 17) && is_lower_hex(h))
}

/// GCP project ids: 6–30 characters, a lowercase letter first, then lowercase letters,
/// digits and hyphens, no trailing hyphen.
pub fn is_gcp_project(v: &str) -> bool {
    is_lower_label(v, 6..=30)
}

/// GCP network names are RFC 1035 labels: 1–63 characters, a lowercase letter first,
/// then lowercase letters, digits and hyphens, ending in a letter or digit.
pub fn is_gcp_network(v: &str) -> bool {
    is_lower_label(v, 1..=63)
}

/// `len` characters: a lowercase letter first, then lowercase letters, digits and
/// hyphens, no trailing hyphen.
fn is_lower_label(v: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    let b = v.as_bytes();
    len.contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && lowercase_digits_hyphens(v)
}

/// Only a-z, 0-9 and '-': the alphabet of DNS-label-like names.
pub(crate) fn lowercase_digits_hyphens(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Azure subscription ids are GUIDs: 8-4-4-4-12 hex digits.
pub fn is_guid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Azure VNet names: 2–64 characters of letters, digits, '_', '.', '-', starting with a
/// letter or digit and ending with a letter, digit or '_'.
pub fn is_azure_vnet_name(v: &str) -> bool {
    let b = v.as_bytes();
    (2..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && (b[b.len() - 1].is_ascii_alphanumeric() || b[b.len() - 1] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Azure resource group names: 1–90 characters of letters, digits, '_', '.', '-', '(',
/// ')', not ending with '.'.
pub fn is_azure_resource_group(v: &str) -> bool {
    let b = v.as_bytes();
    (1..=90).contains(&b.len())
        && b[b.len() - 1] != b'.'
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'(' | b')'))
}

/// An Azure VNet resource id,
/// `/subscriptions/{guid}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{name}`
/// (the fixed segments case-insensitive, as Azure reads them): its subscription, group
/// and name.
pub fn azure_vnet_id_parts(v: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = v.split('/').collect();
    let fixed = |i: usize, word: &str| parts[i].eq_ignore_ascii_case(word);
    let ok = parts.len() == 9
        && parts[0].is_empty()
        && fixed(1, "subscriptions")
        && is_guid(parts[2])
        && fixed(3, "resourceGroups")
        && is_azure_resource_group(parts[4])
        && fixed(5, "providers")
        && fixed(6, "Microsoft.Network")
        && fixed(7, "virtualNetworks")
        && is_azure_vnet_name(parts[8]);
    ok.then(|| (parts[2], parts[4], parts[8]))
}

/// The rules for the account and network of a peer (or of a customer VPC in the
/// simulated clouds) in `provider`; each error names `prefix` + the field.
pub fn check_peer_fields(
    prefix: &str,
    provider: Provider,
    account_id: &str,
    network_id: &str,
    region: &str,
) -> Vec<FieldError> {
    let field = |name: &str| format!("{prefix}{name}");
    let mut errors = Vec::new();
    let mut usable = true;
    for (name, value) in [
        ("account_id", account_id),
        ("network_id", network_id),
        ("region", region),
    ] {
        if value.trim().is_empty() {
            errors.push(FieldError::new(
                field(name),
                "required",
                "must not be empty",
            ));
            usable = false;
        } else if value.len() > MAX_ID_LEN {
            errors.push(FieldError::new(
                field(name),
                "max-length",
                format!("must be at most {MAX_ID_LEN} bytes"),
            ));
            usable = false;
        } else if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            errors.push(FieldError::new(
                field(name),
                "no-whitespace",
                "must not contain spaces or control characters",
            ));
            usable = false;
        }
    }
    if !usable {
        return errors;
    }
    let mut refuse = |name: &str, rule: &str, what: String| {
        errors.push(FieldError::new(field(name), rule, what));
    };
    match provider {
        Provider::Local => {}
        Provider::Aws => {
            if !is_aws_account(account_id) {
                refuse(
                    "account_id",
                    "aws-account-id",
                    format!("{} is not an AWS account id (12 digits)", shown(account_id)),
                );
            }
            if !is_aws_vpc_id(network_id) {
                refuse(
                    "network_id",
                    "aws-vpc-id",
                    format!(
                        "{} is not an AWS VPC id ('vpc-' and 8 or 17 lowercase hex digits, e.g. vpc-0a1b2c3d)",
                        shown(network_id)
                    ),
                );
            }
        }
        Provider::Gcp => {
            if !is_gcp_project(account_id) {
                refuse(
                    "account_id",
                    "gcp-project-id",
                    format!(
                        "{} is not a GCP project id (6-30 lowercase letters, digits and '-', starting with a letter, not ending with '-')",
                        shown(account_id)
                    ),
                );
            }
            if !is_gcp_network(network_id) {
                refuse(
                    "network_id",
                    "gcp-network-name",
                    format!(
                        "{} is not a GCP network name (1-63 lowercase letters, digits and '-', starting with a letter, not ending with '-')",
                        shown(network_id)
                    ),
                );
            }
        }
        Provider::Azure => {
            if !is_guid(account_id) {
                refuse(
                    "account_id",
                    "azure-subscription-id",
                    format!(
                        "{} is not an Azure subscription id (a GUID, e.g. 0b1f6471-1bf0-4dda-aec3-cb9272f09590)",
                        shown(account_id)
                    ),
                );
            }
            if network_id.starts_with('/') {
                match azure_vnet_id_parts(network_id) {
                    None => refuse(
                        "network_id",
                        "azure-vnet",
                        format!(
                            "{} is not an Azure VNet resource id (/subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>)",
                            shown(network_id)
                        ),
                    ),
                    Some((subscription, _, _))
                        if is_guid(account_id)
                            && !subscription.eq_ignore_ascii_case(account_id) =>
                    {
                        refuse(
                            "network_id",
                            "azure-vnet-subscription",
                            format!(
                                "the VNet is in subscription {subscription}, not in account_id {account_id}"
                            ),
                        )
                    }
                    Some(_) => {}
                }
            } else if !is_azure_vnet_name(network_id) {
                refuse(
                    "network_id",
                    "azure-vnet",
                    format!(
                        "{} is not an Azure VNet name (2-64 letters, digits, '_', '.', '-') or resource id",
                        shown(network_id)
                    ),
                );
            }
        }
    }
    if provider != Provider::Local {
        if let Err(e) = check_region(&field("region"), provider, region) {
            errors.push(e);
        }
    }
    errors
}

/// A customer's VPC / VNet as a simulated cloud takes it: the peer formats for its
/// account, network and region, and an address space the cloud allows. Errors name the
/// bare fields (`account_id`, …, `cidr_block`).
pub fn check_customer_vpc(
    cloud: Provider,
    account_id: &str,
    network_id: &str,
    region: &str,
    cidr_block: &str,
) -> Result<Cidr, Vec<FieldError>> {
    let mut errors = check_peer_fields("", cloud, account_id, network_id, region);
    let cidr = cidr_block
        .parse::<Cidr>()
        .map_err(|e| FieldError::new("cidr_block", e.rule(), e.to_string()))
        .and_then(|c| check_vpc_size("cidr_block", cloud, &c).map(|_| c));
    match cidr {
        Ok(c) if errors.is_empty() => Ok(c),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e);
            Err(errors)
        }
    }
}

/// A peering's peer, checked against the formats of the network's provider.
pub fn check_peer(provider: Provider, peer: &PeerSpec) -> Vec<FieldError> {
    check_peer_fields(
        "peer.",
        provider,
        &peer.account_id,
        &peer.network_id,
        &peer.region,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(provider: Provider, account: &str, network: &str, region: &str) -> Vec<String> {
        check_peer_fields("peer.", provider, account, network, region)
            .into_iter()
            .map(|e| format!("{}:{}", e.field, e.rule))
            .collect()
    }

    #[test]
    fn aws_peers_need_a_12_digit_account_a_vpc_id_and_a_known_region() {
        assert!(rules(Provider::Aws, "123456789012", "vpc-0a1b2c3d", "us-east-1").is_empty());
        assert!(rules(
            Provider::Aws,
            "123456789012",
            "vpc-0a1b2c3d4e5f60718",
            "eu-west-2"
        )
        .is_empty());
        assert_eq!(
            rules(Provider::Aws, "12345678901", "vpc-0customer", "mars-1"),
            [
                "peer.account_id:aws-account-id",
                "peer.network_id:aws-vpc-id",
                "peer.region:known-region"
            ]
        );
        assert_eq!(
            rules(Provider::Aws, "123456789012", "vpc-0A1B2C3D", "us-east-1"),
            ["peer.network_id:aws-vpc-id"],
            "upper-case hex is not how AWS writes ids"
        );
    }

    #[test]
    fn gcp_peers_need_a_project_id_and_an_rfc1035_network_name() {
        assert!(rules(Provider::Gcp, "acme-prod", "default", "us-central1").is_empty());
        for bad in [
            "acme",
            "1acme-prod",
            "acme-prod-",
            "Acme-prod",
            "a".repeat(31).as_str(),
        ] {
            assert_eq!(
                rules(Provider::Gcp, bad, "default", "us-central1"),
                ["peer.account_id:gcp-project-id"],
                "{bad}"
            );
        }
        for bad in ["Default", "-net", "net-", "9net", "n".repeat(64).as_str()] {
            assert_eq!(
                rules(Provider::Gcp, "acme-prod", bad, "us-central1"),
                ["peer.network_id:gcp-network-name"],
                "{bad}"
            );
        }
    }

    #[test]
    fn azure_peers_need_a_subscription_guid_and_a_vnet_name_or_resource_id() {
        let sub = "0b1f6471-1bf0-4dda-aec3-111122223333";
        let id = format!(
            "/subscriptions/{sub}/resourceGroups/app-rg/providers/Microsoft.Network/virtualNetworks/app-vnet"
        );
        assert!(rules(Provider::Azure, sub, "app-vnet", "westeurope").is_empty());
        assert!(rules(Provider::Azure, sub, &id, "westeurope").is_empty());
        assert_eq!(
            rules(Provider::Azure, "sub-1", "app-vnet", "westeurope"),
            ["peer.account_id:azure-subscription-id"]
        );
        let other = id.replace(sub, "0b1f6471-1bf0-4dda-aec3-999999999999");
        assert_eq!(
            rules(Provider::Azure, sub, &other, "westeurope"),
            ["peer.network_id:azure-vnet-subscription"]
        );
        for bad in [
            "/subscriptions/x/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v1",
            "/etc/passwd",
            "a",
            "vnet;rm",
        ] {
            assert_eq!(
                rules(Provider::Azure, sub, bad, "westeurope"),
                ["peer.network_id:azure-vnet"],
                "{bad}"
            );
        }
    }

    #[test]
    fn local_peers_keep_their_own_free_form_names() {
        assert!(rules(Provider::Local, "lab", "lab-vpc-1", "host").is_empty());
        assert_eq!(
            rules(Provider::Local, "lab", "a b", "host"),
            ["peer.network_id:no-whitespace"]
        );
    }

    #[test]
    fn huge_or_control_values_are_refused_without_echoing_them() {
        let huge = "1".repeat(1 << 20);
        let errors = check_peer_fields("", Provider::Aws, &huge, "vpc-0a1b2c3d", "us-east-1");
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].field.as_str(), errors[0].rule.as_str()),
            ("account_id", "max-length")
        );
        assert!(errors[0].message.len() < 200);
        assert_eq!(
            rules(
                Provider::Aws,
                "123456789012",
                "vpc-0a1b2c3d\u{7}",
                "us-east-1"
            ),
            ["peer.network_id:no-whitespace"]
        );
    }

    #[test]
    fn unknown_regions_get_a_did_you_mean() {
        let e = check_region("region", Provider::Aws, "mars-1").unwrap_err();
        assert_eq!(e.rule, "known-region");
        assert!(e.message.contains("did you mean '"), "{}", e.message);
        let e = check_region("region", Provider::Aws, "us-east-7").unwrap_err();
        assert!(
            e.message.contains("did you mean 'us-east-1'?"),
            "{}",
            e.message
        );
        let e = check_region("region", Provider::Gcp, "us-central-1").unwrap_err();
        assert!(
            e.message.contains("did you mean 'us-central1'?"),
            "{}",
            e.message
        );
        let e = check_region("region", Provider::Azure, "westeuropa").unwrap_err();
        assert!(
            e.message.contains("did you mean 'westeurope'?"),
            "{}",
            e.message
        );
        assert!(check_region("region", Provider::Local, "host").is_ok());
    }

    #[test]
    fn zones_are_named_as_each_cloud_names_them() {
        let zones = |p, r| (0..4).map(|i| zone_name(p, r, i)).collect::<Vec<_>>();
        assert_eq!(
            zones(Provider::Aws, "us-east-1"),
            ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a"]
        );
        assert_eq!(
            zones(Provider::Gcp, "us-central1"),
            [
                "us-central1-a",
                "us-central1-b",
                "us-central1-c",
                "us-central1-a"
            ]
        );
        assert_eq!(zones(Provider::Azure, "westeurope"), ["1", "2", "3", "1"]);
    }

    #[test]
    fn aws_vpcs_are_between_16_and_28() {
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        assert!(check_vpc_size("cidr_block", Provider::Aws, &c("10.0.0.0/16")).is_ok());
        assert!(check_vpc_size("cidr_block", Provider::Aws, &c("10.0.0.0/28")).is_ok());
        let e = check_vpc_size("cidr_block", Provider::Aws, &c("10.0.0.0/8")).unwrap_err();
        assert_eq!(e.rule, "vpc-size");
        assert!(check_vpc_size("cidr_block", Provider::Aws, &c("10.0.0.0/29")).is_err());
        assert!(check_vpc_size("cidr_block", Provider::Gcp, &c("10.0.0.0/8")).is_ok());
    }
}

//! Networks: a VPC with the network's CIDR, a subnet per zone, one route table associated
//! with every subnet, and the security group of the cluster nodes, all tagged with the
//! network's id. `ensure` creates what is missing (so a part removed by hand comes back),
//! `observe` reports a missing part as not ready, `delete` removes them in dependency
//! order (a dependency still there is retried).

use async_trait::async_trait;
use isthmus_core::clouds::zone_name;
use isthmus_core::resources::{Network, Provider};
use isthmus_core::Cidr;
use isthmus_driver::{DriverError, NetworkObservation, NetworkState, Provisioner, Teardown};

use crate::xml::{self, tag, RouteTable, SecurityGroup, Subnet, Vpc};
use crate::{AwsDriver, Params, TAG_NETWORK, TAG_ZONE};

type Result<T> = std::result::Result<T, DriverError>;

/// AWS's smallest subnet.
const SMALLEST_SUBNET: u8 = 28;

/// What exists of one network in EC2 (found by tag).
pub(crate) struct Parts {
    pub vpc: Option<Vpc>,
    pub subnets: Vec<Subnet>,
    pub route_table: Option<RouteTable>,
    pub group: Option<SecurityGroup>,
}

impl Parts {
    /// What is missing around an existing VPC, in words (empty: nothing).
    fn missing(&self, net: &Network) -> Vec<String> {
        let mut missing = Vec::new();
        for (zone, cidr) in zone_subnets(net) {
            if !self
                .subnets
                .iter()
                .any(|s| s.cidr_block == cidr.to_string())
            {
                missing.push(format!("subnet {cidr} in {zone}"));
            }
        }
        match &self.route_table {
            None => missing.push("route table".into()),
            Some(rt) => {
                for s in &self.subnets {
                    let associated = rt
                        .association_set
                        .item
                        .iter()
                        .any(|a| a.subnet_id.as_deref() == Some(s.subnet_id.as_str()));
                    if !associated {
                        missing.push(format!("route table association of {}", s.subnet_id));
                    }
                }
            }
        }
        if self.group.is_none() {
            missing.push("security group".into());
        }
        missing
    }
}

/// The subnets of a network: its CIDR in quarters (never smaller than AWS allows), spread
/// over the region's zones as the nodes are.
pub(crate) fn zone_subnets(net: &Network) -> Vec<(String, Cidr)> {
    split(&net.cidr_block, &net.region)
}

fn split(cidr: &Cidr, region: &str) -> Vec<(String, Cidr)> {
    let len = cidr.prefix_len();
    let sub_len = (len + 2).min(SMALLEST_SUBNET).max(len);
    let count = 1u32 << (sub_len - len);
    let step = 1u64 << (32 - u32::from(sub_len));
    (0..count)
        .map(|i| {
            let start = u64::from(cidr.start()) + u64::from(i) * step;
            let addr = std::net::Ipv4Addr::from(start as u32);
            let sub = Cidr::new(addr, sub_len).expect("a quarter of a valid CIDR");
            (zone_name(Provider::Aws, region, i as usize), sub)
        })
        .collect()
}

fn ours(tags: &xml::Items<xml::Tag>, net: &Network) -> bool {
    tag(tags, TAG_NETWORK) == Some(net.id.to_string().as_str())
}

fn network_tags(net: &Network) -> Vec<(&'static str, String)> {
    vec![
        (TAG_NETWORK, net.id.to_string()),
        ("Name", format!("isthmus-{}", net.id)),
    ]
}

impl AwsDriver {
    fn by_network(net: &Network) -> Params {
        Params::new().filters(&[("tag:isthmus:network-id", net.id.to_string())])
    }

    pub(crate) async fn parts(&self, net: &Network) -> Result<Parts> {
        let r = &net.region;
        let what = format!("look up network {}", net.id);
        let vpcs: xml::DescribeVpcs = self
            .call(r, "DescribeVpcs", Self::by_network(net), &what)
            .await?;
        let vpc = vpcs
            .vpc_set
            .item
            .into_iter()
            .find(|v| ours(&v.tag_set, net));
        let Some(vpc_id) = vpc.as_ref().map(|v| v.vpc_id.clone()) else {
            return Ok(Parts {
                vpc: None,
                subnets: vec![],
                route_table: None,
                group: None,
            });
        };
        let subnets: xml::DescribeSubnets = self
            .call(r, "DescribeSubnets", Self::by_network(net), &what)
            .await?;
        let tables: xml::DescribeRouteTables = self
            .call(r, "DescribeRouteTables", Self::by_network(net), &what)
            .await?;
        let groups: xml::DescribeSecurityGroups = self
            .call(r, "DescribeSecurityGroups", Self::by_network(net), &what)
            .await?;
        Ok(Parts {
            vpc,
            subnets: subnets
                .subnet_set
                .item
                .into_iter()
                .filter(|s| ours(&s.tag_set, net) && s.vpc_id == vpc_id)
                .collect(),
            route_table: tables
                .route_table_set
                .item
                .into_iter()
                .find(|t| ours(&t.tag_set, net) && t.vpc_id == vpc_id),
            group: groups
                .security_group_info
                .item
                .into_iter()
                .find(|g| ours(&g.tag_set, net) && g.vpc_id == vpc_id),
        })
    }

    fn observation(&self, net: &Network, parts: &Parts) -> NetworkObservation {
        let Some(vpc) = &parts.vpc else {
            return NetworkObservation {
                state: NetworkState::Missing,
                provider_network_id: None,
                message: format!("no VPC tagged {TAG_NETWORK}={} in {}", net.id, net.region),
            };
        };
        let missing = parts.missing(net);
        let (state, message) = if vpc.state != "available" && !vpc.state.is_empty() {
            (
                NetworkState::Creating,
                format!("{} is {}", vpc.vpc_id, vpc.state),
            )
        } else if !missing.is_empty() {
            (
                NetworkState::Creating,
                format!("{} lacks its {}", vpc.vpc_id, missing.join(", ")),
            )
        } else {
            (
                NetworkState::Ready,
                format!("{} is available in {}", vpc.vpc_id, net.region),
            )
        };
        NetworkObservation {
            state,
            provider_network_id: Some(vpc.vpc_id.clone()),
            message,
        }
    }

    async fn create_missing(&self, net: &Network, mut parts: Parts) -> Result<Parts> {
        let r = &net.region;
        let what = format!("create network {}", net.id);
        let vpc_id = match &parts.vpc {
            Some(v) => v.vpc_id.clone(),
            None => {
                let p = Params::new()
                    .set("CidrBlock", net.cidr_block.to_string())
                    .tags("vpc", &network_tags(net));
                let created: xml::CreateVpc = self.call(r, "CreateVpc", p, &what).await?;
                let id = created.vpc.vpc_id.clone();
                parts.vpc = Some(created.vpc);
                id
            }
        };
        for (zone, cidr) in zone_subnets(net) {
            if parts
                .subnets
                .iter()
                .any(|s| s.cidr_block == cidr.to_string())
            {
                continue;
            }
            let mut tags = network_tags(net);
            tags.push((TAG_ZONE, zone.clone()));
            let p = Params::new()
                .set("VpcId", &vpc_id)
                .set("CidrBlock", cidr.to_string())
                .set("AvailabilityZone", &zone)
                .tags("subnet", &tags);
            let created: xml::CreateSubnet = self.call(r, "CreateSubnet", p, &what).await?;
            parts.subnets.push(created.subnet);
        }
        let table_id = match &parts.route_table {
            Some(t) => t.route_table_id.clone(),
            None => {
                let p = Params::new()
                    .set("VpcId", &vpc_id)
                    .tags("route-table", &network_tags(net));
                let created: xml::CreateRouteTable =
                    self.call(r, "CreateRouteTable", p, &what).await?;
                let id = created.route_table.route_table_id.clone();
                parts.route_table = Some(created.route_table);
                id
            }
        };
        let associated: Vec<String> = parts
            .route_table
            .iter()
            .flat_map(|t| t.association_set.item.iter())
            .filter_map(|a| a.subnet_id.clone())
            .collect();
        for s in &parts.subnets {
            if !associated.contains(&s.subnet_id) {
                let p = Params::new()
                    .set("RouteTableId", &table_id)
                    .set("SubnetId", &s.subnet_id);
                let _: xml::Ignored = self.call(r, "AssociateRouteTable", p, &what).await?;
            }
        }
        if parts.group.is_none() {
            let p = Params::new()
                .set("GroupName", format!("isthmus-{}", net.id))
                .set(
                    "GroupDescription",
                    format!("Isthmus cluster nodes of {}", net.id),
                )
                .set("VpcId", &vpc_id)
                .tags("security-group", &network_tags(net));
            match self
                .ec2
                .call::<xml::Ignored>(r, "CreateSecurityGroup", &p)
                .await
            {
                // The name is ours: a predecessor made it and lost its tag? Adopt at the
                // next look-up (its tag is put back there is no call for; report it).
                Err(e) if e.is("InvalidGroup.Duplicate") => {
                    return Err(DriverError::Transient(format!(
                        "{what}: security group isthmus-{} exists without its tag",
                        net.id
                    )))
                }
                Err(e) => return Err(e.into_driver(&what)),
                Ok(_) => {}
            }
        }
        Ok(parts)
    }
}

#[async_trait]
impl Provisioner<Network> for AwsDriver {
    async fn ensure(&self, net: &Network, _: &()) -> Result<NetworkObservation> {
        let parts = self.parts(net).await?;
        if parts.vpc.is_none() || !parts.missing(net).is_empty() {
            self.create_missing(net, parts).await?;
        }
        let parts = self.parts(net).await?;
        Ok(self.observation(net, &parts))
    }

    async fn observe(&self, net: &Network, _: &()) -> Result<NetworkObservation> {
        let parts = self.parts(net).await?;
        Ok(self.observation(net, &parts))
    }

    async fn delete(&self, net: &Network, _: &()) -> Result<Teardown> {
        let parts = self.parts(net).await?;
        let Some(vpc) = &parts.vpc else {
            return Ok(Teardown::Done);
        };
        let r = &net.region;
        let what = format!("delete network {}", net.id);
        if let Some(g) = &parts.group {
            let p = Params::new().set("GroupId", &g.group_id);
            self.gone_ok(r, "DeleteSecurityGroup", p, &what).await?;
        }
        // A route table with associations cannot go (EC2 keeps them past the subnet).
        for a in parts
            .route_table
            .iter()
            .flat_map(|t| t.association_set.item.iter())
            .filter(|a| a.subnet_id.is_some() && !a.route_table_association_id.is_empty())
        {
            let p = Params::new().set("AssociationId", &a.route_table_association_id);
            self.gone_ok(r, "DisassociateRouteTable", p, &what).await?;
        }
        for s in &parts.subnets {
            let p = Params::new().set("SubnetId", &s.subnet_id);
            self.gone_ok(r, "DeleteSubnet", p, &what).await?;
        }
        if let Some(t) = &parts.route_table {
            let p = Params::new().set("RouteTableId", &t.route_table_id);
            self.gone_ok(r, "DeleteRouteTable", p, &what).await?;
        }
        let p = Params::new().set("VpcId", &vpc.vpc_id);
        self.gone_ok(r, "DeleteVpc", p, &what).await?;
        Ok(Teardown::Done)
    }
}

impl AwsDriver {
    /// A delete whose target is already gone is done.
    pub(crate) async fn gone_ok(
        &self,
        region: &str,
        action: &str,
        params: Params,
        what: &str,
    ) -> Result<()> {
        match self.ec2.call::<xml::Ignored>(region, action, &params).await {
            Ok(_) => Ok(()),
            Err(e) if e.code.ends_with(".NotFound") => Ok(()),
            Err(e) => Err(e.into_driver(&format!("{action} to {what}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_of(cidr: &str) -> Vec<(String, Cidr)> {
        split(&cidr.parse().unwrap(), "eu-west-1")
    }

    #[test]
    fn a_network_is_split_into_zone_subnets_no_smaller_than_aws_allows() {
        let quarters: Vec<(String, String)> = split_of("10.20.0.0/16")
            .into_iter()
            .map(|(z, c)| (z, c.to_string()))
            .collect();
        assert_eq!(
            quarters,
            [
                ("eu-west-1a", "10.20.0.0/18"),
                ("eu-west-1b", "10.20.64.0/18"),
                ("eu-west-1c", "10.20.128.0/18"),
                ("eu-west-1a", "10.20.192.0/18"),
            ]
            .map(|(z, c)| (z.to_string(), c.to_string()))
        );
        let smallest = split_of("10.20.0.0/28");
        assert_eq!(smallest.len(), 1);
        assert_eq!(smallest[0].1.to_string(), "10.20.0.0/28");
        assert_eq!(split_of("10.20.0.0/27").len(), 2);
    }
}

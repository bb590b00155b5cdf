//! Our side of an active peering: a route per peering route in the network's route
//! table, pointing at the live connection, and an ingress rule per route in its security
//! group. [`drift`] compares what EC2 shows with the spec; [`AwsDriver::sync`] changes
//! exactly what differs (and, with no live connection, removes them all).

use isthmus_core::resources::{Network, Peering};
use isthmus_driver::DriverError;

use super::Result;
use crate::network::Parts;
use crate::xml::{self, PeeringConnection};
use crate::{AwsDriver, Params};

/// The ingress rules of one peering carry this description.
fn rule_description(p: &Peering) -> String {
    format!("isthmus peering {}", p.id)
}

/// How our side of an active connection differs from the spec.
pub(super) struct Drift {
    routes_to_add: Vec<String>,
    /// (destination, connection) of routes to remove.
    routes_to_remove: Vec<String>,
    rules_to_add: Vec<String>,
    rules_to_remove: Vec<String>,
}

impl Drift {
    /// Each difference with the words `describe` uses for it.
    fn labelled(&self) -> [(&'static str, &[String]); 4] {
        [
            ("routes missing", &self.routes_to_add),
            ("routes extra", &self.routes_to_remove),
            ("ingress missing", &self.rules_to_add),
            ("ingress extra", &self.rules_to_remove),
        ]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.labelled().iter().all(|(_, cidrs)| cidrs.is_empty())
    }

    pub(super) fn describe(&self) -> String {
        let said: Vec<String> = self
            .labelled()
            .iter()
            .filter(|(_, cidrs)| !cidrs.is_empty())
            .map(|(label, cidrs)| format!("{label}: {}", cidrs.join(", ")))
            .collect();
        said.join("; ")
    }
}

/// Our routes and rules for `p` against what `parts` shows; `live` is the connection
/// the routes should point at (None: none should exist).
pub(super) fn drift(
    p: &Peering,
    parts: &Parts,
    all: &[PeeringConnection],
    live: Option<&str>,
) -> Drift {
    let want: Vec<String> = match live {
        Some(_) => p.routes.iter().map(|r| r.to_string()).collect(),
        None => vec![],
    };
    let ours: Vec<&str> = all
        .iter()
        .map(|c| c.vpc_peering_connection_id.as_str())
        .collect();
    let routes = parts
        .route_table
        .iter()
        .flat_map(|t| t.route_set.item.iter())
        .filter(|r| {
            r.vpc_peering_connection_id
                .as_deref()
                .is_some_and(|id| ours.contains(&id))
        });
    let mut routes_to_remove = Vec::new();
    let mut have_routes = Vec::new();
    for r in routes {
        if want.contains(&r.destination_cidr_block)
            && r.vpc_peering_connection_id.as_deref() == live
        {
            have_routes.push(r.destination_cidr_block.clone());
        } else {
            routes_to_remove.push(r.destination_cidr_block.clone());
        }
    }
    let description = rule_description(p);
    let have_rules: Vec<String> = parts
        .group
        .iter()
        .flat_map(|g| g.ip_permissions.item.iter())
        .filter(|perm| perm.ip_protocol == "-1")
        .flat_map(|perm| perm.ip_ranges.item.iter())
        .filter(|range| range.description.as_deref() == Some(description.as_str()))
        .map(|range| range.cidr_ip.clone())
        .collect();
    Drift {
        routes_to_add: want
            .iter()
            .filter(|w| !have_routes.contains(w))
            .cloned()
            .collect(),
        routes_to_remove,
        rules_to_add: want
            .iter()
            .filter(|w| !have_rules.contains(w))
            .cloned()
            .collect(),
        rules_to_remove: have_rules
            .iter()
            .filter(|h| !want.contains(h))
            .cloned()
            .collect(),
    }
}

fn ingress(group_id: &str, cidr: &str) -> Params {
    Params::new()
        .set("GroupId", group_id)
        .set("IpPermissions.1.IpProtocol", "-1")
        .set("IpPermissions.1.IpRanges.1.CidrIp", cidr)
}

impl AwsDriver {
    /// Makes our routes and rules for `p` what `live` (or no connection) calls for.
    pub(super) async fn sync(
        &self,
        p: &Peering,
        net: &Network,
        parts: &Parts,
        all: &[PeeringConnection],
        live: Option<&str>,
    ) -> Result<()> {
        let d = drift(p, parts, all, live);
        let r = &net.region;
        let what = format!("route peering {}", p.id);
        if let Some(table) = &parts.route_table {
            for cidr in &d.routes_to_remove {
                let params = Params::new()
                    .set("RouteTableId", &table.route_table_id)
                    .set("DestinationCidrBlock", cidr);
                self.gone_ok(r, "DeleteRoute", params, &what).await?;
            }
            if let Some(pcx) = live {
                for cidr in &d.routes_to_add {
                    let params = Params::new()
                        .set("RouteTableId", &table.route_table_id)
                        .set("DestinationCidrBlock", cidr)
                        .set("VpcPeeringConnectionId", pcx);
                    match self
                        .ec2
                        .call::<xml::Ignored>(r, "CreateRoute", &params)
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.is("RouteAlreadyExists") => {
                            return Err(DriverError::Invalid(format!(
                                "{what}: {cidr} is already routed elsewhere in {} ({e})",
                                table.route_table_id
                            )))
                        }
                        Err(e) => return Err(e.into_driver(&what)),
                    }
                }
            }
        }
        if let Some(group) = &parts.group {
            for cidr in &d.rules_to_remove {
                let params = ingress(&group.group_id, cidr);
                self.ingress_change(
                    r,
                    "RevokeSecurityGroupIngress",
                    params,
                    "InvalidPermission.NotFound",
                    &what,
                )
                .await?;
            }
            for cidr in &d.rules_to_add {
                let params = ingress(&group.group_id, cidr).set(
                    "IpPermissions.1.IpRanges.1.Description",
                    rule_description(p),
                );
                self.ingress_change(
                    r,
                    "AuthorizeSecurityGroupIngress",
                    params,
                    "InvalidPermission.Duplicate",
                    &what,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Revokes or authorizes one ingress rule; EC2's `done` error (the rule is already
    /// gone, or already there) means the change is made.
    async fn ingress_change(
        &self,
        region: &str,
        action: &str,
        params: Params,
        done: &str,
        what: &str,
    ) -> Result<()> {
        match self.ec2.call::<xml::Ignored>(region, action, &params).await {
            Err(e) if !e.is(done) => Err(e.into_driver(what)),
            _ => Ok(()),
        }
    }
}

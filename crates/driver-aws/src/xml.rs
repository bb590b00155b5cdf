//! The parts of EC2's XML answers the driver reads (unknown elements are skipped). EC2
//! writes lists as `<fooSet><item>…</item></fooSet>` and names in camelCase.

use serde::Deserialize;

/// A `…Set` of `<item>`s (absent or empty: no items).
#[derive(Debug, Deserialize)]
pub struct Items<T> {
    #[serde(default = "Vec::new")]
    pub item: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items { item: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// The value of tag `key` among `tags`.
pub fn tag<'a>(tags: &'a Items<Tag>, key: &str) -> Option<&'a str> {
    tags.item
        .iter()
        .find(|t| t.key == key)
        .map(|t| t.value.as_str())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vpc {
    pub vpc_id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub tag_set: Items<Tag>,
}

#[derive(Debug, Deserialize)]
pub struct CreateVpc {
    pub vpc: Vpc,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeVpcs {
    #[serde(default)]
    pub vpc_set: Items<Vpc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub subnet_id: String,
    #[serde(default)]
    pub vpc_id: String,
    #[serde(default)]
    pub cidr_block: String,
    #[serde(default)]
    pub tag_set: Items<Tag>,
}

#[derive(Debug, Deserialize)]
pub struct CreateSubnet {
    pub subnet: Subnet,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSubnets {
    #[serde(default)]
    pub subnet_set: Items<Subnet>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    #[serde(default)]
    pub destination_cidr_block: String,
    #[serde(default)]
    pub vpc_peering_connection_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Association {
    #[serde(default)]
    pub route_table_association_id: String,
    #[serde(default)]
    pub subnet_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    pub route_table_id: String,
    #[serde(default)]
    pub vpc_id: String,
    #[serde(default)]
    pub route_set: Items<Route>,
    #[serde(default)]
    pub association_set: Items<Association>,
    #[serde(default)]
    pub tag_set: Items<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRouteTable {
    pub route_table: RouteTable,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRouteTables {
    #[serde(default)]
    pub route_table_set: Items<RouteTable>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpRange {
    pub cidr_ip: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPermission {
    #[serde(default)]
    pub ip_protocol: String,
    #[serde(default)]
    pub ip_ranges: Items<IpRange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    pub group_id: String,
    #[serde(default)]
    pub vpc_id: String,
    #[serde(default)]
    pub ip_permissions: Items<IpPermission>,
    #[serde(default)]
    pub tag_set: Items<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSecurityGroups {
    #[serde(default)]
    pub security_group_info: Items<SecurityGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub network_interface_id: String,
    #[serde(default)]
    pub private_ip_address: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub tag_set: Items<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeNetworkInterfaces {
    #[serde(default)]
    pub network_interface_set: Items<NetworkInterface>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PeeringStatus {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcInfo {
    #[serde(default)]
    pub owner_id: String,
    #[serde(default)]
    pub region: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeeringConnection {
    pub vpc_peering_connection_id: String,
    #[serde(default)]
    pub status: PeeringStatus,
    #[serde(default)]
    pub accepter_vpc_info: VpcInfo,
    #[serde(default)]
    pub tag_set: Items<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePeeringConnection {
    pub vpc_peering_connection: PeeringConnection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribePeeringConnections {
    #[serde(default)]
    pub vpc_peering_connection_set: Items<PeeringConnection>,
}

/// Answers whose content the driver does not need (`<return>true</return>`).
#[derive(Debug, Deserialize)]
pub struct Ignored {}

#[derive(Debug, Deserialize)]
struct ErrorResponse {
    #[serde(rename = "Errors")]
    errors: ErrorList,
}

#[derive(Debug, Deserialize)]
struct ErrorList {
    #[serde(rename = "Error", default)]
    error: Vec<ErrorBody>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// EC2's error code and message in an error answer.
pub fn error_of(xml: &str) -> Option<(String, String)> {
    let r: ErrorResponse = quick_xml::de::from_str(xml).ok()?;
    r.errors
        .error
        .into_iter()
        .next()
        .map(|e| (e.code, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_gives_its_code_and_message() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-1' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
        assert_eq!(
            error_of(xml),
            Some((
                "InvalidVpcID.NotFound".into(),
                "The vpc ID 'vpc-1' does not exist".into()
            ))
        );
        assert_eq!(error_of("<html>bad gateway</html>"), None);
    }

    #[test]
    fn sets_of_items_and_tags_are_read() {
        let xml = r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId>
  <vpcSet>
    <item><vpcId>vpc-1</vpcId><state>available</state><cidrBlock>10.0.0.0/16</cidrBlock>
      <tagSet><item><key>isthmus:network-id</key><value>n1</value></item></tagSet></item>
    <item><vpcId>vpc-2</vpcId><state>pending</state><cidrBlock>10.1.0.0/16</cidrBlock><tagSet/></item>
  </vpcSet>
</DescribeVpcsResponse>"#;
        let r: DescribeVpcs = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(r.vpc_set.item.len(), 2);
        assert_eq!(
            tag(&r.vpc_set.item[0].tag_set, "isthmus:network-id"),
            Some("n1")
        );
        assert_eq!(r.vpc_set.item[1].state, "pending");
        assert!(r.vpc_set.item[1].tag_set.item.is_empty());
    }
}

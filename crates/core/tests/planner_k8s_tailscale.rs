//! `isthmus plan k8s` and `isthmus plan tailscale`, pinned by the text a user reads.

use isthmus_core::planner::k8s::{plan_k8s, render_k8s, Coverage, K8sRanges};
use isthmus_core::planner::tailscale::render_tailscale;
use isthmus_core::resources::Provider;
use isthmus_core::Cidr;

fn c(s: &str) -> Cidr {
    s.parse().unwrap()
}

/// The Event Store Cloud GKE example: pods 172.30.0.0/16, nodes 172.31.0.0/17, services
/// 172.31.128.0/17 — one /15 covers all three. The peering was made for the pods only.
fn gke() -> K8sRanges {
    K8sRanges {
        nodes: c("172.31.0.0/17"),
        pods: c("172.30.0.0/16"),
        services: Some(c("172.31.128.0/17")),
    }
}

#[test]
fn the_gke_example_is_covered_by_one_slash_15_split_16_17_17() {
    let routes = [c("172.30.0.0/16")];
    let plan = plan_k8s(&gke(), Some(&routes)).unwrap();
    assert_eq!(plan.routes_to_use, [c("172.30.0.0/15")]);
    assert_eq!(
        plan.coverage.as_ref().unwrap()[1],
        ("pods", Coverage::Covered(c("172.30.0.0/16")))
    );
    assert_eq!(
        render_k8s(&plan),
        "\
ranges:
  nodes     172.31.0.0/17       32768 addresses
  pods      172.30.0.0/16       65536 addresses
  services  172.31.128.0/17     32768 addresses
covered by the peering's routes:
  nodes     no
  pods      yes (by 172.30.0.0/16)
  services  no
routes to use: 172.30.0.0/15
update the peering: isthmus peering update <peering-id> --route 172.30.0.0/15

172.30.0.0/15 laid out (isthmus plan split 172.30.0.0/15 --into 16,17,17):
subnet           range                          usable range                   hosts  role
172.30.0.0/16    172.30.0.0 - 172.30.255.255    172.30.0.1 - 172.30.255.254    65534  pods
172.31.0.0/17    172.31.0.0 - 172.31.127.255    172.31.0.1 - 172.31.127.254    32766  nodes
172.31.128.0/17  172.31.128.0 - 172.31.255.255  172.31.128.1 - 172.31.255.254  32766  services
"
    );
}

#[test]
fn pods_and_services_next_to_each_other_are_covered_apart_from_the_node_subnet() {
    // Nodes in the VPC's primary range; pods /16 and services /17 as secondary ranges.
    let ranges = K8sRanges {
        nodes: c("10.0.0.0/24"),
        pods: c("172.30.0.0/16"),
        services: Some(c("172.31.128.0/17")),
    };
    let routes = [c("10.0.0.0/24"), c("172.30.0.0/16")];
    let plan = plan_k8s(&ranges, Some(&routes)).unwrap();
    assert_eq!(plan.routes_to_use, [c("10.0.0.0/24"), c("172.30.0.0/15")]);
    assert_eq!(
        plan.new_routes,
        Some(vec![c("10.0.0.0/24"), c("172.30.0.0/15")])
    );
    let text = render_k8s(&plan);
    assert!(
        text.contains("172.30.0.0/15 laid out (isthmus plan split 172.30.0.0/15 --into 16,17,17):"),
        "{text}"
    );
    assert!(text.contains("172.31.0.0/17    172.31.0.0 - 172.31.127.255    172.31.0.1 - 172.31.127.254    32766  free"), "{text}");
}

#[test]
fn routes_that_already_cover_everything_are_left_alone() {
    let routes = [c("172.30.0.0/15")];
    let plan = plan_k8s(&gke(), Some(&routes)).unwrap();
    assert_eq!(plan.new_routes, None);
    assert!(render_k8s(&plan).contains("the peering's routes already cover every range\n"));
}

#[test]
fn a_range_split_across_routes_is_partly_covered() {
    let routes = [c("172.30.0.0/17")];
    let plan = plan_k8s(&gke(), Some(&routes)).unwrap();
    assert_eq!(
        plan.coverage.unwrap()[1],
        ("pods", Coverage::Partly(vec![c("172.30.0.0/17")]))
    );
}

#[test]
fn ranges_far_apart_are_routed_one_by_one_and_unchecked_without_routes() {
    let ranges = K8sRanges {
        nodes: c("10.0.0.0/24"),
        pods: c("192.168.0.0/16"),
        services: None,
    };
    let plan = plan_k8s(&ranges, None).unwrap();
    assert_eq!(plan.routes_to_use, [c("10.0.0.0/24"), c("192.168.0.0/16")]);
    assert!(plan.layouts.is_empty());
    assert_eq!(
        render_k8s(&plan),
        "\
ranges:
  nodes     10.0.0.0/24         256 addresses
  pods      192.168.0.0/16      65536 addresses
peering routes: not given (--peering-routes or --peering); coverage not checked
routes to use: 10.0.0.0/24, 192.168.0.0/16
"
    );
}

#[test]
fn overlapping_ranges_are_refused_naming_both() {
    let ranges = K8sRanges {
        nodes: c("10.0.0.0/16"),
        pods: c("10.0.128.0/17"),
        services: None,
    };
    let err = plan_k8s(&ranges, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("the pods range 10.0.128.0/17 overlaps the nodes range 10.0.0.0/16"),
        "{err}"
    );
}

#[test]
fn tailscale_on_aws_turns_off_the_source_dest_check() {
    let out = render_tailscale(
        c("172.29.98.0/24"),
        &[c("10.10.0.0/16"), c("10.20.0.0/16")],
        Provider::Aws,
    )
    .unwrap();
    assert_eq!(
        out,
        "\
# on the subnet-router VM in the peered aws VPC
echo 'net.ipv4.ip_forward = 1' | sudo tee -a /etc/sysctl.d/99-tailscale.conf
echo 'net.ipv6.conf.all.forwarding = 1' | sudo tee -a /etc/sysctl.d/99-tailscale.conf
sudo sysctl -p /etc/sysctl.d/99-tailscale.conf
sudo tailscale up --advertise-routes=172.29.98.0/24,10.10.0.0/16,10.20.0.0/16 --accept-routes
# then approve the routes in the Tailscale admin console (Machines → Edit route settings)
# AWS: let the instance forward traffic that is not addressed to it
aws ec2 modify-instance-attribute --instance-id <INSTANCE_ID> --no-source-dest-check
"
    );
}

#[test]
fn tailscale_on_gcp_and_azure_turns_on_ip_forwarding() {
    let platform = c("172.29.98.0/24");
    let routes = [c("10.10.0.0/16")];
    let gcp = render_tailscale(platform, &routes, Provider::Gcp).unwrap();
    assert!(
        gcp.ends_with("gcloud compute instances create <VM_NAME> --zone <ZONE> --can-ip-forward\n")
    );
    let azure = render_tailscale(platform, &routes, Provider::Azure).unwrap();
    assert!(azure.ends_with(
        "az network nic update --resource-group <RESOURCE_GROUP> --name <NIC_NAME> --ip-forwarding true\n"
    ));
    for out in [gcp, azure] {
        assert!(out.contains(
            "sudo tailscale up --advertise-routes=172.29.98.0/24,10.10.0.0/16 --accept-routes\n"
        ));
    }
    assert!(render_tailscale(platform, &routes, Provider::Local).is_err());
}

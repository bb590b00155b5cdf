//! `isthmus plan tailscale`: the commands that turn a VM in the peered VPC into a
//! Tailscale subnet router, so tailnet clients reach the platform over the peering.
//!
//! Tailscale masquerades tailnet clients behind the router (`--snat-subnet-routes`, on by
//! default), so the platform sees the VM's own address — which the peering's routes
//! already admit. The VM must forward packets: the kernel (sysctl) and the cloud (AWS
//! source/destination check off, GCP IP forwarding, Azure NIC IP forwarding) both.

use crate::resources::Provider;
use crate::{Cidr, CoreError};

/// The commands, in the order to run them. Lines starting with `#` say why.
pub fn render_tailscale(
    platform_cidr: Cidr,
    peer_routes: &[Cidr],
    provider: Provider,
) -> Result<String, CoreError> {
    let vm_settings = match provider {
        Provider::Aws => vec![
            "# AWS: let the instance forward traffic that is not addressed to it",
            "aws ec2 modify-instance-attribute --instance-id <INSTANCE_ID> --no-source-dest-check",
        ],
        Provider::Gcp => vec![
            "# GCP: IP forwarding is set when the VM is created",
            "gcloud compute instances create <VM_NAME> --zone <ZONE> --can-ip-forward",
        ],
        Provider::Azure => vec![
            "# Azure: enable IP forwarding on the VM's network interface",
            "az network nic update --resource-group <RESOURCE_GROUP> --name <NIC_NAME> --ip-forwarding true",
        ],
        Provider::Local => {
            return Err(CoreError::invalid(
                "provider",
                "cloud-provider",
                "a Tailscale subnet router runs in a cloud VPC: give aws, gcp or azure",
            ))
        }
    };
    let advertised: Vec<String> = std::iter::once(platform_cidr)
        .chain(peer_routes.iter().copied())
        .map(|c| c.to_string())
        .collect();
    let mut lines = vec![
        format!("# on the subnet-router VM in the peered {provider} VPC"),
        "echo 'net.ipv4.ip_forward = 1' | sudo tee -a /etc/sysctl.d/99-tailscale.conf".into(),
        "echo 'net.ipv6.conf.all.forwarding = 1' | sudo tee -a /etc/sysctl.d/99-tailscale.conf"
            .into(),
        "sudo sysctl -p /etc/sysctl.d/99-tailscale.conf".into(),
        format!(
            "sudo tailscale up --advertise-routes={} --accept-routes",
            advertised.join(",")
        ),
        "# then approve the routes in the Tailscale admin console (Machines → Edit route settings)"
            .into(),
    ];
    lines.extend(vm_settings.into_iter().map(String::from));
    Ok(lines.join("\n") + "\n")
}

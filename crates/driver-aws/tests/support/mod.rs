//! moto's EC2 server, started by the test on a free loopback port and killed when the
//! guard drops (also when the test fails). Without moto the test fails: CI installs it
//! (scripts/setup), and a skipped test would prove nothing.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use isthmus_driver_aws::{AwsConfig, AwsDriver, Credentials, Ec2, Params};

/// The platform's account in moto (its default) and a customer's.
pub const PLATFORM_ACCOUNT: &str = "123456789012";
pub const CUSTOMER_ACCOUNT: &str = "210987654321";
pub const REGION: &str = "eu-west-1";

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// moto with extra environment (e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0`: check keys).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let python = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| {
            // Where scripts/setup puts moto when the system python3 lacks it.
            let venv = "/opt/isthmus-moto/bin/python3";
            if std::path::Path::new(venv).exists() {
                venv.into()
            } else {
                "python3".into()
            }
        });
        let mut child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start moto with {python} (scripts/setup installs it): {e}")
            });
        let mut lines = BufReader::new(child.stderr.take().expect("moto's stderr")).lines();
        let mut said = Vec::new();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!(
                    "moto ended before serving (is it installed? `pip install 'moto[server]'`):\n{}",
                    said.join("\n")
                );
            };
            if let Some(at) = line.find("Running on ") {
                break line[at + "Running on ".len()..].trim().to_string();
            }
            said.push(line);
        };
        // moto logs every request to stderr: keep reading so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Moto { child, url }
    }

    pub fn config(&self) -> AwsConfig {
        AwsConfig::new(
            Credentials {
                access_key_id: "AKIAISTHMUSTEST00000".into(),
                secret_access_key: "isthmus-test-secret".into(),
                session_token: None,
            },
            Some(self.url.clone()),
        )
    }

    /// A fresh driver, as a restarted server would make.
    pub fn driver(&self) -> Arc<AwsDriver> {
        AwsDriver::new(self.config())
    }

    /// The customer's EC2 (moto takes the account from `x-moto-account-id`).
    pub fn customer(&self) -> Ec2 {
        Ec2::new(self.config()).as_moto_account(CUSTOMER_ACCOUNT)
    }

    /// The platform account's EC2, for looking and for changes made "by hand".
    pub fn platform(&self) -> Ec2 {
        Ec2::new(self.config())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The customer creates a VPC in their account; returns its id.
pub async fn customer_vpc(customer: &Ec2, cidr: &str) -> String {
    let xml: String = raw(customer, "CreateVpc", Params::new().set("CidrBlock", cidr)).await;
    between(&xml, "<vpcId>", "</vpcId>")
}

/// The customer acts on a connection: `AcceptVpcPeeringConnection`,
/// `RejectVpcPeeringConnection` or `DeleteVpcPeeringConnection`.
pub async fn customer_does(customer: &Ec2, action: &str, pcx: &str) {
    raw(
        customer,
        action,
        Params::new().set("VpcPeeringConnectionId", pcx),
    )
    .await;
}

/// An EC2 call whose answer the test reads as text.
pub async fn raw(ec2: &Ec2, action: &str, params: Params) -> String {
    ec2.call_text(REGION, action, &params)
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// Every peering connection the platform account sees, as (id, state).
pub async fn platform_connections(platform: &Ec2) -> Vec<(String, String)> {
    let found: isthmus_driver_aws::xml::DescribePeeringConnections = platform
        .call(REGION, "DescribeVpcPeeringConnections", &Params::new())
        .await
        .unwrap();
    found
        .vpc_peering_connection_set
        .item
        .into_iter()
        .map(|c| (c.vpc_peering_connection_id, c.status.code))
        .collect()
}

pub fn between(xml: &str, open: &str, close: &str) -> String {
    let start = xml
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {xml}"))
        + open.len();
    let end = xml[start..].find(close).expect("closed") + start;
    xml[start..end].to_string()
}

// ---- the controller on moto ----

use std::time::Duration;

use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::{ClusterStatus, NetworkStatus, PeeringStatus};
use isthmus_server::controller::ControllerConfig;
use isthmus_test_support::{deref_to_harness, Harness, Patience};
use serde_json::json;

/// moto answers slowly on a loaded machine: waits are generous (nothing is timed).
const PATIENCE: Patience = Patience {
    within: Duration::from_secs(90),
    every: Duration::from_millis(50),
};

fn fast() -> ControllerConfig {
    ControllerConfig {
        resync_interval: Duration::from_millis(300),
        workers: 4,
        pending_interval: Duration::from_millis(100),
        poll_interval: Duration::from_millis(50),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
    }
}

/// The shared controller harness (store, project, controller) with moto as EC2 and the
/// EC2 driver as the `aws` provider.
pub struct World {
    harness: Harness,
    pub moto: Moto,
}

deref_to_harness!(World);

impl World {
    pub async fn new() -> World {
        World::on(Moto::start()).await
    }

    pub async fn on(moto: Moto) -> World {
        let mut harness = Harness::new(PATIENCE).await;
        harness.start(moto.driver().provisioners(), fast());
        World { harness, moto }
    }

    /// A crash, then a new controller with a new driver on the same database and EC2.
    pub async fn restart(&mut self) {
        self.crash().await;
        let drivers = self.moto.driver().provisioners();
        self.harness.start(drivers, fast());
    }

    pub async fn network(&self, cidr: &str) -> Network {
        self.create(json!({
            "name": "net", "provider": "aws", "region": REGION, "cidr_block": cidr,
        }))
        .await
    }

    pub async fn peering(&self, net: &Network, name: &str, vpc: &str, routes: &[&str]) -> Peering {
        self.create(json!({
            "name": name, "network_id": net.id.to_string(),
            "peer": {"account_id": CUSTOMER_ACCOUNT, "network_id": vpc, "region": REGION},
            "routes": routes,
        }))
        .await
    }

    pub async fn set_routes(&self, p: &Peering, routes: &[&str]) {
        self.update::<Peering>(p.id.as_id(), json!({ "routes": routes }))
            .await;
    }

    pub async fn cluster(&self, net: &Network) -> Cluster {
        self.create(json!({
            "name": "db", "network_id": net.id.to_string(), "engine": "nats",
            "topology": "three-node-multi-zone",
        }))
        .await
    }

    /// The usual start of a scenario: the customer's VPC (192.168.0.0/16), our network
    /// (10.20.0.0/16), and the peering `app` from it to that VPC with `routes`.
    pub async fn peered(&self, routes: &[&str]) -> (Network, Peering) {
        let vpc = customer_vpc(&self.moto.customer(), "192.168.0.0/16").await;
        let net = self.network("10.20.0.0/16").await;
        let p = self.peering(&net, "app", &vpc, routes).await;
        (net, p)
    }

    /// The connection EC2 made for `p`, once `p` waits for the customer.
    pub async fn pending_pcx(&self, p: &Peering) -> String {
        self.peering_reaches(p, PeeringStatus::PendingAcceptance)
            .await
            .provider_peering_id
            .expect("a pcx id")
    }

    /// The customer accepts `p`'s connection; returns it once `p` is active.
    pub async fn accepted(&self, p: &Peering) -> String {
        let pcx = self.pending_pcx(p).await;
        customer_does(&self.moto.customer(), "AcceptVpcPeeringConnection", &pcx).await;
        self.peering_reaches(p, PeeringStatus::Active).await;
        pcx
    }

    pub async fn peering_reaches(&self, p: &Peering, status: PeeringStatus) -> Peering {
        let what = format!("peering {} to be {status}", p.id);
        self.reaches(p.id.as_id(), &what, |now: &Peering| {
            now.status == status && now.observed_generation == now.generation
        })
        .await
    }

    pub async fn network_reaches(&self, n: &Network, status: NetworkStatus) -> Network {
        self.reaches_status(n, status).await
    }

    pub async fn cluster_reaches(&self, c: &Cluster, status: ClusterStatus) -> Cluster {
        self.reaches_status(c, status).await
    }
}

//! The simulated clouds of several replicas, shared through their database (both
//! backends): what one replica's driver created, another's sees and adopts, and replicas
//! racing to create one peering create it once — as one real cloud account would behave.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Utc;
use isthmus_core::resources::{Network, Peering, Provider};
use isthmus_core::{rules, Id, NetworkId, PeeringId, ProjectId};
use isthmus_driver::sim::{CustomerActionKind, CustomerVpc, SimClouds, SimConfig};
use isthmus_driver::{NetworkState, PeeringState, Provisioner};
use isthmus_server::sim_shared;
use isthmus_store::sim_log::SharedSimLog;
use isthmus_store::testing::TestPostgres;
use serde_json::{json, Value};

fn id(n: u8) -> Id {
    Id::from_parts(1_700_000_000, [n; 8])
}

fn network() -> Network {
    let req = serde_json::from_value(json!({
        "name": "prod", "provider": "aws", "region": "eu-west-1", "cidr_block": "10.20.0.0/16"
    }))
    .unwrap();
    rules::new_network(NetworkId(id(1)), ProjectId(id(0)), &req, &[], Utc::now()).unwrap()
}

fn peering(net: &Network, n: u8) -> Peering {
    let req = serde_json::from_value(json!({
        "name": format!("peer-{n}"), "network_id": net.id.to_string(),
        "peer": {"account_id": "123456789012", "network_id": format!("vpc-0a0b0c{n:02x}"), "region": "eu-west-1"},
        "routes": [format!("192.168.{n}.0/24")],
    }))
    .unwrap();
    rules::new_peering(PeeringId(id(n)), net.project_id, &req, net, &[], Utc::now()).unwrap()
}

fn customer_vpc(n: u8) -> CustomerVpc {
    CustomerVpc {
        cloud: Provider::Aws,
        account_id: "123456789012".into(),
        network_id: format!("vpc-0a0b0c{n:02x}"),
        region: "eu-west-1".into(),
        cidr_block: format!("192.168.{n}.0/24"),
    }
}

/// The database both "replicas" share, migrated by the store as `isthmus serve` does.
enum Database {
    /// The cluster lives as long as the database is used.
    Postgres(#[allow(dead_code)] TestPostgres, String),
    Sqlite(tempfile::TempDir),
}

impl Database {
    async fn postgres() -> Database {
        let pg = TestPostgres::start().expect("start the test PostgreSQL");
        let url = pg.fresh_database().await.unwrap();
        isthmus_store::postgres::PgStore::connect(&url)
            .await
            .unwrap()
            .close()
            .await;
        Database::Postgres(pg, url)
    }

    async fn sqlite() -> Database {
        let dir = tempfile::tempdir().unwrap();
        let store = isthmus_store::sqlite::SqliteStore::open(&dir.path().join("isthmus.db"))
            .await
            .unwrap();
        store.close().await;
        Database::Sqlite(dir)
    }

    /// One replica's simulated clouds.
    fn replica(&self) -> Arc<SimClouds> {
        let log = match self {
            Database::Postgres(_, url) => sim_shared::on_postgres(url),
            Database::Sqlite(dir) => sim_shared::on_sqlite(&dir.path().join("isthmus.db")),
        };
        SimClouds::open_shared(SimConfig::default(), log.unwrap()).unwrap()
    }

    fn log(&self) -> SharedSimLog {
        match self {
            Database::Postgres(_, url) => SharedSimLog::postgres(url).unwrap(),
            Database::Sqlite(dir) => SharedSimLog::sqlite(&dir.path().join("isthmus.db")).unwrap(),
        }
    }

    /// Per peering, every provider-side peering connection ever requested for it (AWS
    /// names each request anew), read from the shared log.
    fn requested_connections(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut requested: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_, line) in self.log().records().unwrap() {
            let record: Value = serde_json::from_str(&line).unwrap();
            if record["op"] == "peering" {
                requested
                    .entry(record["id"].as_str().unwrap().to_string())
                    .or_default()
                    .insert(record["provider_peering_id"].as_str().unwrap().to_string());
            }
        }
        requested
    }
}

async fn one_replica_adopts_what_another_created(db: Database) {
    let (a, b) = (db.replica(), db.replica());
    a.create_customer_vpc(customer_vpc(2)).unwrap();
    let net = network();
    let p = peering(&net, 2);
    let on_a = a.cloud(Provider::Aws);
    assert_eq!(
        on_a.ensure(&net, &()).await.unwrap().state,
        NetworkState::Ready
    );
    let requested = on_a.ensure(&p, &net).await.unwrap();
    assert_eq!(requested.state, PeeringState::PendingAcceptance);

    // The other replica sees the connection, and its ensure adopts it.
    let on_b = b.cloud(Provider::Aws);
    let seen = on_b.observe(&p, &net).await.unwrap();
    assert_eq!(seen.provider_peering_id, requested.provider_peering_id);
    let adopted = on_b.ensure(&p, &net).await.unwrap();
    assert_eq!(adopted.provider_peering_id, requested.provider_peering_id);

    // The customer accepts through one replica; the other observes it active.
    b.customer_action(p.id, CustomerActionKind::Accept).unwrap();
    assert_eq!(
        on_a.observe(&p, &net).await.unwrap().state,
        PeeringState::Active
    );
    assert_eq!(a.list_customer_vpcs(), b.list_customer_vpcs());

    let requested = db.requested_connections();
    assert_eq!(requested.len(), 1, "{requested:#?}");
    assert!(
        requested.values().all(|ids| ids.len() == 1),
        "{requested:#?}"
    );

    // Deleted through one replica, it is gone for the other.
    on_b.delete(&p, &net).await.unwrap();
    assert_eq!(
        on_a.observe(&p, &net).await.unwrap().state,
        PeeringState::Missing
    );
}

async fn racing_replicas_request_each_peering_once(db: Database) {
    let replicas: Vec<Arc<SimClouds>> = (0..3).map(|_| db.replica()).collect();
    let net = network();
    replicas[0]
        .cloud(Provider::Aws)
        .ensure(&net, &())
        .await
        .unwrap();
    let peerings: Vec<Peering> = (1..=4u8)
        .map(|n| {
            replicas[0].create_customer_vpc(customer_vpc(n)).unwrap();
            peering(&net, n)
        })
        .collect();
    // Every replica ensures every peering at once, several times over.
    let mut tasks = Vec::new();
    for sim in &replicas {
        for p in &peerings {
            let (sim, p, net) = (sim.clone(), p.clone(), net.clone());
            tasks.push(tokio::spawn(async move {
                let cloud = sim.cloud(Provider::Aws);
                let mut ids = BTreeSet::new();
                for _ in 0..3 {
                    ids.insert(cloud.ensure(&p, &net).await.unwrap().provider_peering_id);
                }
                ids
            }));
        }
    }
    let mut answered = BTreeSet::new();
    for t in tasks {
        answered.extend(t.await.unwrap());
    }
    assert_eq!(
        answered.len(),
        peerings.len(),
        "one connection per peering: {answered:?}"
    );
    let requested = db.requested_connections();
    assert_eq!(requested.len(), peerings.len(), "{requested:#?}");
    assert!(
        requested.values().all(|ids| ids.len() == 1),
        "each peering requested once: {requested:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_adopt_what_another_created() {
    one_replica_adopts_what_another_created(Database::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_replicas_adopt_what_another_created() {
    one_replica_adopts_what_another_created(Database::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_racing_replicas_request_each_peering_once() {
    racing_replicas_request_each_peering_once(Database::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_racing_replicas_request_each_peering_once() {
    racing_replicas_request_each_peering_once(Database::sqlite().await).await;
}

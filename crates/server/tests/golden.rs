//! Golden tests: the API's responses, the stored bodies and the audit events of one
//! network → peering → cluster lifecycle on the simulated AWS, compared with files under
//! `tests/golden/`. They pin today's JSON byte for byte (after ids and times are replaced
//! by placeholders), so a refactor of the layers underneath can prove it changed nothing.
//!
//! After an intended change of the JSON, rewrite the files with
//! `ISTHMUS_BLESS=1 cargo test -p isthmus-server --test golden` and review the diff.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use regex::Regex;
use serde_json::{json, Value};
use sqlx::{Connection, Row, SqliteConnection};
use support::{Reply, TestServer};

/// Records every step's answer, then compares the whole transcript with its golden file.
struct Transcript {
    steps: Vec<Value>,
}

impl Transcript {
    fn record(&mut self, step: &str, reply: &Reply) {
        self.steps.push(json!({
            "step": step,
            "status": reply.status,
            "body": reply.body,
        }));
    }
}

/// Replaces what differs between runs — resource ids, times, the simulated clouds'
/// generated connection ids — by placeholders numbered in order of first appearance, so
/// two runs of the same lifecycle produce the same text.
struct Normalizer {
    id: Regex,
    time: Regex,
    names: HashMap<String, String>,
}

impl Normalizer {
    fn new() -> Self {
        Normalizer {
            // xid-style ids (20 characters of lowercase base32hex) and the simulated
            // clouds' generated ids (`vpc-`, `pcx-` … and 17 hex digits, as AWS's) and
            // request ids (32 hex digits).
            id: Regex::new(r"\b([0-9a-v]{20}|[a-z]+-[0-9a-f]{17}|[0-9a-f]{32})\b").unwrap(),
            time: Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").unwrap(),
            names: HashMap::new(),
        }
    }

    fn value(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn text(&mut self, s: &str) -> String {
        let timed = self.time.replace_all(s, "<time>").into_owned();
        let mut out = String::with_capacity(timed.len());
        let mut last = 0;
        for m in self.id.find_iter(&timed) {
            out.push_str(&timed[last..m.start()]);
            let next = self.names.len();
            let name = self
                .names
                .entry(m.as_str().to_string())
                .or_insert_with(|| format!("<id{next}>"));
            out.push_str(name);
            last = m.end();
        }
        out.push_str(&timed[last..]);
        out
    }
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"))
}

/// Compares `actual` with the golden file `name`, or writes it under `ISTHMUS_BLESS=1`.
fn assert_golden(name: &str, actual: &Value) {
    let path = golden_path(name);
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("ISTHMUS_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (bless with ISTHMUS_BLESS=1)", path.display()));
    if expected != text {
        // The first differing line, so a failure says where without a 2,000-line dump.
        let (n, (want, got)) = expected
            .lines()
            .zip(text.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((
                expected.lines().count().min(text.lines().count()),
                ("<end>", "<end>"),
            ));
        panic!(
            "{} differs at line {}:\n  golden: {want}\n  actual: {got}\n\
             (if the change is intended: ISTHMUS_BLESS=1 and review the diff)",
            path.display(),
            n + 1
        );
    }
}

/// Waits until the resource at `path` has settled on `status` with its latest spec applied.
async fn settled(s: &TestServer, path: &str, status: &str) -> Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = s.get(&s.admin, path).await;
        let applied = r.body["observed_generation"] == r.body["generation"];
        if r.body["status"] == status && applied {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never settled on {status}: {:#}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every stored resource body, in creation order, read straight from the SQLite file.
async fn stored_bodies(s: &TestServer) -> Value {
    let url = format!(
        "sqlite://{}?mode=ro",
        s.data_dir.join(isthmus_server::serve::DB_FILE).display()
    );
    let mut db = SqliteConnection::connect(&url)
        .await
        .expect("open the store");
    let rows = sqlx::query("SELECT kind, status, body FROM resources ORDER BY rowid")
        .fetch_all(&mut db)
        .await
        .expect("read resources");
    let rows = rows
        .iter()
        .map(|row| {
            let body: String = row.get("body");
            json!({
                "kind": row.get::<String, _>("kind"),
                "status": row.get::<String, _>("status"),
                "body": serde_json::from_str::<Value>(&body).expect("stored body is JSON"),
            })
        })
        .collect();
    Value::Array(rows)
}

#[tokio::test]
async fn a_sim_lifecycle_answers_stores_and_audits_as_pinned() {
    let s = TestServer::start().await;
    let mut t = Transcript { steps: vec![] };

    let project = s
        .post(&s.admin, "/v1/projects", json!({ "name": "acme" }))
        .await;
    t.record("create project", &project);
    let p = project.id();
    let base = format!("/v1/projects/{p}");

    let network = s
        .post(
            &s.admin,
            &format!("{base}/networks"),
            json!({ "name": "prod", "provider": "aws", "region": "us-east-1",
                    "cidr_block": "10.0.0.0/16" }),
        )
        .await;
    t.record("create network", &network);
    let net = network.id();
    let net_path = format!("{base}/networks/{net}");
    t.record("network active", &settled(&s, &net_path, "active").await);

    let vpc = s
        .post(
            &s.admin,
            "/v1/sim/aws/vpcs",
            json!({ "account_id": "123456789012", "network_id": "vpc-0a1b2c3d",
                    "region": "us-east-1", "cidr_block": "192.168.0.0/20" }),
        )
        .await;
    assert_eq!(vpc.status, 201, "{:#}", vpc.body);

    let peering = s
        .post(
            &s.admin,
            &format!("{base}/peerings"),
            json!({ "name": "to-app", "network_id": net,
                    "peer": { "account_id": "123456789012", "network_id": "vpc-0a1b2c3d",
                              "region": "us-east-1" },
                    "routes": ["192.168.0.0/24"] }),
        )
        .await;
    t.record("create peering", &peering);
    let pe = peering.id();
    let pe_path = format!("{base}/peerings/{pe}");
    t.record(
        "peering waits for the customer",
        &settled(&s, &pe_path, "pending_acceptance").await,
    );
    let accepted = s
        .post(
            &s.admin,
            &format!("/v1/sim/peerings/{pe}/accept"),
            json!(null),
        )
        .await;
    assert_eq!(accepted.status, 200, "{:#}", accepted.body);
    t.record("peering active", &settled(&s, &pe_path, "active").await);

    let widened = s
        .patch(
            &s.admin,
            &pe_path,
            json!({ "routes": ["192.168.0.0/24", "192.168.1.0/24"] }),
        )
        .await;
    t.record("update peering routes", &widened);
    t.record(
        "peering routes applied",
        &settled(&s, &pe_path, "active").await,
    );

    let cluster = s
        .post(
            &s.admin,
            &format!("{base}/clusters"),
            json!({ "name": "orders", "network_id": net, "engine": "probe",
                    "topology": "three-node-multi-zone" }),
        )
        .await;
    t.record("create cluster", &cluster);
    let cl = cluster.id();
    let cl_path = format!("{base}/clusters/{cl}");
    t.record("cluster running", &settled(&s, &cl_path, "running").await);

    let public = s
        .patch(
            &s.admin,
            &cl_path,
            json!({ "public_access": { "enabled": true,
                    "allowlist": [{ "cidr": "203.0.113.0/24", "comment": "office" }] },
                    "private_allowlist": [{ "cidr": "192.168.0.0/25", "comment": "app" }] }),
        )
        .await;
    t.record("update cluster access", &public);
    t.record(
        "cluster access applied",
        &settled(&s, &cl_path, "running").await,
    );

    for (step, path) in [
        ("list networks", format!("{base}/networks")),
        ("list peerings", format!("{base}/peerings")),
        ("list clusters", format!("{base}/clusters")),
        ("get cluster", cl_path.clone()),
    ] {
        t.record(step, &s.get(&s.admin, &path).await);
    }

    let refused = s.delete(&s.admin, &net_path).await;
    t.record("network with a cluster is not deletable", &refused);

    let stored = stored_bodies(&s).await;

    t.record("delete cluster", &s.delete(&s.admin, &cl_path).await);
    t.record("cluster deleted", &wait_gone(&s, &cl_path).await);
    t.record("delete peering", &s.delete(&s.admin, &pe_path).await);
    t.record("peering deleted", &wait_gone(&s, &pe_path).await);
    t.record("delete network", &s.delete(&s.admin, &net_path).await);
    t.record("network deleted", &wait_gone(&s, &net_path).await);

    let events = s.get(&s.admin, &format!("{base}/events?limit=500")).await;
    assert_eq!(events.status, 200, "{:#}", events.body);

    // One normalizer for all three files: a placeholder means the same id everywhere.
    let mut n = Normalizer::new();
    let transcript = n.value(&Value::Array(t.steps));
    let stored = n.value(&stored);
    let events = n.value(&events.body);
    assert_golden("sim_lifecycle_api", &transcript);
    assert_golden("sim_lifecycle_stored", &stored);
    assert_golden("sim_lifecycle_events", &events);
}

/// Waits until a deleted resource is gone (404) or a tombstone in `deleted`.
async fn wait_gone(s: &TestServer, path: &str) -> Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = s.get(&s.admin, path).await;
        if r.status == 404 || r.body["status"] == "deleted" {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never went away: {:#}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

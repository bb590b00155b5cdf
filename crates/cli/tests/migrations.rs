//! `isthmus migration …` through the real binary, on the simulated AWS (no root): bad
//! requests are one-line errors naming the field and the rule; a migration there is
//! modelled without packets (placed, egress to the source only, nothing copied) and says
//! so; it goes down with its target cluster.

mod support;

use support::{id_of, Sandbox, Server, WAIT_TIMEOUT};

#[test]
fn bad_migrations_are_refused_and_a_simulated_one_says_it_copies_nothing() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create moving")));
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let nats = id_of(&cli.json(&format!(
        "cluster create events --network {network} --engine nats --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let probe = id_of(&cli.json(&format!(
        "cluster create web --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));

    let not_nats = cli.fails(&format!(
        "migration create m --cluster {probe} --source nats://172.16.0.10:4222"
    ));
    assert!(
        not_nats.contains("target_cluster_id") && not_nats.contains("NATS"),
        "{not_nats}"
    );
    let by_name = cli.fails(&format!(
        "migration create m --cluster {nats} --source nats://source.example:4222"
    ));
    assert!(by_name.contains("source.urls[0]"), "{by_name}");
    let missing = cli
        .fails("migration create m --cluster dc7vivbhho000000002g --source nats://10.1.0.1:4222");
    assert!(missing.contains("target_cluster_id"), "{missing}");
    let partitions = cli.fails(&format!(
        "migration create m --cluster {nats} --source nats://10.1.0.1:4222 --mode partitioned --partitions 0"
    ));
    assert!(partitions.contains("mode.partitions"), "{partitions}");

    let rename = cli.fails(&format!(
        "migration create m --cluster {nats} --source nats://10.1.0.1:4222 --rename orders.*=sales.$2"
    ));
    assert!(
        rename.contains("transform.subjects[0]") && rename.contains("$2"),
        "{rename}"
    );
    let script = sandbox.home.path().join("bad.rhai");
    std::fs::write(&script, "headers[\"x\"] = ;").unwrap();
    let bad_script = cli.fails(&format!(
        "migration create m --cluster {nats} --source nats://10.1.0.1:4222 --script-file {}",
        script.display()
    ));
    assert!(bad_script.contains("transform.script"), "{bad_script}");

    let good = sandbox.home.path().join("good.rhai");
    std::fs::write(&good, "payload.push(33);").unwrap();
    let m = cli.json(&format!(
        "migration create m --cluster {nats} --source nats://172.16.0.10:4222 \
         --source nats://172.16.0.11:4223 --rename orders.*=sales.$1 --script-file {}",
        good.display()
    ));
    assert_eq!(
        m["transform"],
        serde_json::json!({"subjects": [{"from": "orders.*", "to": "sales.$1"}], "script": "payload.push(33);"}),
        "{m:#}"
    );
    let id = id_of(&m);
    assert_eq!(m["worker_ip"], "10.40.0.254", "{m:#}");
    let egress: Vec<&str> = m["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(egress, ["172.16.0.10/32", "172.16.0.11/32"], "{m:#}");
    let copying = cli.poll_status("migration", &id, &["copying"]);
    let message = copying["status_message"].as_str().unwrap();
    assert!(
        message.contains("modelled without packets") && message.contains("172.16.0.10/32"),
        "{copying:#}"
    );
    let simulated = cli.fails(&format!("migration verify {id}"));
    assert!(
        simulated.contains("modelled without packets"),
        "{simulated}"
    );
    let listed = cli.ok("migration list");
    assert!(listed.contains(&id), "{listed}");

    // The migration goes down with its target cluster, when the delete says so.
    let refused = cli.fails(&format!("cluster delete {nats} --wait"));
    assert!(
        refused.contains("migrations") && refused.contains(&id),
        "{refused}"
    );
    cli.ok(&format!(
        "cluster delete {nats} --cascade --wait --timeout {WAIT_TIMEOUT}"
    ));
    let gone = cli.poll_status("migration", &id, &["deleted"]);
    assert_eq!(gone["status"], "deleted");
    let audit = cli.ok("events");
    assert!(audit.contains("migration.create"), "{audit}");
}

/// Source credentials are write-only: no read path returns them (the API's GET and list,
/// the audit log, the CLI's JSON and table output), and no file of the data dir holds
/// them (on a simulated cloud no replicator needs them, so they are not kept at all).
#[test]
fn source_credentials_are_never_returned() {
    const SECRET: &str = "pw-Wr1te-0nly";
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create secrets"));
    let cli = admin.in_project(&project);
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.41.0.0/24 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let nats = id_of(&cli.json(&format!(
        "cluster create events --network {network} --engine nats --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let created = cli.json(&format!(
        "migration create m --cluster {nats} --source nats://172.16.0.10:4222 \
         --source-user app --source-password {SECRET}"
    ));
    let id = id_of(&created);
    assert_eq!(
        created["source"]["credentials"],
        serde_json::json!({"set": true, "kind": "user_password"}),
        "{created:#}"
    );
    cli.poll_status("migration", &id, &["copying"]);

    let reads = [
        ("create -o json", created.to_string()),
        (
            "get -o json",
            cli.ok(&format!("migration get {id} -o json")),
        ),
        ("get", cli.ok(&format!("migration get {id}"))),
        ("list -o json", cli.ok("migration list -o json")),
        ("events -o json", cli.ok("events -o json")),
        (
            "GET",
            http_get(&server, &format!("/v1/projects/{project}/migrations/{id}")),
        ),
        (
            "GET list",
            http_get(&server, &format!("/v1/projects/{project}/migrations")),
        ),
        (
            "GET events",
            http_get(&server, &format!("/v1/projects/{project}/events")),
        ),
    ];
    let log = server.log();
    assert!(
        !log.contains(SECRET),
        "the server log leaks the password:\n{log}"
    );
    for (what, text) in &reads {
        assert!(
            text.contains(&id),
            "{what} does not show the migration:\n{text}"
        );
        assert!(!text.contains(SECRET), "{what} leaks the password:\n{text}");
    }
    assert!(
        reads[7].1.contains("migration.create"),
        "the audit log has the create"
    );
    // A server that runs replicators (the local provider) keeps the secret for them in
    // one file of its data dir, readable by the server alone; nothing else holds it.
    let kept = sandbox
        .data
        .path()
        .join(format!("migrations/{id}/source-credentials.json"));
    let holding = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        files_under(dir)
            .into_iter()
            .filter(|file| {
                let bytes = std::fs::read(file).unwrap_or_default();
                bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes())
            })
            .collect()
    };
    let holders = holding(sandbox.data.path());
    assert!(
        holders.is_empty() || holders == [kept.clone()],
        "files holding the password: {holders:?}"
    );
    assert_eq!(
        kept.exists(),
        log.contains("local provider ready"),
        "a server with the local provider keeps the secret for its replicators"
    );
    if kept.exists() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", kept.display());
    }
    // Deleting the migration deletes the secret.
    cli.ok(&format!(
        "migration delete {id} --wait --timeout {WAIT_TIMEOUT}"
    ));
    let holders = holding(sandbox.data.path());
    assert!(holders.is_empty(), "after the delete: {holders:?}");
}

/// `GET path` with the admin token; the status line and the body.
fn http_get(server: &Server, path: &str) -> String {
    use std::io::{Read, Write};
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the server");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        server.admin_token
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "GET {path}: {answer}");
    answer
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

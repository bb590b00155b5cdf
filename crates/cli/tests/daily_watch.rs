//! Daily use beyond the defects (issue 17, items 10 and 11): `-o jsonpath=` and
//! `-o template=` pick fields; `get --watch` prints an object again when it changes;
//! `events` filters by kind and actor, names actors by their token's name, and
//! `--follow` prints new events as they happen; `login` reads the token from stdin,
//! named profiles keep several logins, `logout` forgets one, `project use` switches.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use support::{id_of, Cli, Sandbox, Server, BIN, PATIENCE};

fn project(server: &Server, sandbox: &Sandbox, name: &str) -> (Cli, String) {
    let admin = server.cli(sandbox.home.path());
    let id = id_of(&admin.json(&format!("project create {name}")));
    (admin.in_project(&id), id)
}

/// `isthmus <args>` running in the background as `cli`'s user, its stdout lines sent
/// to the returned channel; killed when the guard drops.
struct Background {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Background {
    fn start(cli: &Cli, args: &[&str]) -> Background {
        let mut child = Command::new(BIN)
            .args(args)
            .env("HOME", &cli.home)
            .env("ISTHMUS_URL", &cli.url)
            .env("ISTHMUS_TOKEN", &cli.token)
            .env(
                "ISTHMUS_PROJECT",
                cli.project.as_deref().unwrap_or_default(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start isthmus");
        let out = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Background { child, lines }
    }

    /// Reads lines until one contains `text` (a guard against hanging, not a speed test).
    fn until(&self, text: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("never printed `{text}`; printed:\n{seen:#?}"));
            let found = line.contains(text);
            seen.push(line);
            if found {
                return seen;
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn output_picks_fields_with_a_jsonpath_or_a_template() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, _) = project(&server, &sandbox, "picks");
    let web =
        id_of(&cli.json("network create web --provider aws --region us-east-1 --cidr 10.1.0.0/16"));
    cli.ok("network create db --provider aws --region us-east-1 --cidr 10.2.0.0/16");

    assert_eq!(
        cli.ok("network get web -o jsonpath={.id}"),
        format!("{web}\n")
    );
    assert_eq!(cli.ok("network list -o jsonpath={.name}"), "web db\n");
    assert_eq!(
        cli.ok("network list -o template={{.name}}={{.cidr_block}}"),
        "web=10.1.0.0/16\ndb=10.2.0.0/16\n"
    );
    let bad = cli.run("network list -o xml");
    assert_eq!(bad.code, Some(2), "a usage error: {}", bad.stderr);
    assert!(bad.stderr.contains("jsonpath=EXPR"), "{}", bad.stderr);
}

#[test]
fn get_watch_prints_the_object_again_when_it_changes() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (cli, _) = project(&server, &sandbox, "watched");
    cli.ok("network create web --provider aws --region us-east-1 --cidr 10.1.0.0/16");
    let id = id_of(&cli.json("network get web"));

    let watch = Background::start(&cli, &["network", "get", &id, "--watch"]);
    watch.until("web");
    cli.ok("network update web --name front");
    watch.until("front");

    let list = Background::start(&cli, &["network", "list", "-w", "-o", "jsonpath={.name}"]);
    list.until("front");
    cli.ok("network create db --provider aws --region us-east-1 --cidr 10.2.0.0/16");
    list.until("front db");
}

#[test]
fn events_filter_by_kind_and_actor_name_actors_and_follow() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (admin, _) = project(&server, &sandbox, "audited");
    let secret = admin.json("token create alice --role operator")["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let alice = admin.with_token(&secret);
    alice.ok("network create web --provider aws --region us-east-1 --cidr 10.1.0.0/16");

    let by_alice = admin.ok("events --actor alice");
    let rows: Vec<&str> = by_alice.lines().skip(1).collect();
    assert!(!rows.is_empty(), "{by_alice}");
    assert!(
        rows.iter()
            .all(|r| r.contains(" alice ") && r.contains("network.create")),
        "only alice's one event, her name for her token:\n{by_alice}"
    );
    assert!(!by_alice.contains("token:"), "{by_alice}");
    let tokens = admin.ok("events --kind token");
    assert!(!tokens.contains("network."), "{tokens}");
    let later = admin.ok("events --since 2099-01-01T00:00:00Z");
    assert_eq!(later.lines().count(), 1, "the header alone:\n{later}");

    let follow = Background::start(&admin, &["events", "--follow", "--kind", "network"]);
    follow.until("network.create");
    alice.ok("network create db --provider aws --region us-east-1 --cidr 10.2.0.0/16");
    let lines = follow.until("alice");
    assert!(
        lines.last().unwrap().contains("network.create"),
        "{lines:#?}"
    );
}

#[test]
fn login_reads_the_token_from_stdin_and_profiles_switch_and_log_out() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let (admin, first) = project(&server, &sandbox, "first");
    let second = id_of(&admin.json("project create second"));
    let home = sandbox.home.path();

    let login = |extra: &[&str]| {
        let mut child = Command::new(BIN)
            .args(["login", "--url", &server.url, "--project", "first"])
            .args(extra)
            .env("HOME", home)
            .env_remove("ISTHMUS_TOKEN")
            .env_remove("ISTHMUS_URL")
            .env_remove("ISTHMUS_PROJECT")
            .env_remove("XDG_CONFIG_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{}", server.admin_token).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    login(&[]);
    login(&["--profile", "work"]);
    let profile_only = admin.clone();
    let work = home.join(".config/isthmus/profiles/work.json");
    assert!(work.exists(), "the named profile is its own file");

    let made = profile_only.run_with_profile_only(
        "network create d --provider aws --region us-east-1 --cidr 10.8.0.0/16 -o jsonpath={.project_id}",
    );
    assert_eq!(made.stdout.trim(), first, "{}", made.stderr);

    // Switching the work profile's project leaves the default profile alone.
    let switched = profile_only.run_with_profile_only("project use second --profile work");
    assert_eq!(switched.code, Some(0), "{}", switched.stderr);
    let in_work = profile_only.run_with_profile_only(
        "network create w --provider aws --region us-east-1 --cidr 10.9.0.0/16 --profile work -o json",
    );
    assert_eq!(in_work.code, Some(0), "{}", in_work.stderr);
    assert!(in_work.stdout.contains(&second), "{}", in_work.stdout);
    let in_default = profile_only.run_with_profile_only("network list -o jsonpath={.name}");
    assert_eq!(in_default.stdout.trim(), "d", "{}", in_default.stderr);

    let out = profile_only.run_with_profile_only("logout --profile work");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!work.exists());
    assert!(home.join(".config/isthmus/profile.json").exists());
}

//! `lab exec` through the API on a server running the local provider (as root): output is
//! capped per stream with a `truncated` flag, and a command that runs past its timeout is
//! killed with its whole process group. Each test has a kernel-object prefix of its own
//! (`isthk…`), and removes everything under it when done.

mod support;

use isthmus_driver_local::LocalConfig;
use serde_json::json;
use support::TestServer;

/// A server with the local provider under `prefix`, and one lab VPC with one host.
struct Lab {
    s: TestServer,
    prefix: String,
}

impl Lab {
    async fn start(prefix: &str) -> Lab {
        assert!(
            nix::unistd::geteuid().is_root(),
            "lab exec runs in network namespaces: run this test as root"
        );
        let prefix = prefix.to_string();
        let config = LocalConfig {
            prefix: prefix.clone(),
        };
        let s = TestServer::start_with(|c| c.local = Some(config)).await;
        let vpc = s
            .post(
                &s.admin,
                "/v1/lab/vpcs",
                json!({"name": "customer", "cidr_block": "172.16.0.0/24"}),
            )
            .await;
        assert_eq!(vpc.status, 201, "{:#}", vpc.body);
        let host = s
            .post(
                &s.admin,
                "/v1/lab/vpcs/customer/hosts",
                json!({"name": "app"}),
            )
            .await;
        assert_eq!(host.status, 201, "{:#}", host.body);
        Lab { s, prefix }
    }

    async fn exec(&self, body: serde_json::Value) -> support::Reply {
        self.s
            .post(&self.s.admin, "/v1/lab/vpcs/customer/hosts/app/exec", body)
            .await
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(driver) = &self.s.state().local {
            let report = driver.purge();
            // The lab hosts' resolver files (written by the server's lab DNS loop) go too.
            if let Ok(entries) = std::fs::read_dir("/etc/netns") {
                for entry in entries.flatten() {
                    if entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with(&self.prefix)
                    {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
            if !std::thread::panicking() {
                assert!(report.errors.is_empty(), "cleanup: {:?}", report.errors);
            }
        }
    }
}

#[tokio::test]
async fn output_past_16_mib_is_cut_and_flagged() {
    let lab = Lab::start("isthk1").await;
    let r = lab
        .exec(json!({"argv": ["head", "-c", "50000000", "/dev/zero"]}))
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["status"], 0);
    assert_eq!(r.body["truncated"], true);
    assert_eq!(r.body["timed_out"], false);
    let stdout = r.body["stdout"].as_str().unwrap();
    assert_eq!(stdout.len(), 16 * 1024 * 1024);

    let small = lab.exec(json!({"argv": ["echo", "hello"]})).await;
    assert_eq!(small.body["stdout"], "hello\n");
    assert_eq!(small.body["truncated"], false);
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed_with_its_process_group() {
    let lab = Lab::start("isthk2").await;
    // A shell that leaves a child behind: both are in the group the timeout kills. The
    // odd durations mark them as this test's.
    let (bg, fg) = (
        format!("sleep 99.{}", std::process::id()),
        format!("sleep 98.{}", std::process::id()),
    );
    let r = lab
        .exec(json!({
            "argv": ["sh", "-c", format!("{bg} & {fg}")],
            "timeout_seconds": 1,
        }))
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["timed_out"], true);
    assert_eq!(r.body["status"], 128 + 9, "killed by SIGKILL");
    // Both sleeps held the output pipes, so the answer came only once they were gone.
    let alive: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&bg) || c.contains(&fg))
        .collect();
    assert!(alive.is_empty(), "still running: {alive:?}");
}

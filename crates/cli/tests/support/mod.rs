//! Test harness: a real `isthmus serve` child process on a free loopback port with its own
//! data directory, and a runner for the real `isthmus` binary as a user would type it.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod replicas;

pub const BIN: &str = env!("CARGO_BIN_EXE_isthmus");

/// How long a test lets the server start or a resource settle before failing. A guard
/// against hanging forever, not a speed assertion.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// `--timeout` passed to every `--wait` in the tests, matching [`PATIENCE`].
pub const WAIT_TIMEOUT: &str = "90";

/// A running `isthmus serve`; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub admin_token: String,
}

impl Server {
    /// Starts a server on `data_dir` and waits for `/healthz`.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Server {
        let log_path = data_dir.join("server.log");
        // Earlier runs on this data dir (restart tests) printed their addresses too.
        let log_offset = std::fs::metadata(&log_path).map_or(0, |m| m.len() as usize);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open server log");
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            // Port 0, read back from what the server prints: a port picked here and bound
            // later by the server can be taken in between by another test's connection.
            .args(["--listen", "127.0.0.1:0", "--resync-seconds", "1"])
            // A free port: tests run servers side by side, the default 8753 fits only one.
            .args(["--dns-listen", "127.0.0.1:0"])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .env_remove("ISTHMUS_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn isthmus serve");
        let mut server = Server {
            child,
            url: String::new(),
            data_dir: data_dir.to_path_buf(),
            admin_token: String::new(),
        };
        server.url = server.wait_listening(log_offset);
        server.wait_healthy();
        server.admin_token = std::fs::read_to_string(data_dir.join("admin-token"))
            .expect("the server writes <data-dir>/admin-token")
            .trim()
            .to_string();
        server
    }

    /// The URL the server prints once its API listens (in the log past `log_offset`).
    fn wait_listening(&mut self, log_offset: usize) -> String {
        const LINE: &str = "serving the API on ";
        self.wait_until("the server never printed its API address", |server| {
            let log = server.log();
            let fresh = log.get(log_offset..).unwrap_or_default();
            let at = fresh.find(LINE)?;
            let rest = &fresh[at + LINE.len()..];
            let url = rest.lines().next()?.trim();
            (rest.contains('\n') && url.starts_with("http://")).then(|| url.to_string())
        })
    }

    fn wait_healthy(&mut self) {
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the API URL ends in a port");
        self.wait_until("server never became healthy", |_| {
            healthz(port).then_some(())
        });
    }

    /// Polls `probe` until it answers; fails if the server exits or [`PATIENCE`] runs out.
    fn wait_until<T>(&mut self, what: &str, mut probe: impl FnMut(&Server) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("isthmus serve exited ({status}):\n{}", self.log());
            }
            if let Some(answer) = probe(self) {
                return answer;
            }
            assert!(Instant::now() < deadline, "{what}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's stderr so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no shutdown hooks, whatever was in flight stays in flight.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A CLI bound to this server with the superuser token.
    pub fn cli(&self, home: &Path) -> Cli {
        Cli {
            url: self.url.clone(),
            token: self.admin_token.clone(),
            project: None,
            home: home.to_path_buf(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthz(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The `isthmus` binary as a user with one token runs it. HOME is a temporary directory
/// so no real profile or admin token of the machine leaks in.
#[derive(Clone)]
pub struct Cli {
    pub url: String,
    pub token: String,
    pub project: Option<String>,
    pub home: PathBuf,
}

impl Cli {
    pub fn with_token(&self, token: &str) -> Cli {
        Cli {
            token: token.to_string(),
            ..self.clone()
        }
    }

    pub fn in_project(&self, project: &str) -> Cli {
        Cli {
            project: Some(project.to_string()),
            ..self.clone()
        }
    }

    /// Runs `isthmus <line>`; the line is split on whitespace, as a shell would here.
    pub fn run(&self, line: &str) -> Run {
        let mut command = self.bare_command(line);
        command
            .env("ISTHMUS_URL", &self.url)
            .env("ISTHMUS_TOKEN", &self.token);
        if let Some(project) = &self.project {
            command.env("ISTHMUS_PROJECT", project);
        }
        command.output().expect("run isthmus").into()
    }

    /// Runs with nothing but HOME: server, token and project come from the profile.
    pub fn run_with_profile_only(&self, line: &str) -> Run {
        self.bare_command(line)
            .output()
            .expect("run isthmus")
            .into()
    }

    fn bare_command(&self, line: &str) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(line.split_whitespace())
            .env("HOME", &self.home)
            .env_remove("ISTHMUS_URL")
            .env_remove("ISTHMUS_TOKEN")
            .env_remove("ISTHMUS_PROJECT")
            .env_remove("ISTHMUS_DATA_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        command
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, line: &str) -> String {
        let run = self.run(line);
        assert_eq!(
            run.code,
            Some(0),
            "`isthmus {line}` failed:\n{}{}",
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    /// Runs with `-o json` and insists on success; returns the parsed answer.
    pub fn json(&self, line: &str) -> Value {
        let stdout = self.ok(&format!("{line} -o json"));
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`isthmus {line} -o json` is not JSON ({e}):\n{stdout}"))
    }

    /// Runs and insists on a plain failure (exit 1): stderr is a single `error:` line.
    pub fn fails(&self, line: &str) -> String {
        let stderr = self.fails_after_progress(line);
        assert_eq!(stderr.lines().count(), 1, "more than one line:\n{stderr}");
        stderr
    }

    /// Like [`Cli::fails`] for `--wait`: status lines may come first, the error line last.
    pub fn fails_after_progress(&self, line: &str) -> String {
        let run = self.run(line);
        assert_eq!(
            run.code,
            Some(1),
            "`isthmus {line}` should fail with exit code 1:\n{}{}",
            run.stdout,
            run.stderr
        );
        assert_one_error_line(&run.stderr);
        run.stderr
    }

    /// Polls `<kind> get ID` until `status` is one of `wanted`; returns the resource.
    pub fn poll_status(&self, kind: &str, id: &str, wanted: &[&str]) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let resource = self.json(&format!("{kind} get {id}"));
            let status = resource["status"].as_str().unwrap_or_default().to_string();
            if wanted.contains(&status.as_str()) {
                return resource;
            }
            assert!(
                Instant::now() < deadline,
                "{kind} {id} never reached {wanted:?}; last seen:\n{resource:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The CLI's failure contract: one line, `error: …`, never a panic or a backtrace.
pub fn assert_one_error_line(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("error: "),
        "no error line in stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "the CLI panicked:\n{stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "a backtrace hint:\n{stderr}"
    );
}

pub fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {resource:#}"))
        .to_string()
}

/// A fresh installation: data dir + HOME for the CLI, removed at the end of the test.
pub struct Sandbox {
    pub data: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            data: tempfile::tempdir().expect("data dir"),
            home: tempfile::tempdir().expect("home dir"),
        }
    }
}

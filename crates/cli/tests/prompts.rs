//! A delete asks "are you sure?" when a person sits at a terminal, and never a script:
//! the binary runs on a real pseudo-terminal here, as in a shell.

mod support;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use support::{id_of, Cli, Sandbox, Server, BIN, WAIT_TIMEOUT};

/// Runs `isthmus <line>` with stdin, stdout and stderr on a new pseudo-terminal; once
/// `prompt` shows, types `answer`. Returns the exit code and everything it wrote.
fn on_terminal(cli: &Cli, line: &str, prompt: &str, answer: &str) -> (Option<i32>, String) {
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let tty = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the terminal"));
    let mut child = Command::new(BIN)
        .args(line.split_whitespace())
        .env("HOME", &cli.home)
        .env("ISTHMUS_URL", &cli.url)
        .env("ISTHMUS_TOKEN", &cli.token)
        .env("ISTHMUS_PROJECT", cli.project.as_deref().unwrap())
        .stdin(tty(&pty.slave))
        .stdout(tty(&pty.slave))
        .stderr(tty(&pty.slave))
        .spawn()
        .expect("run isthmus");
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let mut answered = false;
    loop {
        // EIO once the child exited and the terminal closed: everything is read.
        let n = match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !answered && seen.contains(prompt) {
            master
                .write_all(answer.as_bytes())
                .expect("type the answer");
            answered = true;
        }
    }
    let status = child.wait().expect("wait for isthmus");
    (status.code(), seen)
}

#[test]
fn a_delete_on_a_terminal_asks_first_and_no_keeps_the_network() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create prompts")));
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.30.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let question = format!("Delete network prod ({network})? [y/N]");

    let (code, said) = on_terminal(&cli, &format!("network delete {network}"), &question, "n\n");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("not confirmed: nothing was deleted"),
        "{said}"
    );
    assert_eq!(
        cli.json(&format!("network get {network}"))["status"],
        "active"
    );

    // --yes on a terminal: no question.
    let (code, said) = on_terminal(
        &cli,
        &format!("network delete {network} --yes --wait --timeout {WAIT_TIMEOUT}"),
        "[y/N]",
        "n\n",
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(!said.contains("[y/N]"), "{said}");
    assert_eq!(
        cli.json(&format!("network get {network}"))["status"],
        "deleted"
    );
}

#[test]
fn a_delete_on_a_terminal_goes_ahead_on_yes_and_a_script_is_never_asked() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create prompts")));
    let create = |name: &str, cidr: &str| {
        id_of(&cli.json(&format!(
            "network create {name} --provider aws --region us-east-1 --cidr {cidr}"
        )))
    };
    let asked = create("asked", "10.31.0.0/16");
    let question = format!("Delete network asked ({asked})? [y/N]");
    let (code, said) = on_terminal(&cli, &format!("network delete {asked}"), &question, "y\n");
    assert_eq!(code, Some(0), "{said}");
    let status = cli.json(&format!("network get {asked}"))["status"].clone();
    assert!(status == "deleting" || status == "deleted", "{status}");

    // stdin not a terminal (the harness gives /dev/null): no question, it goes.
    let scripted = create("scripted", "10.32.0.0/16");
    let run = cli.run(&format!("network delete {scripted}"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("[y/N]"), "{}", run.stderr);
}

#[test]
fn a_project_delete_on_a_terminal_asks_first_and_no_keeps_the_project() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let id = id_of(&admin.json("project create keepme"));
    let cli = admin.in_project(&id);
    let question = format!("Delete project keepme ({id})? [y/N]");
    let (code, said) = on_terminal(&cli, "project delete keepme", &question, "n\n");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("not confirmed: nothing was deleted"),
        "{said}"
    );
    assert_eq!(admin.json("project get keepme")["id"], id.as_str());

    let question = format!("Delete project keepme ({id}) and every object in it? [y/N]");
    let (code, said) = on_terminal(&cli, "project delete keepme --cascade", &question, "y\n");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("deleted project keepme"), "{said}");
    assert!(admin
        .fails("project get keepme")
        .contains("no project named"));
}

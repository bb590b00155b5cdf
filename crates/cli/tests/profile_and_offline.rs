//! `isthmus login` saves a profile the later commands use, and `isthmus plan` works with
//! no server and no configuration at all.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{id_of, Cli, Sandbox, Server};

#[test]
fn after_login_commands_need_no_flags_or_environment() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let project = id_of(&admin.json("project create profiled"));

    let login = admin.run_with_profile_only(&format!(
        "login --url {} --token {} --project {project}",
        server.url, server.admin_token
    ));
    assert_eq!(login.code, Some(0), "{}", login.stderr);
    let profile = sandbox.home.path().join(".config/isthmus/profile.json");
    let mode = std::fs::metadata(&profile)
        .expect("profile written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the profile holds a secret");

    let created = admin.run_with_profile_only(
        "network create prod --provider azure --region westeurope --cidr 10.60.0.0/16 -o json",
    );
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    let network: serde_json::Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(network["project_id"], project.as_str());
}

#[test]
fn login_with_an_unknown_token_is_refused_and_saves_nothing() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let cli = server.cli(sandbox.home.path());

    let run = cli.run_with_profile_only(&format!(
        "login --url {} --token isth_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        server.url
    ));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    support::assert_one_error_line(&run.stderr);
    assert!(run.stderr.contains("unauthorized"), "{}", run.stderr);
    assert!(!sandbox
        .home
        .path()
        .join(".config/isthmus/profile.json")
        .exists());
}

#[test]
fn the_planners_run_offline() {
    let home = tempfile::tempdir().unwrap();
    let cli = Cli {
        url: "http://127.0.0.1:9".into(),
        token: String::new(),
        project: None,
        home: home.path().to_path_buf(),
    };
    let run = cli.run_with_profile_only("plan cover 10.1.0.0/16 10.2.0.0/16");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "10.0.0.0/14");
}

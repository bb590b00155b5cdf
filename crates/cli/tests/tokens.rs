//! `isthmus token list|revoke|rotate` through the real binary: a revoked token is refused
//! at once, a rotation ends the old secret and rewrites the server's admin-token file, and
//! no secret reaches the server's log.

mod support;

use support::{id_of, Sandbox, Server};

#[test]
fn tokens_are_listed_revoked_and_rotated() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create acme")));

    let created = cli.json("token create ci --role viewer --expires-in 30d");
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["token"]["id"].as_str().unwrap().to_string();
    assert!(created["token"]["expires_at"].is_string(), "{created:#}");
    let listed = cli.ok("token list");
    assert!(
        listed.contains(&id) && listed.contains("viewer"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "{listed}");

    let ci = cli.with_token(&secret);
    ci.ok("network list");
    assert_eq!(
        cli.ok(&format!("token revoke {id}")),
        format!("token {id} revoked\n")
    );
    let refused = ci.fails("network list");
    assert!(refused.contains("revoked"), "{refused}");

    let old = server.admin_token.clone();
    let rotated = admin.json("token rotate");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let file = sandbox.data.path().join("admin-token");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), new);
    assert!(admin.fails("project list").contains("not known"));
    let all = admin.with_token(&new).ok("token list --all");
    assert!(all.contains(&id), "{all}");

    let log = server.log();
    for s in [&secret, &old, &new] {
        assert!(!log.contains(s.as_str()), "a secret is in the server log");
    }
}

//! `isthmus`: the server (`isthmus serve`) and the command-line client of its REST API.
//!
//! Every failure ends as one line on stderr and exit code 1 (clap's usage errors: 2).

mod access;
mod addresses;
mod args;
mod client;
mod commands;
mod config;
mod confirm;
mod kinds;
mod output;
mod plan;
mod select;
mod views;
mod wait;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use commands::Ctx;
use config::Env;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::anyhow!("start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(text) => {
            print_stdout(&text);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<String> {
    let env = Env::from_process().with_profile(cli.global.profile.as_deref())?;
    // Client verbs resolve their server, token and project only when they run, so
    // `serve`, `login` and `plan` work with no configuration at all.
    let ctx = || Ctx::new(config::resolve(&cli.global, &env)?, cli.global.output);
    match cli.command {
        Command::Serve(args) => commands::serve::run(args, &env).await,
        Command::Login(args) => commands::login::run(&cli.global, args, &env).await,
        Command::Logout => commands::login::logout(&env),
        Command::Project(args::ProjectCommand::Use { project }) => {
            commands::login::use_project(&ctx()?, &env, &project).await
        }
        // `plan k8s|tailscale --peering ID` reads the peering from the server first.
        Command::Plan(c) if c.peering().is_some() => plan::run_with_server(&ctx()?, c).await,
        // Offline: the planners call the core directly.
        Command::Plan(c) => plan::run(c),
        Command::Project(c) => commands::project::run(&ctx()?, c).await,
        Command::Network(c) => commands::network::run(&ctx()?, c).await,
        Command::Peering(c) => commands::peering::run(&ctx()?, c).await,
        Command::EndpointService(c) => commands::endpoint_service::run(&ctx()?, c).await,
        Command::Cluster(c) => commands::cluster::run(&ctx()?, c).await,
        Command::Vpn(c) => commands::vpn::run(&ctx()?, c).await,
        Command::Migration(c) => commands::migration::run(&ctx()?, c).await,
        Command::Apply(a) => commands::apply::run(&ctx()?, &a.file, a.dry_run).await,
        Command::Events(a) => commands::events::run(&ctx()?, a).await,
        Command::Token(c) => commands::token::run(&ctx()?, c).await,
        Command::Sim(c) => commands::sim::run(&ctx()?, c).await,
        Command::Lab(c) => commands::lab::run(&ctx()?, c).await,
        Command::Ca(c) => commands::ca::run(&ctx()?, c).await,
        Command::Leader => commands::leader::run(&ctx()?).await,
        Command::Reach(a) => commands::reach::run(&ctx()?, a).await,
        // A node process: no client configuration involved.
        Command::Probe(args) => commands::probe::run(args).await,
        // Offline: reads and writes databases, no server involved.
        Command::Store(c) => commands::store::run(c).await,
        // Offline: from the catalogs the server checks against.
        Command::Completions(args) => commands::catalog::completions(args),
        Command::Regions(args) => commands::catalog::regions(cli.global.output, args),
        Command::Engines => commands::catalog::engines(cli.global.output),
        // A replicator: no client configuration involved.
        Command::MigrateEngine { args } => {
            let argv = std::iter::once(std::ffi::OsString::from("isthmus-migrate")).chain(args);
            isthmus_migrate::cli::main_from(argv).await;
            Ok(String::new())
        }
    }
}

/// One line: the context chain joined by `: `, newlines flattened.
fn fail(e: &anyhow::Error) -> ExitCode {
    let line = format!("{e:#}").replace(['\n', '\r'], " ");
    eprintln!("error: {line}");
    ExitCode::FAILURE
}

/// Writes the result; a closed pipe (`isthmus … | head`) is not an error worth a panic.
fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

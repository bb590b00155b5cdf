//! `isthmus serve`: opens the store and the simulated clouds under the data dir, starts
//! the controller, makes the first superuser token on first start, and serves the API
//! until SIGINT or SIGTERM.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use isthmus_connect::pki::Ca;
use isthmus_core::resources::Provider;
use isthmus_driver::sim::{SimClouds, SimConfig};
use isthmus_driver_local::LocalConfig;
use isthmus_store::postgres::{redact, PgStore};
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, Store};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::audit_feed::{AuditFeed, FeedPoke};
use crate::auth::{hash_secret, new_secret};
use crate::cache::CachingStore;
use crate::controller::{Controller, ControllerConfig, ControllerHandle, Scope};
use crate::data_dir::DataDir;
pub use crate::data_dir::INIT_MARKER_FILE;
use crate::dns_sync::PlatformDns;
pub use crate::dns_sync::DEFAULT_DNS_LISTEN;
pub use crate::http_server::HttpLimits;
use crate::lab_dns::LabResolvers;
use crate::leader::{LeaderLoop, Leadership};
use crate::nodes::{NodeConfig, NodeSupervisor};
use crate::state::{ApiConfig, AppState, DEFAULT_DNS_ZONE};

pub const DB_FILE: &str = "isthmus.db";
pub const SIM_JOURNAL_FILE: &str = "sim-journal.jsonl";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The installation CA's key and certificate (`ca.key` mode 0600, `ca.pem`).
pub const CA_DIR: &str = "ca";

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// How often the controller re-observes every live resource.
    pub resync_interval: Duration,
    /// Added to every simulated cloud call.
    pub sim_latency: Duration,
    pub dns_zone: String,
    /// Where the platform DNS answers (UDP and TCP). `new` picks a free loopback port so
    /// embedded servers never collide; `isthmus serve` defaults to [`DEFAULT_DNS_LISTEN`].
    pub dns_listen: SocketAddr,
    /// Run the `local` provider (real namespaces on this host; needs root) with this
    /// config; `None`: local networks wait for a driver and the lab API answers 409.
    pub local: Option<LocalConfig>,
    /// How long node certificates are valid (renewed after two thirds of it).
    pub node_cert_lifetime: Duration,
    /// Connection cap and timeouts of the API's HTTP server.
    pub http: HttpLimits,
    /// Serve the lab API (`false`: `isthmus serve --no-lab`, every lab route answers 404).
    pub lab: bool,
    /// Keep the state in this PostgreSQL database (`postgres://…`) instead of the data
    /// dir's SQLite file: what several replicas share.
    pub database: Option<String>,
    /// Where the `aws` driver sends EC2 calls (an emulator such as moto); `None`: the
    /// environment's `AWS_ENDPOINT_URL`, else AWS itself. `aws` runs on EC2 only when the
    /// standard chain has credentials, on the simulator otherwise.
    pub aws_endpoint_url: Option<String>,
    /// On PostgreSQL: the providers whose resources this replica reconciles (each must
    /// have a driver here); `None`: every provider it has a driver for.
    pub providers: Option<Vec<Provider>>,
}

impl ServeConfig {
    /// Defaults for everything but the data dir: 127.0.0.1:8710, 30 s resync, no latency.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8710)),
            resync_interval: ControllerConfig::default().resync_interval,
            sim_latency: Duration::ZERO,
            dns_zone: DEFAULT_DNS_ZONE.to_string(),
            dns_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            local: None,
            node_cert_lifetime: crate::nodes::DEFAULT_CERT_LIFETIME,
            http: HttpLimits::default(),
            lab: true,
            database: None,
            aws_endpoint_url: None,
            providers: None,
        }
    }
}

/// Everything `serve` runs, started but not yet listening.
pub struct Started {
    pub state: AppState,
    /// Where the first-start superuser secret was written; `None` on later starts.
    pub admin_token_file: Option<PathBuf>,
    /// The controller (SQLite: always; PostgreSQL: run by the leader loop instead).
    controller: Option<JoinHandle<()>>,
    /// PostgreSQL: claims the lease and runs the controller while this replica holds it.
    leader_loop: Option<LeaderLoop>,
    /// Removes public allow-list entries whose expiry passed (SQLite; on PostgreSQL the
    /// leader loop runs it with the controller).
    allowlist_expiry: Option<JoinHandle<()>>,
    /// The process's one follower of the audit log.
    audit_feed: JoinHandle<()>,
    /// Keeps the API's caches current with other processes' writes (from the feed).
    cache_feed: JoinHandle<()>,
    /// The platform DNS, answering while this lives.
    pub dns: PlatformDns,
    /// The platform DNS inside every lab VPC (with the local provider).
    pub lab_resolvers: Option<LabResolvers>,
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(controller) = &self.controller {
            controller.abort();
        }
        if let Some(expiry) = &self.allowlist_expiry {
            expiry.abort();
        }
        self.cache_feed.abort();
        self.audit_feed.abort();
    }
}

impl Started {
    /// Lets the controller lease go (PostgreSQL), so another replica leads at once.
    pub async fn release_lease(&self) {
        if let Some(leader) = &self.leader_loop {
            leader.release().await;
        }
    }
}

/// Opens the data dir's store and simulated clouds, starts the controller and, on first
/// start, writes a superuser token.
pub async fn start(config: &ServeConfig) -> anyhow::Result<Started> {
    let dir = &config.data_dir;
    // A new data dir is private: it holds the database and the admin token.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create data dir {}", dir.display()))?;
    // Absolute from here on: node processes run with their own working directory and are
    // handed paths under it (a relative `--data-dir ./data` broke their cert paths).
    let dir = &dir
        .canonicalize()
        .with_context(|| format!("resolve data dir {}", dir.display()))?;
    // Replicas sharing this data dir start one at a time (see `lock_for_start`).
    let start_lock = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || crate::data_dir::lock_for_start(&dir))
            .await
            .context("wait for the data dir's start lock")??
    };
    // First start or installation: decided by the marker, before opening creates anything.
    let data_dir = match config.database {
        // Replicas on one PostgreSQL share a data dir for the installation CA.
        Some(_) => crate::data_dir::inspect_beside_postgres(dir)?,
        None => crate::data_dir::inspect(dir)?,
    };
    let (store, pg) = open_store(config, dir, data_dir).await?;
    crate::kinds::claim_names(store.as_ref()).await?;
    // Everything in this process writes through the caching store, so the API's caches
    // hear of every write made here at once (see `cache`).
    // Each of those writes pokes the process's one audit-log follower, so whatever follows
    // the log (caches, DNS, allow-list expiry, the leader's controller) hears of it at once.
    let caches = crate::cache::Caches::new();
    let poke = FeedPoke::default();
    let store: Arc<dyn Store> = Arc::new(CachingStore::new(store, caches.clone(), poke.clone()));
    let (feed, audit_feed) = AuditFeed::start(store.clone(), poke.clone()).await?;
    let cache_feed = crate::cache::follow(caches.clone(), &feed);
    let tokens = store.count_tokens().await.context("count tokens")?;
    let first_start = crate::data_dir::first_start(dir, data_dir, tokens)?;
    let sim_config = SimConfig {
        latency: config.sim_latency,
        journal: Some(dir.join(SIM_JOURNAL_FILE)),
    };
    let sim = match &config.database {
        // Replicas share the clouds through the database (the data dir's journal, if
        // any, seeds it once).
        Some(url) => crate::sim_shared::on_postgres(url)
            .and_then(|log| SimClouds::open_shared(sim_config, log))
            .context("open the simulated clouds in the database")?,
        None => SimClouds::open(sim_config)
            .with_context(|| format!("open the simulated clouds in {}", dir.display()))?,
    };
    let provisioners = sim.provisioners(&[Provider::Aws, Provider::Gcp, Provider::Azure]);
    // `aws` on EC2 when the standard chain has credentials; the simulator otherwise.
    let (aws, aws_line) = isthmus_driver_aws::choose(config.aws_endpoint_url.clone());
    tracing::info!("{aws_line}");
    let provisioners = match aws {
        Some(aws) => provisioners.merge(aws),
        None => provisioners,
    };
    // Without the local driver, the API refuses `local` networks (422). With it, lab VPCs are restored and orphans swept first.
    let local = match &config.local {
        Some(local) => crate::local::start(local, store.as_ref()).await?,
        None => None,
    };
    let provisioners = match &local {
        Some(driver) => provisioners.merge(driver.provisioners()),
        None => provisioners,
    };
    let (admin_token_file, ca) = if first_start {
        let token_file = bootstrap_superuser(store.as_ref(), dir).await?;
        (token_file, Ca::load_or_create(&dir.join(CA_DIR)))
    } else {
        // An installation keeps its CA: a new one would be trusted by no node.
        (None, Ca::load_existing(&dir.join(CA_DIR)))
    };
    let ca =
        Arc::new(ca.with_context(|| format!("open the installation CA in {}", dir.display()))?);
    if data_dir != DataDir::Initialised {
        crate::data_dir::mark_initialised(dir)?;
    }
    drop(start_lock);
    let dns = PlatformDns::start(store.clone(), &feed, config.dns_listen, &config.dns_zone).await?;
    // With the local provider, lab hosts resolve the zone and nodes run their engines.
    let lab_resolvers = local
        .as_ref()
        .map(|driver| LabResolvers::start(driver.clone(), dns.zone()));
    let nodes = match &local {
        Some(driver) => Some(Arc::new(NodeSupervisor::new(
            NodeConfig::new(dir, config.node_cert_lifetime)?,
            ca.clone(),
            driver.clone(),
        ))),
        None => None,
    };
    let migrations = nodes.as_ref().map(|n| n.migrations());
    let controller_config = ControllerConfig {
        resync_interval: config.resync_interval,
        ..ControllerConfig::default()
    };
    // On PostgreSQL each provider's resources are reconciled only while this replica holds
    // that provider's lease (and only for providers it has a driver for); the rest of the
    // controller and the allow-list expiry only while it holds the controller lease. Each
    // writes through its lease's fenced store.
    let (handle, controller, allowlist_expiry, leadership, leader_loop) = match pg {
        Some(pg) => {
            let handle = ControllerHandle::idle();
            let providers = reconciled_providers(&provisioners, config.providers.as_deref())?;
            let provisioners = provisioners.clone();
            let replicators = migrations.clone();
            let (expiry_feed, caches, api) = (feed.clone(), caches.clone(), handle.clone());
            let start: crate::leader::StartController = Box::new(move |scope, fenced| {
                // Through the caches too, so the controller's writes reach them (and the
                // feed) at once, as on SQLite.
                let fenced: Arc<dyn Store> =
                    Arc::new(CachingStore::new(fenced, caches.clone(), poke.clone()));
                let (handle, controller) = Controller::start_scoped(
                    fenced.clone(),
                    provisioners.clone(),
                    controller_config.clone(),
                    nodes.clone(),
                    scope,
                );
                let mut tasks = vec![controller];
                if scope == Scope::NoProvider {
                    // It wakes the clusters it changes on every controller of this replica.
                    let expiry =
                        crate::allowlist_expiry::start(fenced, api.clone(), expiry_feed.clone());
                    tasks.push(expiry);
                }
                // The local nodes' replicators are the local provider's work.
                if let (Scope::Provider(Provider::Local), Some(runner)) =
                    (scope, replicators.clone())
                {
                    tasks.push(crate::leader::on_term_end(move || runner.stop_all()));
                }
                (handle, tasks)
            });
            let (leadership, leader_loop) =
                crate::leader::lead_on_postgres(pg, feed.clone(), handle.clone(), providers, start);
            (handle, None, None, leadership, Some(leader_loop))
        }
        None => {
            if config.providers.is_some() {
                tracing::warn!("--providers applies to replicas on PostgreSQL: this SQLite server reconciles every provider it has a driver for");
            }
            let (handle, controller) = Controller::start_with_nodes(
                store.clone(),
                provisioners.clone(),
                controller_config,
                nodes,
            );
            let expiry =
                crate::allowlist_expiry::start(store.clone(), handle.clone(), feed.clone());
            let leadership =
                Leadership::single(crate::leader::replica_name(), &provisioners.providers());
            (handle, Some(controller), Some(expiry), leadership, None)
        }
    };
    let api = ApiConfig {
        dns_zone: config.dns_zone.clone(),
        admin_token_file: Some(dir.join(ADMIN_TOKEN_FILE)),
        lab_enabled: config.lab,
    };
    Ok(Started {
        state: AppState::new(store, provisioners, sim, handle, api)
            .with_local(local)
            .with_ca(ca)
            .with_dns_sync(dns.sync())
            .with_lab_dns(lab_resolvers.as_ref().map(LabResolvers::sync))
            .with_migrations(migrations)
            .with_leadership(leadership)
            .with_caches(caches),
        admin_token_file,
        dns,
        lab_resolvers,
        controller,
        leader_loop,
        allowlist_expiry,
        audit_feed,
        cache_feed,
    })
}

/// The providers this replica reconciles: `--providers` if given (each must have a driver
/// here), else every provider it has a driver for.
fn reconciled_providers(
    provisioners: &isthmus_driver::Provisioners,
    chosen: Option<&[Provider]>,
) -> anyhow::Result<Vec<Provider>> {
    let drivers = provisioners.providers();
    let Some(chosen) = chosen else {
        return Ok(drivers);
    };
    if let Some(missing) = chosen.iter().find(|p| !drivers.contains(p)) {
        anyhow::bail!(
            "--providers {missing}: this replica has no {missing} driver{}",
            if *missing == Provider::Local {
                " (the local provider needs --local on the host whose kernel it drives)"
            } else {
                ""
            }
        );
    }
    let mut chosen = chosen.to_vec();
    chosen.sort_by_key(|p| p.as_str());
    chosen.dedup();
    Ok(chosen)
}

/// The store: the PostgreSQL database of `--database` (returned twice: as the store and
/// for the lease), else the data dir's SQLite file.
async fn open_store(
    config: &ServeConfig,
    dir: &Path,
    data_dir: DataDir,
) -> anyhow::Result<(Arc<dyn Store>, Option<PgStore>)> {
    if let Some(url) = &config.database {
        let store = PgStore::connect(url).await?;
        tracing::info!(database = %redact(url), "the store is PostgreSQL");
        return Ok((Arc::new(store.clone()), Some(store)));
    }
    let store = Arc::new(match SqliteStore::open(&dir.join(DB_FILE)).await {
        Ok(store) => store,
        Err(e) if data_dir == DataDir::Initialised => {
            return Err(e.context(crate::data_dir::damaged_database(dir)))
        }
        Err(e) => return Err(e.context(format!("open the store in {}", dir.display()))),
    });
    Ok((store, None))
}

/// On the first start (no tokens at all) makes a superuser token and writes its secret
/// to `<data_dir>/admin-token`, readable by this user only.
async fn bootstrap_superuser(store: &dyn Store, dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if store.count_tokens().await.context("count tokens")? > 0 {
        return Ok(None);
    }
    let secret = new_secret();
    let path = dir.join(ADMIN_TOKEN_FILE);
    write_secret_file(&path, &secret)?;
    store
        .create_token(
            &Actor("bootstrap".into()),
            "admin",
            true,
            &hash_secret(&secret),
            None,
        )
        .await
        .context("create the first superuser token")?;
    Ok(Some(path))
}

/// Creates the file with mode 0600 from the start, so the secret is never readable by
/// others, not even between create and chmod. A stale file (from a wiped database) is
/// replaced.
fn write_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("remove stale {}", path.display())),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    writeln!(file, "{secret}").with_context(|| format!("write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("sync {}", path.display()))?;
    Ok(())
}

/// Serves the API on `listener` with the default [`HttpLimits`] until `shutdown`
/// completes, then drains open requests.
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_on_with(listener, state, HttpLimits::default(), shutdown).await
}

/// [`serve_on`] within `limits`.
pub async fn serve_on_with(
    listener: TcpListener,
    state: AppState,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("listener address")?;
    tracing::info!(%addr, ?limits, "serving the Isthmus API");
    crate::http_server::serve(listener, crate::api::router(state), limits, shutdown)
        .await
        .with_context(|| format!("serve on {addr}"))
}

/// What `isthmus serve` prints before the API's URL once it listens.
pub const API_ADDRESS_LINE: &str = "serving the API on ";
/// Printed before the web console's URL, on the line after the API's.
pub const CONSOLE_LINE: &str = "web console: ";
/// Printed before the platform DNS's address (its port, when started on port 0).
pub const DNS_LINE: &str = "platform DNS on ";

/// `isthmus serve`.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let started = start(&config).await?;
    if let Some(path) = &started.admin_token_file {
        // Printed, not logged: the one line a new operator needs must survive any RUST_LOG.
        eprintln!("first start: the superuser token is in {}", path.display());
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen on {}", config.listen))?;
    // Printed too: with `--listen 127.0.0.1:0` this line is the only way to learn the port.
    let addr = listener.local_addr().context("listener address")?;
    eprintln!("{API_ADDRESS_LINE}http://{addr}");
    // What a new user opens or points a resolver at next, whatever RUST_LOG says.
    eprintln!("{CONSOLE_LINE}http://{addr}/");
    eprintln!(
        "{DNS_LINE}{} (UDP and TCP) for the zone {}",
        started.dns.local_addr(),
        config.dns_zone
    );
    serve_on_with(
        listener,
        started.state.clone(),
        config.http,
        shutdown_signal(),
    )
    .await?;
    started.release_lease().await;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT: shutting down"),
        _ = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

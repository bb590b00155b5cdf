//! `isthmus serve`: the API server and the controller, in this process.

use std::io::IsTerminal;
use std::time::Duration;

use isthmus_server::serve::{serve, HttpLimits, ServeConfig};

use crate::args::ServeArgs;
use crate::config::Env;

pub async fn run(args: ServeArgs, env: &Env) -> anyhow::Result<String> {
    init_tracing();
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => env.default_data_dir().ok_or_else(|| {
            anyhow::anyhow!("no data directory: pass --data-dir or set ISTHMUS_DATA_DIR or HOME")
        })?,
    };
    let config = ServeConfig {
        listen: args.listen,
        resync_interval: Duration::from_secs(args.resync_seconds.max(1)),
        sim_latency: Duration::from_millis(args.sim_latency_ms),
        local: super::lab::serve_config(&args.local),
        dns_listen: args.dns_listen,
        dns_zone: args.dns_zone,
        node_cert_lifetime: Duration::from_secs(args.node_cert_lifetime_seconds.max(1)),
        http: HttpLimits {
            max_connections: args.max_connections as usize,
            header_timeout: Duration::from_secs(args.header_timeout_seconds),
            idle_timeout: Duration::from_secs(args.idle_timeout_seconds),
            request_timeout: Duration::from_secs(args.request_timeout_seconds),
        },
        lab: !args.no_lab,
        database: args.database,
        aws_endpoint_url: args.aws_endpoint_url,
        providers: args.providers,
        ..ServeConfig::new(data_dir)
    };
    serve(config).await?;
    Ok(String::new())
}

/// Logs to stderr, filtered by RUST_LOG (default: info).
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Only fails if a subscriber is already set, and then that one keeps working.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only where a person reads them, not in log files.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

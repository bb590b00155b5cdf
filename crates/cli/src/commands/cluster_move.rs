//! `isthmus cluster move ID --network NET [--wait]` and `--cancel`: start (or cancel) a
//! move and, with `--wait`, follow it phase by phase until it is done or cancelled.

use std::time::{Duration, Instant};

use isthmus_core::kinds::cluster_move::{ClusterMoveRequest, MovePhase};
use isthmus_core::resources::Cluster;
use isthmus_core::state::ClusterStatus;

use super::Ctx;
use crate::args::WaitArgs;
use crate::kinds::print_warnings;

const POLL: Duration = Duration::from_millis(250);

pub async fn run(
    ctx: &Ctx,
    path: &str,
    request: Option<ClusterMoveRequest>,
    wait: WaitArgs,
) -> anyhow::Result<String> {
    let started: Cluster = match &request {
        Some(req) => ctx.client.post(&format!("{path}/move"), req).await?,
        None => {
            ctx.client
                .post(&format!("{path}/move/cancel"), &serde_json::json!({}))
                .await?
        }
    };
    if let Some(m) = &started.network_move {
        print_warnings(&m.warnings);
        for lost in &m.lost_access {
            eprintln!("warning: loses access: {lost}");
        }
    }
    if !wait.wait {
        return ctx.one(&started);
    }
    let moved = follow(ctx, path, Duration::from_secs(wait.timeout)).await?;
    ctx.one(&moved)
}

/// Polls the cluster until its move is no longer under way, printing each phase once
/// (to stderr, so the final view stays machine-readable).
async fn follow(ctx: &Ctx, path: &str, timeout: Duration) -> anyhow::Result<Cluster> {
    let begun = Instant::now();
    let mut shown: Option<MovePhase> = None;
    loop {
        let c: Cluster = ctx.client.get(path).await?;
        let Some(m) = &c.network_move else {
            anyhow::bail!("cluster {} has no move", c.id);
        };
        if shown != Some(m.phase) {
            eprintln!(
                "{:>6.1}s  {:<18} {}",
                begun.elapsed().as_secs_f64(),
                m.phase.as_str(),
                m.message
            );
            shown = Some(m.phase);
        }
        if c.status == ClusterStatus::Error {
            anyhow::bail!("cluster {} is error: {}", c.id, c.status_message);
        }
        if !m.phase.is_active() {
            if m.phase == MovePhase::Done {
                crate::wait::dns_synced(&ctx.client).await;
            }
            return Ok(c);
        }
        if begun.elapsed() >= timeout {
            anyhow::bail!(
                "timed out after {}s waiting for the move of cluster {}: still {} ({})",
                timeout.as_secs(),
                c.id,
                m.phase.as_str(),
                m.message
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

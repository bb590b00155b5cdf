//! Public endpoint addresses: one per cluster with public access, unique across the whole
//! installation. The `public_ips` table is the set of taken addresses; it is read and
//! written in the same write transaction as the cluster, so two clusters enabling public
//! access at once are serialized and never share an address (and the primary key would
//! refuse it if they did).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use isthmus_core::resources::Cluster;
use isthmus_core::{rules, ClusterId};
use sqlx::{Row, SqliteConnection};

use super::codec::Ctx;
use crate::{Result, StoreError};

async fn taken(conn: &mut SqliteConnection) -> Result<HashSet<Ipv4Addr>> {
    let rows = sqlx::query("SELECT ip FROM public_ips")
        .fetch_all(&mut *conn)
        .await
        .ctx("list taken public addresses")?;
    rows.iter()
        .map(|row| {
            let ip: &str = row.try_get("ip").ctx("read public address")?;
            ip.parse().map_err(|_| {
                StoreError::Backend(anyhow::anyhow!("stored public address '{ip}' is not IPv4"))
            })
        })
        .collect()
}

/// Brings `cluster.public_endpoint` and the cluster's claim in line with
/// `public_access.enabled`: a new endpoint takes the lowest free pool address, an endpoint
/// the cluster has keeps its address, and a disabled cluster gives its address back.
pub(crate) async fn sync(conn: &mut SqliteConnection, cluster: &mut Cluster) -> Result<()> {
    if !cluster.public_access.enabled {
        cluster.public_endpoint = None;
        return release(conn, cluster.id).await;
    }
    if cluster.public_endpoint.is_none() {
        let taken = taken(conn).await?;
        rules::assign_public_endpoint(cluster, &taken)?;
    }
    let ip = cluster
        .public_endpoint
        .as_ref()
        .map(|e| e.ip.to_string())
        .expect("assigned above");
    // Idempotent for an address the cluster already holds; the primary key refuses an
    // address another cluster holds.
    sqlx::query(
        "INSERT INTO public_ips (ip, cluster_id) VALUES (?1, ?2)
         ON CONFLICT (cluster_id) DO UPDATE SET ip = excluded.ip",
    )
    .bind(&ip)
    .bind(cluster.id.to_string())
    .execute(&mut *conn)
    .await
    .with_ctx(|| format!("claim public address {ip} for cluster {}", cluster.id))?;
    Ok(())
}

/// Frees the cluster's public address, if it holds one.
pub(crate) async fn release(conn: &mut SqliteConnection, cluster: ClusterId) -> Result<()> {
    sqlx::query("DELETE FROM public_ips WHERE cluster_id = ?1")
        .bind(cluster.to_string())
        .execute(&mut *conn)
        .await
        .with_ctx(|| format!("release the public address of cluster {cluster}"))?;
    Ok(())
}

/// Gives an endpoint to every live cluster stored with public access enabled but none
/// (written before endpoints existed, migration 0004), bumping its generation so the
/// controller opens it. Runs once at open; a no-op afterwards.
pub(crate) async fn backfill(conn: &mut SqliteConnection) -> Result<()> {
    let rows = sqlx::query(
        "SELECT body FROM resources WHERE kind = 'cluster' AND status NOT IN ('deleting', 'deleted')
           AND json_extract(body, '$.public_access.enabled')
           AND id NOT IN (SELECT cluster_id FROM public_ips)",
    )
    .fetch_all(&mut *conn)
    .await
    .ctx("list public clusters without an endpoint")?;
    for row in &rows {
        let body: &str = row.try_get("body").ctx("read cluster body")?;
        let mut cluster: Cluster = serde_json::from_str(body).ctx("decode a stored cluster")?;
        let stored_version = cluster.version;
        sync(conn, &mut cluster).await?;
        cluster.generation += 1;
        cluster.warnings = rules::cluster_warnings(&cluster);
        super::rows::replace(conn, &mut cluster, stored_version).await?;
    }
    Ok(())
}

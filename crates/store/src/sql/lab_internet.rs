//! The lab's internet hosts: public-looking addresses outside every lab VPC, from which
//! the public endpoints are tried. Validated by the core in the write transaction and
//! audit-logged like lab hosts (kind `lab_internet_host`, no project).

use super::query::{query, Conn, Get};
use chrono::Utc;
use isthmus_core::lab::{self, LabHost, LabHostCreate};
use isthmus_core::CoreError;

use super::codec::{time_text, to_json_text, Ctx};
use super::lab::log;
use super::{Backend, Commit};
use crate::{Actor, Result, StoreError};

const KIND: &str = "lab_internet_host";

async fn load<C: Conn>(conn: &mut C) -> Result<Vec<LabHost>> {
    let rows = query("SELECT name, ip FROM lab_internet_hosts ORDER BY name")
        .fetch_all(&mut *conn)
        .await
        .ctx("load internet hosts")?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("name").ctx("read internet host name")?;
            let ip: &str = row.try_get("ip").ctx("read internet host ip")?;
            let ip = ip.parse().map_err(|_| {
                StoreError::Backend(anyhow::anyhow!(
                    "stored address '{ip}' of internet host {name}"
                ))
            })?;
            Ok(LabHost { name, ip })
        })
        .collect()
}

pub(super) async fn list_internet_hosts_rd<B: Backend>(store: &B) -> Result<Vec<LabHost>> {
    load(&mut *store.read().await?).await
}

pub(super) async fn add_internet_host_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    req: &LabHostCreate,
) -> Result<LabHost> {
    let mut tx = store.begin_write().await?;
    let existing = load(&mut *tx).await?;
    let host = lab::new_internet_host(&existing, req)?;
    query("INSERT INTO lab_internet_hosts (name, ip, created_at) VALUES ($1, $2, $3)")
        .bind(&host.name)
        .bind(host.ip.to_string())
        .bind(time_text(Utc::now()))
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("insert internet host {}", host.name))?;
    let after = Some(to_json_text(&host)?);
    let id = format!("{}/{}", lab::INTERNET, host.name);
    log(
        &mut *tx,
        actor,
        "lab_internet_host.add",
        KIND,
        id,
        None,
        after,
    )
    .await?;
    tx.commit().await.ctx("commit internet host add")?;
    Ok(host)
}

pub(super) async fn delete_internet_host_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    name: &str,
) -> Result<LabHost> {
    let mut tx = store.begin_write().await?;
    let before = load(&mut *tx)
        .await?
        .into_iter()
        .find(|h| h.name == name)
        .ok_or_else(|| CoreError::not_found("internet host", name))?;
    query("DELETE FROM lab_internet_hosts WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("delete internet host {name}"))?;
    let json = Some(to_json_text(&before)?);
    let id = format!("{}/{name}", lab::INTERNET);
    log(
        &mut *tx,
        actor,
        "lab_internet_host.delete",
        KIND,
        id,
        json,
        None,
    )
    .await?;
    tx.commit().await.ctx("commit internet host delete")?;
    Ok(before)
}

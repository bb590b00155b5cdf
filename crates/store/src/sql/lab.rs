//! Lab VPCs and their hosts (the customer's side of `local` peerings). Each change is
//! validated by the core against the rows it reads in the same write transaction, and
//! logged to the audit log (no project: lab VPCs belong to the host, not to a project).

use std::collections::BTreeMap;

use super::query::{query, Conn, Get};
use chrono::Utc;
use isthmus_core::lab::{self, LabHost, LabHostCreate, LabVpc, LabVpcCreate};
use isthmus_core::CoreError;

use super::audit::{self, NewEvent};
use super::codec::{parse_time, time_text, to_json_text, Ctx};
use super::{Backend, Commit};
use crate::{Actor, Result, StoreError};

fn corrupt(what: String) -> StoreError {
    StoreError::Backend(anyhow::anyhow!(what))
}

/// Every lab VPC with its hosts (hosts in name order), optionally only the one named.
async fn load<C: Conn>(conn: &mut C, only: Option<&str>) -> Result<Vec<LabVpc>> {
    let vpc_rows = query(
        "SELECT name, cidr, behind, created_at FROM lab_vpcs WHERE $1 IS NULL OR name = $1 ORDER BY name",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await
    .ctx("load lab VPCs")?;
    let mut vpcs = BTreeMap::new();
    for row in &vpc_rows {
        let name: String = row.try_get("name").ctx("read lab VPC name")?;
        let cidr: &str = row.try_get("cidr").ctx("read lab VPC cidr")?;
        let vpc = LabVpc {
            cidr_block: cidr
                .parse()
                .map_err(|_| corrupt(format!("stored CIDR '{cidr}' of lab VPC {name}")))?,
            created_at: parse_time(row.try_get("created_at").ctx("read lab VPC time")?)?,
            behind: row.try_get("behind").ctx("read lab VPC behind")?,
            hosts: Vec::new(),
            name: name.clone(),
        };
        vpcs.insert(name, vpc);
    }
    let host_rows = query(
        "SELECT vpc, name, ip FROM lab_hosts WHERE $1 IS NULL OR vpc = $1 ORDER BY vpc, name",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await
    .ctx("load lab hosts")?;
    for row in &host_rows {
        let vpc: String = row.try_get("vpc").ctx("read lab host VPC")?;
        let name: String = row.try_get("name").ctx("read lab host name")?;
        let ip: &str = row.try_get("ip").ctx("read lab host ip")?;
        let ip = ip
            .parse()
            .map_err(|_| corrupt(format!("stored address '{ip}' of lab host {vpc}/{name}")))?;
        if let Some(v) = vpcs.get_mut(&vpc) {
            v.hosts.push(LabHost { name, ip });
        }
    }
    Ok(vpcs.into_values().collect())
}

async fn load_one<C: Conn>(conn: &mut C, name: &str) -> Result<LabVpc> {
    load(conn, Some(name))
        .await?
        .pop()
        .ok_or_else(|| CoreError::not_found("lab VPC", name).into())
}

pub(super) async fn log<C: Conn>(
    conn: &mut C,
    actor: &Actor,
    action: &str,
    resource_kind: &str,
    resource_id: String,
    before: Option<String>,
    after: Option<String>,
) -> Result<()> {
    audit::append(
        conn,
        NewEvent {
            actor,
            time: Utc::now(),
            action: action.to_string(),
            project: None,
            resource_kind,
            resource_id,
            before,
            after,
        },
    )
    .await
}

pub(super) async fn create_lab_vpc_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    req: &LabVpcCreate,
) -> Result<LabVpc> {
    let mut tx = store.begin_write().await?;
    let existing = load(&mut *tx, None).await?;
    let vpc = lab::new_lab_vpc(req, &existing, Utc::now())?;
    query("INSERT INTO lab_vpcs (name, cidr, behind, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&vpc.name)
        .bind(vpc.cidr_block.to_string())
        .bind(&vpc.behind)
        .bind(time_text(vpc.created_at))
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("insert lab VPC {}", vpc.name))?;
    let after = Some(to_json_text(&vpc)?);
    log(
        &mut *tx,
        actor,
        "lab_vpc.create",
        "lab_vpc",
        vpc.name.clone(),
        None,
        after,
    )
    .await?;
    tx.commit().await.ctx("commit lab VPC create")?;
    Ok(vpc)
}

pub(super) async fn list_lab_vpcs_rd<B: Backend>(store: &B) -> Result<Vec<LabVpc>> {
    load(&mut *store.read().await?, None).await
}

pub(super) async fn get_lab_vpc_rd<B: Backend>(store: &B, name: &str) -> Result<LabVpc> {
    load_one(&mut *store.read().await?, name).await
}

pub(super) async fn delete_lab_vpc_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    name: &str,
) -> Result<LabVpc> {
    let mut tx = store.begin_write().await?;
    let before = load_one(&mut *tx, name).await?;
    let spokes: Vec<String> = load(&mut *tx, None)
        .await?
        .into_iter()
        .filter(|v| v.behind.as_deref() == Some(name))
        .map(|v| v.name)
        .collect();
    if !spokes.is_empty() {
        return Err(CoreError::conflict(
            None,
            "vpc-in-use",
            format!(
                "lab VPC {name} is the gateway of {}: delete those first",
                spokes.join(", ")
            ),
        )
        .into());
    }
    // Hosts go with their VPC (ON DELETE CASCADE).
    query("DELETE FROM lab_vpcs WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("delete lab VPC {name}"))?;
    let json = Some(to_json_text(&before)?);
    log(
        &mut *tx,
        actor,
        "lab_vpc.delete",
        "lab_vpc",
        name.into(),
        json,
        None,
    )
    .await?;
    tx.commit().await.ctx("commit lab VPC delete")?;
    Ok(before)
}

pub(super) async fn add_lab_host_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    vpc: &str,
    req: &LabHostCreate,
) -> Result<LabHost> {
    let mut tx = store.begin_write().await?;
    let current = load_one(&mut *tx, vpc).await?;
    let host = lab::new_lab_host(&current, req)?;
    query("INSERT INTO lab_hosts (vpc, name, ip) VALUES ($1, $2, $3)")
        .bind(vpc)
        .bind(&host.name)
        .bind(host.ip.to_string())
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("insert lab host {vpc}/{}", host.name))?;
    let id = format!("{vpc}/{}", host.name);
    let after = Some(to_json_text(&host)?);
    log(&mut *tx, actor, "lab_host.add", "lab_host", id, None, after).await?;
    tx.commit().await.ctx("commit lab host add")?;
    Ok(host)
}

pub(super) async fn delete_lab_host_tx<B: Backend>(
    store: &B,
    actor: &Actor,
    vpc: &str,
    host: &str,
) -> Result<LabHost> {
    let mut tx = store.begin_write().await?;
    let current = load_one(&mut *tx, vpc).await?;
    let before = current
        .hosts
        .into_iter()
        .find(|h| h.name == host)
        .ok_or_else(|| CoreError::not_found("lab host", format!("{vpc}/{host}")))?;
    query("DELETE FROM lab_hosts WHERE vpc = $1 AND name = $2")
        .bind(vpc)
        .bind(host)
        .execute(&mut *tx)
        .await
        .with_ctx(|| format!("delete lab host {vpc}/{host}"))?;
    let id = format!("{vpc}/{host}");
    let json = Some(to_json_text(&before)?);
    log(
        &mut *tx,
        actor,
        "lab_host.delete",
        "lab_host",
        id,
        json,
        None,
    )
    .await?;
    tx.commit().await.ctx("commit lab host delete")?;
    Ok(before)
}

/// One page of the lab audit log in order; the cursor is the last `seq` seen.
pub(super) async fn list_lab_events_rd<B: Backend>(
    store: &B,
    page: &crate::PageRequest,
) -> Result<crate::Page<isthmus_core::resources::Event>> {
    let limit = super::codec::page_limit(page);
    let after: i64 = match &page.cursor {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| CoreError::invalid("cursor", "cursor", "not a cursor of this list"))?,
    };
    let rows = query(
        "SELECT seq, project_id, time, actor, action, resource_kind, resource_id, before, after
         FROM events WHERE project_id IS NULL AND resource_kind IN ('lab_vpc', 'lab_host', 'lab_internet_host')
         AND seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *store.read().await?)
    .await
    .ctx("list lab events")?;
    super::codec::page_of(&rows, limit, audit::decode_event, |e| e.seq.to_string())
}

//! The database's backstop of the network overlap rule: an exclusion constraint on the
//! networks' CIDRs (migration 0001). A network the constraint refused although the rule
//! let it through gets the rule's own 409, naming the network held.

use isthmus_core::CoreError;
use serde_json::Value;
use sqlx::PgConnection;

use crate::doc::Doc;
use crate::sql::codec::Ctx;
use crate::{Result, StoreError};

/// The kind whose rows the exclusion constraint reads (its name in the migration).
pub(super) const NETWORK: &str = "network";

/// The exclusion constraint that backs the network overlap rule (migration 0001).
const NETWORK_OVERLAP: &str = "networks_do_not_overlap";

/// The rule's 409 when `e` is the constraint's refusal of `doc`.
pub(super) async fn backstop(
    conn: &mut PgConnection,
    e: &sqlx::Error,
    doc: &Doc,
) -> Option<StoreError> {
    match e {
        sqlx::Error::Database(db) if db.constraint() == Some(NETWORK_OVERLAP) => {
            Some(overlap(conn, doc).await)
        }
        _ => None,
    }
}

async fn overlap(conn: &mut PgConnection, doc: &Doc) -> StoreError {
    let held: Result<Option<(String, String, String, String)>> = sqlx::query_as(
        "SELECT o.id, o.body::jsonb ->> 'name', o.net_cidr::text, n.net_provider || ' ' || n.net_region
         FROM resources o,
              (SELECT $1::text AS project_id,
                      $2::jsonb ->> 'provider' AS net_provider,
                      $2::jsonb ->> 'region' AS net_region,
                      ($2::jsonb ->> 'cidr_block')::cidr AS net_cidr) n
         WHERE o.project_id = n.project_id AND o.net_provider = n.net_provider
           AND o.net_region = n.net_region AND o.net_cidr && n.net_cidr
           AND o.status <> 'deleted'
         ORDER BY o.id LIMIT 1",
    )
    .bind(doc.project_id.to_string())
    .bind(&doc.body)
    .fetch_optional(&mut *conn)
    .await
    .ctx("find the network an overlap is with");
    let cidr = serde_json::from_str::<Value>(&doc.body)
        .ok()
        .and_then(|b| {
            b.get("cidr_block")
                .and_then(|c| c.as_str())
                .map(String::from)
        })
        .unwrap_or_default();
    let message = match held {
        Ok(Some((id, name, other, place))) => {
            format!("{cidr} overlaps network '{name}' ({id}, {other}) in {place}")
        }
        Ok(None) => format!("{cidr} overlaps another network of the project"),
        Err(e) => return e,
    };
    CoreError::conflict(Some("cidr_block"), "network-overlap", message).into()
}

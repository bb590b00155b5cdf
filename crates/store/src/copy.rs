//! Moving an installation from SQLite to PostgreSQL (`isthmus store copy`): every table,
//! the audit log with its sequence numbers included, row for row (both backends store
//! the same text), in one PostgreSQL transaction holding the write lock; then both sides
//! are read back and compared. The source must be stopped (no server writing to it); the
//! target must be empty, so a copy never mixes two installations.

use std::path::Path;

use anyhow::{bail, ensure, Context};
use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{PgPool, Row, SqlitePool};

use crate::postgres::{PgStore, WRITE_LOCK};
use crate::sqlite::SqliteStore;

/// A column's type on PostgreSQL (SQLite holds it as text, integer or 0/1).
#[derive(Clone, Copy)]
enum Ty {
    Text,
    Int,
    Bool,
}

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Ty)],
    /// Rows are copied in this order: an owner before what it owns (ids grow with time).
    order: &'static str,
}

use Ty::*;

/// Every table, in an order that satisfies the foreign keys.
const TABLES: &[Table] = &[
    Table {
        name: "projects",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("version", Int),
            ("created_at", Text),
            ("updated_at", Text),
        ],
        order: "id",
    },
    Table {
        name: "tokens",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("superuser", Bool),
            ("secret_hash", Text),
            ("created_at", Text),
            ("expires_at", Text),
            ("revoked_at", Text),
        ],
        order: "id",
    },
    Table {
        name: "memberships",
        columns: &[("project_id", Text), ("token_id", Text), ("role", Text)],
        order: "project_id, token_id",
    },
    Table {
        name: "resources",
        columns: &[
            ("id", Text),
            ("kind", Text),
            ("plural", Text),
            ("project_id", Text),
            ("owner_id", Text),
            ("on_owner_delete", Text),
            ("status", Text),
            ("version", Int),
            ("body", Text),
            ("created_at", Text),
        ],
        order: "id",
    },
    Table {
        name: "resource_index",
        columns: &[
            ("index_name", Text),
            ("scope", Text),
            ("range_start", Int),
            ("range_end", Int),
            ("resource_id", Text),
            ("is_unique", Bool),
        ],
        order: "index_name, scope, range_start, range_end, resource_id",
    },
    Table {
        name: "idempotency",
        columns: &[
            ("scope", Text),
            ("key", Text),
            ("request_hash", Text),
            ("resource_kind", Text),
            ("resource_id", Text),
        ],
        order: "scope, key",
    },
    Table {
        name: "events",
        columns: &[
            ("seq", Int),
            ("project_id", Text),
            ("time", Text),
            ("actor", Text),
            ("action", Text),
            ("resource_kind", Text),
            ("resource_id", Text),
            ("before", Text),
            ("after", Text),
        ],
        order: "seq",
    },
    Table {
        name: "lab_vpcs",
        columns: &[
            ("name", Text),
            ("cidr", Text),
            ("created_at", Text),
            ("behind", Text),
        ],
        order: "name",
    },
    Table {
        name: "lab_hosts",
        columns: &[("vpc", Text), ("name", Text), ("ip", Text)],
        order: "vpc, name",
    },
    Table {
        name: "lab_internet_hosts",
        columns: &[("name", Text), ("ip", Text), ("created_at", Text)],
        order: "name",
    },
    // The simulated clouds' shared log, when the installation kept it in its database.
    // A server on SQLite keeps it in the data dir's journal file instead; the first
    // PostgreSQL replica on that data dir seeds the (then empty) table from that file.
    Table {
        name: "sim_journal",
        columns: &[("seq", Int), ("record", Text)],
        order: "seq",
    },
];

/// One row, every value as text (`None`: NULL; booleans as `0`/`1`).
type Values = Vec<Option<String>>;

/// What a copy moved: rows per table, all verified equal on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(&'static str, usize)>,
}

/// Copies the SQLite installation at `from` into the empty PostgreSQL database `to`.
pub async fn sqlite_to_postgres(from: &Path, to: &str) -> anyhow::Result<Copied> {
    ensure!(
        from.is_file(),
        "{} is not an Isthmus database file",
        from.display()
    );
    // Opening brings an older file's schema up to date, as a start of the server would.
    SqliteStore::open(from).await?.close().await;
    let source = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(from).read_only(true))
        .await
        .with_context(|| format!("open {} to read it", from.display()))?;
    let target = PgStore::connect(to).await?;
    let pool = target.pool();
    for table in TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
            .fetch_one(pool)
            .await
            .with_context(|| format!("count the rows of {} in the target", table.name))?;
        if rows > 0 {
            bail!(
                "the target database is not empty ({} holds {rows} rows): copy into a new database",
                table.name
            );
        }
    }

    let mut tx = pool.begin().await.context("begin the copy")?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await
        .context("take the write lock")?;
    for table in TABLES {
        let sql = insert_sql(table);
        for row in read_sqlite(&source, table).await? {
            let mut insert = sqlx::query(&sql);
            for value in row {
                insert = insert.bind(value);
            }
            insert
                .execute(&mut *tx)
                .await
                .with_context(|| format!("copy a row of {}", table.name))?;
        }
    }
    tx.commit().await.context("commit the copy")?;

    let mut tables = Vec::new();
    for table in TABLES {
        // Compared as sorted text: the databases' collations need not agree on order.
        let mut there = read_sqlite(&source, table).await?;
        let mut here = read_postgres(pool, table).await?;
        there.sort();
        here.sort();
        if let Some(i) = (0..there.len().max(here.len())).find(|&i| there.get(i) != here.get(i)) {
            bail!(
                "the copy of {} differs at row {i}: {:?} became {:?}",
                table.name,
                there.get(i),
                here.get(i)
            );
        }
        tables.push((table.name, here.len()));
    }
    source.close().await;
    target.close().await;
    Ok(Copied { tables })
}

fn insert_sql(table: &Table) -> String {
    let names: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    let values: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| match ty {
            Text => format!("${}", i + 1),
            Int => format!("${}::bigint", i + 1),
            Bool => format!("${}::boolean", i + 1),
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        names.join(", "),
        values.join(", ")
    )
}

async fn read_sqlite(db: &SqlitePool, table: &Table) -> anyhow::Result<Vec<Values>> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|(c, _)| format!("CAST({c} AS TEXT)"))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        table.order
    ))
    .fetch_all(db)
    .await
    .with_context(|| format!("read {} from SQLite", table.name))?;
    rows.iter().map(|r| values_sqlite(r, table)).collect()
}

async fn read_postgres(db: &PgPool, table: &Table) -> anyhow::Result<Vec<Values>> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|(c, ty)| match ty {
            Bool => format!("CASE WHEN {c} THEN '1' ELSE '0' END"),
            _ => format!("{c}::text"),
        })
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        table.order
    ))
    .fetch_all(db)
    .await
    .with_context(|| format!("read {} from PostgreSQL", table.name))?;
    rows.iter().map(|r| values_pg(r, table)).collect()
}

fn values_sqlite(row: &SqliteRow, table: &Table) -> anyhow::Result<Values> {
    (0..table.columns.len())
        .map(|i| {
            row.try_get::<Option<String>, _>(i)
                .with_context(|| format!("read {}.{}", table.name, table.columns[i].0))
        })
        .collect()
}

fn values_pg(row: &PgRow, table: &Table) -> anyhow::Result<Values> {
    (0..table.columns.len())
        .map(|i| {
            row.try_get::<Option<String>, _>(i)
                .with_context(|| format!("read {}.{}", table.name, table.columns[i].0))
        })
        .collect()
}

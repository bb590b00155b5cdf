//! The replicas' simulated clouds: the sim's shared log (`isthmus_driver::sim::SharedLog`)
//! kept in the store's database (`isthmus_store::sim_log`), so every replica sees one set
//! of clouds and a new leader adopts what a dead one created there.

use std::sync::Arc;

use isthmus_driver::sim::SharedLog;
use isthmus_store::sim_log::SharedSimLog;

struct InDatabase(SharedSimLog);

impl SharedLog for InDatabase {
    fn begin(&self, after: i64) -> anyhow::Result<Vec<(i64, String)>> {
        self.0.begin(after)
    }

    fn append(&self, record: String) -> anyhow::Result<i64> {
        self.0.append(record)
    }

    fn finish(&self) -> anyhow::Result<()> {
        self.0.finish()
    }
}

/// The sim log in the PostgreSQL database at `url` (migrated by the store).
pub fn on_postgres(url: &str) -> anyhow::Result<Arc<dyn SharedLog>> {
    Ok(Arc::new(InDatabase(SharedSimLog::postgres(url)?)))
}

/// The sim log in the SQLite database at `path` (migrated by the store).
pub fn on_sqlite(path: &std::path::Path) -> anyhow::Result<Arc<dyn SharedLog>> {
    Ok(Arc::new(InDatabase(SharedSimLog::sqlite(path)?)))
}

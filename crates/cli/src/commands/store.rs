//! `isthmus store copy`: move a stopped installation from its SQLite file to PostgreSQL.

use crate::args::StoreCommand;

pub async fn run(command: StoreCommand) -> anyhow::Result<String> {
    match command {
        StoreCommand::Copy(args) => {
            let copied = isthmus_store::copy::sqlite_to_postgres(&args.from, &args.to).await?;
            let mut text = format!(
                "copied {} to {} and verified every row:\n",
                args.from.display(),
                isthmus_store::postgres::redact(&args.to)
            );
            for (table, rows) in copied.tables {
                text.push_str(&format!("  {table:<20} {rows:>8} rows\n"));
            }
            text.push_str("start the server with --database (or ISTHMUS_DATABASE_URL) set to it\n");
            Ok(text)
        }
    }
}

//! The console's pages of migrations: phase (the status), lag and rate, and where the
//! replicator runs; the panel (`migration.js`) draws lag and rate over time, the
//! per-stream counters, and the cut-over button (with a confirmation) and its report.

use isthmus_core::kinds::migration::Migration;

use super::descriptor::{Column, ConsoleKind, Control, Field, View};

impl ConsoleKind for Migration {
    const VIEW: View = View {
        title: "Migration",
        titles: "Migrations",
        option: "{name}",
        columns: &[
            Column::new("Target cluster", "{target_cluster_id|owner}").optional(),
            Column::new("Lag (events)", "{progress.lag_events}").or("-"),
            Column::new("Rate (events/s)", "{progress.rate|round}").or("-"),
        ],
        form: &[
            Field::text("name", "Name", "name"),
            Field::new("cluster", "Target cluster", "target_cluster_id", Control::Owner),
            Field::new("source-urls", "Source URLs", "source.urls", Control::Lines),
        ],
        open_after_create: true,
        details: &[
            Column::new("Source", "{source.urls}").code(),
            Column::new("Replicator address", "{worker_ip}").code(),
            Column::new("Lag (events)", "{progress.lag_events}").or("-"),
            Column::new("Lag (seconds)", "{progress.lag_seconds|round}").or("-"),
            Column::new("Rate (events/s)", "{progress.rate|round}")
                .or("-")
                .id("migration-rate"),
            Column::new("Source write rate (events/s)", "{progress.source_rate|round}").or("-"),
            Column::new("ETA (seconds)", "{progress.eta_seconds|round}").or("-"),
            Column::new("Degraded", "{progress.degraded}").or("no"),
            Column::new("Status message", "{status_message}"),
        ],
        help: &[
            ("provisioning", "Isthmus is placing the replicator in the target's network and opening its egress to the source."),
            ("copying", "Copying stream configurations and history."),
            ("live", "Caught up once; copying the live tail."),
            ("ready_for_cutover", "No lag, and copying faster than the source is written: stop the writers and cut over."),
            ("cut_over", "The durable consumers were recreated on the target at their translated positions."),
            ("completed", "Done: the replicator stopped; the streams stay in the cluster."),
            ("error", "The copy failed for a reason retrying does not fix (the status message says which)."),
            ("deleting", "Isthmus is stopping the replicator and closing its egress."),
            ("deleted", "The migration is gone; the copied streams stay in the cluster."),
        ],
        panel: Some("migration"),
    };
}

-- Several replicas: one runs the controller at a time, holding this lease. Times are the
-- database's own clock (`now()`), the one clock every replica shares. `epoch` grows with
-- every new holder; the controller's writes name the epoch they were decided under and
-- are refused once another holder took over (a paused old leader cannot overwrite).
CREATE TABLE controller_lease (
    name        TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- The simulated clouds' memory in the database (see the PostgreSQL migration of the same
-- name): one JSON record per row, in the order they were made. A single SQLite
-- installation keeps its journal file; this table holds the sim's state when it is shared.
CREATE TABLE sim_journal (
    seq    INTEGER PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);

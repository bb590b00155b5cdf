-- The simulated clouds' memory, shared by every replica: the same JSON records the sim
-- journals to a file on a single machine, one row each, in the order they were made.
-- A replica takes its turn at the simulated clouds under an advisory lock, reads the rows
-- after the last one it applied, and appends its own: so a replica that takes over from a
-- dead leader finds (and adopts) what the leader created, as a real cloud would show it.
CREATE TABLE sim_journal (
    seq    BIGINT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);

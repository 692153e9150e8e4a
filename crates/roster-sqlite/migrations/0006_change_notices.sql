-- Nothing to do on SQLite. On PostgreSQL this migration makes every change send a notice to
-- the other nodes; here the processes that share the file see each other's commits through
-- `PRAGMA data_version`, which SQLite keeps by itself (roster-sqlite, `watch_changes`).
SELECT 1;

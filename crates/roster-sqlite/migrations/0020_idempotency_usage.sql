-- What each person's kept Idempotency-Key answers take, by the hour they were claimed in: an
-- answer is kept 24 hours, so the rows of the last 25 hours bound what is kept now, and the
-- budget check (roster-sql/idempotency.rs) reads at most 25 rows instead of summing every
-- answer the person keeps (a sync job that sends a key with every write keeps tens of
-- thousands a day). Rows past their day are pruned with the keys.
CREATE TABLE idempotency_usage (
    user_id BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hour    INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    PRIMARY KEY (user_id, hour)
) WITHOUT ROWID;
-- What is kept already counts from the start.
INSERT INTO idempotency_usage (user_id, hour, bytes)
SELECT user_id, created_at / 3600000000, sum(length(body) + length(headers) + 256)
FROM idempotency_keys WHERE body IS NOT NULL
GROUP BY 1, 2;

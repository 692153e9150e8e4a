-- Until when an endpoint counts as slow: set for ten minutes by an answer that took more than
-- two seconds (`roster_core::webhooks::SLOW`). Slow endpoints are claimed after every other
-- and never take the last slots of a node, so that receivers which hold a try for seconds
-- (on purpose or not) cannot keep other teams' messages waiting.
ALTER TABLE webhooks ADD COLUMN slow_until timestamptz;

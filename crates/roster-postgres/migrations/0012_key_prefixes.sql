-- A key's first characters (roster_core::keys::PREFIX_LEN of its 64), so that an operator can
-- name one key to revoke (`roster key revoke`) and see which keys an operator holds. Keys
-- issued before this migration have none: they are revoked by their holder's email.
ALTER TABLE api_keys ADD COLUMN prefix text COLLATE "C";
CREATE INDEX api_keys_prefix ON api_keys (prefix) WHERE prefix IS NOT NULL;

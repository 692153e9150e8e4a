-- A campaign's version: it grows with every change to the campaign or its members, and is its
-- weak ETag (`If-Match` on a rename, a delete or a member-list change is checked against it).
-- updated_at cannot serve: two changes within one clock tick would share it.
ALTER TABLE campaigns ADD COLUMN version bigint NOT NULL DEFAULT 1;

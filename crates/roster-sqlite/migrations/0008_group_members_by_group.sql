-- A group's people from the index alone: the groups= filter of member lists gathers them for
-- every page it reads, and from the table that was one row lookup per person (3,000 random
-- reads for a group of 3,000, most of a page's cost).
CREATE INDEX group_memberships_group_user ON group_memberships (group_id, user_id);

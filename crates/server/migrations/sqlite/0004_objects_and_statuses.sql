-- `objects` without foreign-key clauses on its parents (collections, orgs): the server
-- only ever inserts objects into a collection it has just looked up, by an organisation
-- it has just authenticated, and the two checks per row cost a fifth of a TAXII POST's
-- inserts. The tables that point at objects (object_recipients, report_objects) keep
-- their ON DELETE CASCADE. Same columns, rows and indexes as migration 3 left them.
CREATE TABLE objects_v4 (
    seq INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL,
    stix_id TEXT NOT NULL,
    id_key INTEGER NOT NULL,
    stix_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT NOT NULL,
    version_us INTEGER NOT NULL,
    date_added INTEGER NOT NULL,
    tlp INTEGER NOT NULL,
    author_org INTEGER NOT NULL,
    body TEXT NOT NULL
);
INSERT INTO objects_v4 (seq, collection_id, stix_id, id_key, stix_type, spec_version, version,
                        version_us, date_added, tlp, author_org, body)
    SELECT seq, collection_id, stix_id, id_key, stix_type, spec_version, version, version_us,
           date_added, tlp, author_org, body
    FROM objects;
DROP TABLE objects;
ALTER TABLE objects_v4 RENAME TO objects;
CREATE INDEX objects_added ON objects(collection_id, date_added, seq);
CREATE INDEX objects_key ON objects(id_key, version_us);

-- Status resources get their time of creation (µs since 1970), so that they expire
-- (see `STATUS_RETENTION` in sqlite.rs) instead of piling up, one per POST, forever.
-- Existing ones count from this migration.
ALTER TABLE statuses ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
UPDATE statuses SET created = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER);
CREATE INDEX statuses_created ON statuses(created);

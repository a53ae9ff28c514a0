-- Objects are found by the key of their STIX id (`id_key`: the first 63 bits of the
-- SHA-256 of `stix_id`, set by the server) instead of a unique index on the texts
-- (collection_id, stix_id, version_us): an index a fifth the size, which is what storing
-- objects with random ids costs. Uniqueness of (collection, id, version) is kept by the
-- server's single writer, which looks the key up before each insert.
--
-- The table is rebuilt (SQLite cannot drop a UNIQUE constraint) with foreign keys off;
-- `id_key` is filled in by the server after this script, before `objects_key` is built.
CREATE TABLE objects_v3 (
    seq INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections(id),
    stix_id TEXT NOT NULL,
    id_key INTEGER NOT NULL,
    stix_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT NOT NULL,
    version_us INTEGER NOT NULL,
    date_added INTEGER NOT NULL,
    tlp INTEGER NOT NULL,
    author_org INTEGER NOT NULL REFERENCES orgs(id),
    body TEXT NOT NULL
);
INSERT INTO objects_v3 (seq, collection_id, stix_id, id_key, stix_type, spec_version, version,
                        version_us, date_added, tlp, author_org, body)
    SELECT seq, collection_id, stix_id, 0, stix_type, spec_version, version, version_us,
           date_added, tlp, author_org, body
    FROM objects;
DROP TABLE objects;
ALTER TABLE objects_v3 RENAME TO objects;
CREATE INDEX objects_added ON objects(collection_id, date_added, seq);

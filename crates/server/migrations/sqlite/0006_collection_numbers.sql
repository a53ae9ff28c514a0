-- Collections get a number, and objects name their collection by it: each entry of the
-- index that pages a collection's objects by date added (`objects_added`, appended to by
-- every insert) then starts with an integer instead of a 36-character id compared at
-- every level of the index, and each object row is 35 bytes shorter. An object whose
-- collection does not exist stops the migration, saying so.
CREATE TEMP TABLE migration_6_orphans (n INTEGER);
CREATE TEMP TRIGGER migration_6_orphans_stop BEFORE INSERT ON migration_6_orphans
BEGIN
    SELECT RAISE(ABORT, 'objects name a collection that does not exist; give them one first');
END;
INSERT INTO migration_6_orphans
    SELECT 1 FROM objects o
    WHERE NOT EXISTS (SELECT 1 FROM collections c WHERE c.id = o.collection_id)
    LIMIT 1;
DROP TABLE migration_6_orphans;

ALTER TABLE collections ADD COLUMN num INTEGER;
UPDATE collections SET num = rowid;
CREATE UNIQUE INDEX collections_num ON collections(num);

CREATE TABLE objects_v6 (
    seq INTEGER PRIMARY KEY,
    coll INTEGER NOT NULL,
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
INSERT INTO objects_v6 (seq, coll, stix_id, id_key, stix_type, spec_version, version,
                        version_us, date_added, tlp, author_org, body)
    SELECT o.seq, c.num, o.stix_id, o.id_key, o.stix_type, o.spec_version, o.version,
           o.version_us, o.date_added, o.tlp, o.author_org, o.body
    FROM objects o LEFT JOIN collections c ON c.id = o.collection_id
    ORDER BY o.seq;
DROP TABLE objects;
ALTER TABLE objects_v6 RENAME TO objects;
CREATE INDEX objects_added ON objects(coll, date_added, seq, id_key);

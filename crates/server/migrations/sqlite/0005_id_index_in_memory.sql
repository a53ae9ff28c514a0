-- Objects are found by id through an index kept in memory (see id_index.rs): an index on
-- `id_key` in the database is written at a random page for every object added, and a
-- commit rewrites more and more of it as the store grows. The server reads the
-- in-memory index back, when it starts, from `objects_added`, which now ends with
-- `id_key` (its entries are appended in time order; a separate index for the pairs
-- would cost every insert a sixth more).
DROP INDEX IF EXISTS objects_key;
DROP INDEX objects_added;
CREATE INDEX objects_added ON objects(collection_id, date_added, seq, id_key);

-- Objects are found by id through an index kept in memory (see id_index.rs): an index on
-- `id_key` in the database is written at a random page for every object added, and a
-- commit rewrites more and more of it as the store grows. What stays here is the pairs
-- `(seq, id_key)` in an index that only grows at its end, which the server reads the
-- in-memory index back from when it starts.
DROP INDEX IF EXISTS objects_key;
CREATE INDEX objects_seq_key ON objects(seq, id_key);

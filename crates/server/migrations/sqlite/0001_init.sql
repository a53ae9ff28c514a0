-- chainwatch intel store, schema 1 (portable SQL: PostgreSQL gets the same tables
-- with BIGSERIAL/BIGINT/TEXT/BOOLEAN).
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE communities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);

CREATE TABLE orgs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    identity_id TEXT NOT NULL UNIQUE,
    client_of INTEGER REFERENCES orgs(id),
    created TEXT NOT NULL
);

CREATE TABLE community_members (
    community_id INTEGER NOT NULL REFERENCES communities(id),
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    PRIMARY KEY (community_id, org_id)
);
CREATE INDEX community_members_org ON community_members(org_id, community_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    token_sha256 TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    label TEXT,
    created TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT,
    community_id INTEGER REFERENCES communities(id),
    public_read INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);

CREATE TABLE collection_grants (
    collection_id TEXT NOT NULL REFERENCES collections(id),
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    can_read INTEGER NOT NULL,
    can_write INTEGER NOT NULL,
    PRIMARY KEY (collection_id, org_id)
);

CREATE TABLE objects (
    seq INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections(id),
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT NOT NULL,
    version_us INTEGER NOT NULL,
    date_added INTEGER NOT NULL,
    tlp INTEGER NOT NULL,
    author_org INTEGER NOT NULL REFERENCES orgs(id),
    body TEXT NOT NULL,
    UNIQUE (collection_id, stix_id, version_us)
);
CREATE INDEX objects_added ON objects(collection_id, date_added, seq);

CREATE TABLE object_recipients (
    seq INTEGER NOT NULL REFERENCES objects(seq) ON DELETE CASCADE,
    org_id INTEGER NOT NULL,
    PRIMARY KEY (seq, org_id)
);

CREATE TABLE statuses (
    id TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections(id),
    title TEXT NOT NULL,
    tlp INTEGER NOT NULL,
    author_org INTEGER NOT NULL REFERENCES orgs(id),
    actor TEXT,
    created TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX reports_created ON reports(created);

CREATE TABLE report_recipients (
    report_id TEXT NOT NULL REFERENCES reports(id),
    org_id INTEGER NOT NULL,
    PRIMARY KEY (report_id, org_id)
);

CREATE TABLE report_objects (
    report_id TEXT NOT NULL REFERENCES reports(id),
    seq INTEGER NOT NULL REFERENCES objects(seq) ON DELETE CASCADE,
    PRIMARY KEY (report_id, seq)
);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    org TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

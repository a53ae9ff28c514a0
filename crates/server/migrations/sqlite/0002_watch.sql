-- Findings, registered addresses, alerts, webhooks and their delivery log (issue 8).
CREATE TABLE org_addresses (
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    chain TEXT NOT NULL,
    address TEXT NOT NULL,
    label TEXT,
    PRIMARY KEY (org_id, chain, address)
);
CREATE TABLE findings (
    report_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    report_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new',
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (org_id, report_id)
);
CREATE INDEX alerts_org ON alerts (org_id, id);
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id),
    alert_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX deliveries_hook ON deliveries (webhook_id, id);

"""Schemas of earlier versions, as databases made by them hold them: what migration tests
start from."""

SQLITE_VERSION_1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE referrals (id TEXT PRIMARY KEY, version INTEGER NOT NULL, status TEXT NOT NULL,
    substatus TEXT NOT NULL, tenant_id TEXT, expiration TEXT, document BLOB NOT NULL);
CREATE TABLE processed_commands (command_id TEXT PRIMARY KEY, referral_id TEXT,
    outcome TEXT NOT NULL, processed_at REAL NOT NULL);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, source_partition INTEGER NOT NULL,
    topic TEXT NOT NULL, key BLOB, value BLOB, headers TEXT NOT NULL, kind TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX referrals_due ON referrals (expiration) WHERE status = 'New';
"""

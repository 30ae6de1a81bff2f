//! Owns the schema: ordered migrations applied with rusqlite_migration (`PRAGMA user_version`).

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

const MIGRATIONS: &[M<'static>] = &[
    M::up(
        r#"
CREATE TABLE contacts (
    peer_id       TEXT PRIMARY KEY,
    nickname      TEXT NOT NULL DEFAULT '',
    grp           TEXT NOT NULL DEFAULT '',
    verification  TEXT NOT NULL DEFAULT 'unverified' CHECK (verification IN ('unverified', 'verified')),
    state         TEXT NOT NULL DEFAULT 'contact' CHECK (state IN ('contact', 'request')),
    addr          TEXT,
    send_typing   INTEGER NOT NULL DEFAULT 1,
    send_receipts INTEGER NOT NULL DEFAULT 1,
    added_ms      INTEGER NOT NULL
);
CREATE TABLE lists (
    peer_id  TEXT NOT NULL,
    list     TEXT NOT NULL CHECK (list IN ('allow', 'block')),
    added_ms INTEGER NOT NULL,
    PRIMARY KEY (peer_id, list)
);
CREATE TABLE conversations (
    id            BLOB PRIMARY KEY,
    peer_id       TEXT NOT NULL UNIQUE,
    next_out_seq  INTEGER NOT NULL DEFAULT 1,
    in_seq        INTEGER NOT NULL DEFAULT 0,
    in_read_seq   INTEGER NOT NULL DEFAULT 0,
    out_acked_seq INTEGER NOT NULL DEFAULT 0,
    out_read_seq  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    conversation BLOB NOT NULL REFERENCES conversations(id),
    msg_id       BLOB NOT NULL,
    sender       TEXT NOT NULL,
    outgoing     INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    sent_ms      INTEGER NOT NULL,
    ts_ms        INTEGER NOT NULL,
    text         TEXT NOT NULL,
    state        TEXT NOT NULL,
    UNIQUE (conversation, msg_id),
    UNIQUE (conversation, outgoing, seq)
);
CREATE INDEX messages_by_time ON messages (conversation, ts_ms, id);
CREATE TABLE outbox (
    conversation BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    message      INTEGER NOT NULL REFERENCES messages(id),
    PRIMARY KEY (conversation, seq)
);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content = 'messages', content_rowid = 'id');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"#,
    ),
    M::up(
        r#"
ALTER TABLE contacts ADD COLUMN auto_accept_bytes INTEGER;
CREATE TABLE transfers (
    file_id    BLOB PRIMARY KEY,
    peer_id    TEXT NOT NULL,
    outgoing   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    sha256     BLOB NOT NULL,
    mime       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('offered', 'accepted', 'done', 'declined', 'cancelled', 'failed')),
    path       TEXT,
    verified   INTEGER NOT NULL DEFAULT 0,
    sent_bytes INTEGER NOT NULL DEFAULT 0,
    reason     TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX transfers_by_peer ON transfers (peer_id, state);
"#,
    ),
    // 3: a message whose sealed copy expired at the rendezvous is not deposited again; it
    // waits for a direct session.
    M::up("ALTER TABLE messages ADD COLUMN mailbox_expired INTEGER NOT NULL DEFAULT 0;"),
    // 4: prefix indexes for 2–4 characters, so the word still being typed in the search box is
    // found without reading every doclist it prefixes; the index is rebuilt from messages.
    M::up(
        r#"
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'id', prefix = '2 3 4'
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
"#,
    ),
];

/// Brings the schema up to date.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), rusqlite_migration::Error> {
    Migrations::from_slice(MIGRATIONS).to_latest(conn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(
            super::Migrations::from_slice(super::MIGRATIONS)
                .validate()
                .is_ok()
        );
    }
}

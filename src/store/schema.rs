//! Owns the profile database's schema: its ordered migration steps (run by
//! [`super::migrate`] under `PRAGMA user_version`) and the per-connection search indexing.

use rusqlite::Connection;

use super::migrate::MigrateError;

/// The steps, oldest first: a file at version N has had the first N. Append only; never edit
/// or reorder a step that shipped.
const MIGRATIONS: &[&str] = &[
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
    // 3: a message whose sealed copy expired at the rendezvous is not deposited again; it
    // waits for a direct session. (Since then the column counts expiry notices: a message
    // is deposited `MAILBOX_DEPOSITS` times at most.)
    "ALTER TABLE messages ADD COLUMN mailbox_expired INTEGER NOT NULL DEFAULT 0;",
    // 4: prefix indexes for 2–4 characters, so the word still being typed in the search box is
    // found without reading every doclist it prefixes; the index is rebuilt from messages.
    r#"
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'id', prefix = '2 3 4'
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
"#,
    // 5: the search index is written once per transaction (see `INDEXING`), not by a trigger
    // inside each job's savepoint: FTS5 writes its pending terms to disk at every savepoint.
    r#"
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
"#,
    // 6: incarnations (docs/PROTOCOL.md, "Incarnations"): each side's stream of messages in a
    // conversation has a random id, created with the conversation row, so a peer that
    // starts over on a new database is told apart from one that lost messages. A peer's new
    // stream numbers from 1 again, so incoming sequence numbers are no longer unique in a
    // conversation: the messages table is rebuilt without that constraint (same rowids, so
    // the search index stays valid; the outbox, which references it, is rebuilt around it).
    r#"
ALTER TABLE conversations ADD COLUMN out_incarnation BLOB;
UPDATE conversations SET out_incarnation = randomblob(16);
ALTER TABLE conversations ADD COLUMN in_incarnation BLOB;
CREATE TABLE outbox_v5 AS SELECT conversation, seq, message FROM outbox;
DROP TABLE outbox;
CREATE TABLE messages_v6 (
    id              INTEGER PRIMARY KEY,
    conversation    BLOB NOT NULL REFERENCES conversations(id),
    msg_id          BLOB NOT NULL,
    sender          TEXT NOT NULL,
    outgoing        INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    sent_ms         INTEGER NOT NULL,
    ts_ms           INTEGER NOT NULL,
    text            TEXT NOT NULL,
    state           TEXT NOT NULL,
    mailbox_expired INTEGER NOT NULL DEFAULT 0,
    UNIQUE (conversation, msg_id)
);
INSERT INTO messages_v6 (id, conversation, msg_id, sender, outgoing, seq, sent_ms, ts_ms, text, state, mailbox_expired)
    SELECT id, conversation, msg_id, sender, outgoing, seq, sent_ms, ts_ms, text, state, mailbox_expired FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v6 RENAME TO messages;
CREATE INDEX messages_by_time ON messages (conversation, ts_ms, id);
CREATE INDEX messages_by_seq ON messages (conversation, outgoing, seq);
CREATE TABLE outbox (
    conversation BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    message      INTEGER NOT NULL REFERENCES messages(id),
    PRIMARY KEY (conversation, seq)
);
INSERT INTO outbox (conversation, seq, message) SELECT conversation, seq, message FROM outbox_v5;
DROP TABLE outbox_v5;
"#,
    // Per-contact relay policy (NULL: the global one).
    "ALTER TABLE contacts ADD COLUMN relay TEXT;",
    // The rendezvous whose mailbox carried a received message (NULL: a session).
    "ALTER TABLE messages ADD COLUMN mailbox TEXT;",
    // Whether the contact sees us online while we are invisible.
    "ALTER TABLE contacts ADD COLUMN sees_invisible INTEGER NOT NULL DEFAULT 0;",
    // 10: rooms (docs/PROTOCOL.md, "Rooms"): where we stand in each, the chain of signed
    // states, each author's position, the messages (signed bytes kept for other members'
    // catch-up; text NULL until a key opens it), sender keys (ours and others') and which
    // member was given which of ours from which iteration; a search index of their own.
    r#"
CREATE TABLE rooms (
    id         BLOB PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('invited', 'joined', 'left', 'removed', 'declined')),
    version    INTEGER NOT NULL DEFAULT 0,
    invite     BLOB,
    inviter    TEXT,
    lamport    INTEGER NOT NULL DEFAULT 0,
    next_seq   INTEGER NOT NULL DEFAULT 1,
    read_id    INTEGER NOT NULL DEFAULT 0,
    changed_ms INTEGER NOT NULL
);
CREATE TABLE room_states (
    room    BLOB NOT NULL REFERENCES rooms(id),
    version INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    PRIMARY KEY (room, version)
);
CREATE TABLE room_authors (
    room   BLOB NOT NULL REFERENCES rooms(id),
    author TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (room, author)
);
CREATE TABLE room_messages (
    id      INTEGER PRIMARY KEY,
    room    BLOB NOT NULL REFERENCES rooms(id),
    author  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    lamport INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    key_id  BLOB,
    text    TEXT,
    UNIQUE (room, author, seq)
);
CREATE INDEX room_messages_order ON room_messages (room, lamport, author, seq);
CREATE INDEX room_messages_sealed ON room_messages (room, author, key_id) WHERE text IS NULL;
CREATE TABLE sender_keys (
    room      BLOB NOT NULL REFERENCES rooms(id),
    author    TEXT NOT NULL,
    key_id    BLOB NOT NULL,
    chain     BLOB NOT NULL,
    iteration INTEGER NOT NULL,
    next      INTEGER,
    PRIMARY KEY (room, author, key_id)
);
CREATE TABLE key_grants (
    room      BLOB NOT NULL REFERENCES rooms(id),
    key_id    BLOB NOT NULL,
    member    TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    PRIMARY KEY (room, key_id, member)
);
CREATE VIRTUAL TABLE room_messages_fts USING fts5 (
    text, content = 'room_messages', content_rowid = 'id', prefix = '2 3 4'
);
"#,
    // 11: what went to each room member's mailbox from us (docs/PROTOCOL.md, "Rooms"): the
    // newest state version and our newest sequence number deposited for it (or that it told
    // us it holds), and which of our key grants were deposited.
    r#"
CREATE TABLE room_mailed (
    room    BLOB NOT NULL REFERENCES rooms(id),
    member  TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    seq     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, member)
);
ALTER TABLE key_grants ADD COLUMN mailed INTEGER NOT NULL DEFAULT 0;
"#,
    // 12: how many messages from the peer wait unread (so the count survives a restart), and
    // until when the rendezvous keeps a stored message of ours (NULL: not in a mailbox).
    r#"
ALTER TABLE conversations ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN mailbox_until INTEGER;
"#,
    // 13: public rooms: a new status (`joining`: we asked to join, the creator has not let
    // us in yet), the listing a join started from, and whether we list a room of ours (on
    // the LAN and in the rendezvous's directory). The status's CHECK is part of the table,
    // so the table is rebuilt (SQLite's documented procedure: `migrate` runs the steps with
    // foreign keys off, as it requires, and every row keeps its id).
    r#"
CREATE TABLE rooms_v13 (
    id         BLOB PRIMARY KEY,
    status     TEXT NOT NULL
               CHECK (status IN ('invited', 'joined', 'left', 'removed', 'declined', 'joining')),
    version    INTEGER NOT NULL DEFAULT 0,
    invite     BLOB,
    inviter    TEXT,
    lamport    INTEGER NOT NULL DEFAULT 0,
    next_seq   INTEGER NOT NULL DEFAULT 1,
    read_id    INTEGER NOT NULL DEFAULT 0,
    changed_ms INTEGER NOT NULL,
    listing    BLOB,
    published  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO rooms_v13 (id, status, version, invite, inviter, lamport, next_seq, read_id, changed_ms)
    SELECT id, status, version, invite, inviter, lamport, next_seq, read_id, changed_ms FROM rooms;
DROP TABLE rooms;
ALTER TABLE rooms_v13 RENAME TO rooms;
"#,
];

/// Per connection (TEMP objects, created at every open): a new message is noted in
/// `fts_pending`, and [`index_pending`] adds the noted ones to the search index in one
/// statement before the transaction commits. FTS5 flushes its in-memory terms to disk at
/// every SAVEPOINT, and the store runs each job in one: a trigger indexing each insert wrote
/// a new index segment (and merged segments) for every message. A deleted message leaves the
/// index at once, or only the note if it was not indexed yet.
const INDEXING: &str = r#"
CREATE TEMP TABLE IF NOT EXISTS fts_pending (id INTEGER PRIMARY KEY);
CREATE TEMP TRIGGER IF NOT EXISTS fts_pending_insert AFTER INSERT ON main.messages BEGIN
    INSERT INTO fts_pending (id) VALUES (new.id);
END;
CREATE TEMP TRIGGER IF NOT EXISTS fts_delete AFTER DELETE ON main.messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text
        WHERE NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id);
    DELETE FROM fts_pending WHERE id = old.id;
END;
CREATE TEMP TABLE IF NOT EXISTS room_fts_pending (id INTEGER PRIMARY KEY);
CREATE TEMP TRIGGER IF NOT EXISTS room_fts_insert AFTER INSERT ON main.room_messages
WHEN new.text IS NOT NULL BEGIN
    INSERT INTO room_fts_pending (id) VALUES (new.id);
END;
CREATE TEMP TRIGGER IF NOT EXISTS room_fts_opened AFTER UPDATE OF text ON main.room_messages
WHEN old.text IS NULL AND new.text IS NOT NULL BEGIN
    INSERT OR IGNORE INTO room_fts_pending (id) VALUES (new.id);
END;
CREATE TEMP TRIGGER IF NOT EXISTS room_fts_delete AFTER DELETE ON main.room_messages
WHEN old.text IS NOT NULL BEGIN
    INSERT INTO room_messages_fts (room_messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text
        WHERE NOT EXISTS (SELECT 1 FROM room_fts_pending WHERE id = old.id);
    DELETE FROM room_fts_pending WHERE id = old.id;
END;
"#;

/// Sets up this connection's indexing (see [`INDEXING`]).
pub(super) fn start_indexing(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(INDEXING)
}

/// Adds the messages noted since the last call to the search index. The store calls it
/// before every commit; searches call it first, so they see messages of their own
/// transaction too.
pub(super) fn index_pending(conn: &Connection) -> rusqlite::Result<()> {
    index_pending_rooms(conn)?;
    let any: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM fts_pending)")?
        .query_row([], |r| r.get(0))?;
    if !any {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO messages_fts (rowid, text)
         SELECT m.id, m.text FROM fts_pending p JOIN messages m ON m.id = p.id",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM fts_pending")?
        .execute([])?;
    Ok(())
}

/// [`index_pending`] for room messages (inserted with their text, or opened later).
fn index_pending_rooms(conn: &Connection) -> rusqlite::Result<()> {
    let any: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM room_fts_pending)")?
        .query_row([], |r| r.get(0))?;
    if !any {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO room_messages_fts (rowid, text)
         SELECT m.id, m.text FROM room_fts_pending p JOIN room_messages m ON m.id = p.id",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM room_fts_pending")?
        .execute([])?;
    Ok(())
}

/// Brings the schema up to date (refusing a file a newer Natter made).
pub(super) fn migrate(conn: &mut Connection) -> Result<usize, MigrateError> {
    // A step that rebuilds a table others reference (13) must run with foreign keys off
    // (they cannot change inside the transaction); every rebuild keeps each row's key, and
    // `foreign_key_check` after it finds nothing (`schema_tests`).
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let ran = super::migrate::migrate(conn, MIGRATIONS);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    ran
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;

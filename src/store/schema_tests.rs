//! The profile schema's steps against old files: a real profile of the rusqlite_migration
//! era at its newest version and at an intermediate one (tests/fixtures, made by the code
//! before the migration runner changed), a version 5 file built here, and a file a newer
//! Natter made.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::MIGRATIONS;
use crate::identity::PeerId;
use crate::model::{ContactState, MessageState};
use crate::store::migrate::{migrate, version};
use crate::store::*;

/// A copy of `tests/fixtures/NAME` as a profile's database, in a folder of its own.
fn old_profile(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::copy(&fixture, &path).unwrap();
    (dir, path)
}

fn raw_version(path: &Path) -> i64 {
    version(&Connection::open(path).unwrap()).unwrap()
}

/// The local key the fixture's maker kept in its settings (a profile keeps it in
/// identity.pem, which the fixtures do not carry).
fn local(conn: &Connection) -> PeerId {
    get_setting(conn, "fixture.local")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap()
}

fn texts(conn: &Connection, me: &PeerId, peer: &PeerId) -> Vec<(String, MessageState)> {
    let mut m: Vec<_> = history(conn, me, peer, 50, None)
        .unwrap()
        .into_iter()
        .map(|m| (m.text, m.state))
        .collect();
    m.sort_by(|a, b| a.0.cmp(&b.0));
    m
}

fn foreign_key_faults(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn every_step_applies_to_a_new_file_and_the_version_counts_them() {
    let mut c = Connection::open_in_memory().unwrap();
    assert_eq!(migrate(&mut c, MIGRATIONS).unwrap(), MIGRATIONS.len());
    assert_eq!(version(&c).unwrap(), MIGRATIONS.len() as i64);
}

#[test]
fn the_newest_profile_of_the_rusqlite_migration_era_opens_with_all_its_data() {
    let (_d, path) = old_profile("profile-v9.db");
    assert_eq!(
        raw_version(&path),
        9,
        "the fixture is the old code's newest"
    );
    let conn = open_connection(&path).unwrap();
    assert_eq!(version(&conn).unwrap(), MIGRATIONS.len() as i64);
    let me = local(&conn);
    let contacts = list_contacts(&conn, ContactState::Contact).unwrap();
    assert_eq!(contacts.len(), 1);
    let alice = &contacts[0];
    assert_eq!(alice.nickname, "Alice");
    assert_eq!(alice.addr.as_deref(), Some("127.0.0.1:9"));
    assert_eq!(
        list_contacts(&conn, ContactState::Request).unwrap().len(),
        1
    );
    assert_eq!(blocked(&conn).unwrap().len(), 1);
    assert_eq!(
        texts(&conn, &me, &alice.peer),
        [
            ("first apple".to_string(), MessageState::Delivered),
            ("second pear".to_string(), MessageState::Delivered),
            ("still queued".to_string(), MessageState::Queued),
            ("their banana".to_string(), MessageState::Received),
        ]
    );
    let pending = unacked(&conn, &me, &alice.peer).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|m| (m.seq, m.text.as_str()))
            .collect::<Vec<_>>(),
        [(3, "still queued")]
    );
    let hits = search(&conn, "bana", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].text, "their banana");
    // The next message continues the old numbering.
    assert_eq!(enqueue(&conn, &me, &alice.peer, "new").unwrap().seq, 4);
    assert_eq!(foreign_key_faults(&conn), 0);
}

#[test]
fn an_intermediate_profile_of_the_rusqlite_migration_era_migrates_with_its_data() {
    let (_d, path) = old_profile("profile-v3.db");
    assert_eq!(raw_version(&path), 3, "the fixture stops at step 3");
    let conn = open_connection(&path).unwrap();
    assert_eq!(version(&conn).unwrap(), MIGRATIONS.len() as i64);
    let me = local(&conn);
    let contacts = list_contacts(&conn, ContactState::Contact).unwrap();
    assert_eq!(contacts.len(), 1);
    let bob = &contacts[0];
    assert_eq!(bob.nickname, "Bob");
    assert!(!bob.sees_invisible, "step 9's default");
    assert_eq!(bob.relay, None, "step 7's default");
    assert_eq!(auto_accept_limit(&conn, &bob.peer).unwrap(), Some(4096));
    assert_eq!(
        texts(&conn, &me, &bob.peer),
        [
            ("my apple".to_string(), MessageState::Delivered),
            ("their banana".to_string(), MessageState::Received),
            ("waiting".to_string(), MessageState::Queued),
        ]
    );
    let pending = unacked(&conn, &me, &bob.peer).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|m| (m.seq, m.text.as_str()))
            .collect::<Vec<_>>(),
        [(2, "waiting")]
    );
    // Step 4 rebuilt the index with prefixes: a word being typed finds the old message.
    let hits = search(&conn, "ban", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].text, "their banana");
    // Step 6 gave the old conversation an incarnation.
    let s = streams(&conn, &me, &bob.peer).unwrap();
    assert_ne!(s.out_incarnation, [0; 16]);
    assert_eq!(s.in_seq, 1);
    assert_eq!(foreign_key_faults(&conn), 0);
}

#[test]
fn a_profile_from_a_newer_natter_is_refused_and_left_as_it_was() {
    let (_d, path) = old_profile("profile-v9.db");
    let future = MIGRATIONS.len() as i64 + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", future)
        .unwrap();
    let schema = |p: &Path| -> Vec<String> {
        let c = Connection::open(p).unwrap();
        let mut s = c
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = schema(&path);
    let e = open_connection(&path).unwrap_err();
    assert!(
        matches!(e, StoreError::NewerProfile { found, known, .. }
            if found == future && known == MIGRATIONS.len()),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("this profile was made by a newer Natter"),
        "{e}"
    );
    assert!(e.to_string().contains("update Natter"), "{e}");
    assert_eq!(raw_version(&path), future);
    assert_eq!(schema(&path), before);
}

#[test]
fn a_version_5_database_keeps_its_messages_outbox_and_index_through_migration_6() {
    let mut c = Connection::open_in_memory().unwrap();
    c.pragma_update(None, "foreign_keys", "ON").unwrap();
    migrate(&mut c, &MIGRATIONS[..5]).unwrap();
    c.execute_batch(
        "INSERT INTO conversations (id, peer_id, next_out_seq, in_seq) VALUES (x'01', 'p', 3, 1);
         INSERT INTO messages (id, conversation, msg_id, sender, outgoing, seq, sent_ms, ts_ms, text, state)
             VALUES (1, x'01', x'aa', 'p', 0, 1, 1, 1, 'their banana', 'received'),
                    (2, x'01', x'bb', 'me', 1, 1, 2, 2, 'my apple', 'delivered'),
                    (3, x'01', x'cc', 'me', 1, 2, 3, 3, 'waiting', 'queued');
         INSERT INTO outbox (conversation, seq, message) VALUES (x'01', 2, 3);
         INSERT INTO messages_fts (rowid, text) VALUES (1, 'their banana'), (2, 'my apple'), (3, 'waiting');",
    )
    .unwrap();
    super::migrate(&mut c).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    let outbox: i64 = c
        .query_row("SELECT message FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outbox, 3);
    let hit: String = c
        .query_row(
            "SELECT m.text FROM messages_fts f JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH 'banana'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hit, "their banana");
    let inc: Vec<u8> = c
        .query_row("SELECT out_incarnation FROM conversations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        inc.len(),
        16,
        "an existing conversation gets an incarnation"
    );
    // A new incarnation of the peer may number from 1 again.
    c.execute(
        "INSERT INTO messages (conversation, msg_id, sender, outgoing, seq, sent_ms, ts_ms, text, state)
         VALUES (x'01', x'dd', 'p', 0, 1, 4, 4, 'again', 'received')",
        [],
    )
    .unwrap();
    let fk: i64 = c
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
}

/// RUSTSEC-2026-0459 names the SQLite bundled before 3.54.1 (libsqlite3-sys 0.39.1); the
/// search index needs FTS5 in it.
#[test]
fn the_bundled_sqlite_is_past_rustsec_2026_0459_and_has_fts5() {
    assert!(
        rusqlite::version_number() >= 3_054_001,
        "SQLite {}",
        rusqlite::version()
    );
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch("CREATE VIRTUAL TABLE t USING fts5 (x);")
        .unwrap();
}

#[test]
fn step_13_rebuilds_the_rooms_table_keeping_every_room_and_what_refers_to_it() {
    let mut c = Connection::open_in_memory().unwrap();
    c.pragma_update(None, "foreign_keys", "ON").unwrap();
    migrate(&mut c, &MIGRATIONS[..12]).unwrap();
    c.execute_batch(
        "INSERT INTO rooms (id, status, version, inviter, lamport, next_seq, read_id, changed_ms)
             VALUES (x'01', 'joined', 2, 'someone', 7, 3, 5, 1000);
         INSERT INTO room_states (room, version, bytes) VALUES (x'01', 1, x'aa'), (x'01', 2, x'bb');
         INSERT INTO room_messages (room, author, seq, lamport, sent_ms, bytes, text)
             VALUES (x'01', 'a', 1, 1, 1, x'cc', 'hello');",
    )
    .unwrap();
    assert_eq!(super::migrate(&mut c).unwrap(), MIGRATIONS.len() - 12);
    let kept: (String, i64, String, i64, i64, i64, bool) = c
        .query_row(
            "SELECT status, version, inviter, lamport, next_seq, read_id, published FROM rooms",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(kept, ("joined".into(), 2, "someone".into(), 7, 3, 5, false));
    let children: i64 = c
        .query_row(
            "SELECT (SELECT count(*) FROM room_states) + (SELECT count(*) FROM room_messages)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(children, 3);
    assert_eq!(foreign_key_faults(&c), 0);
    let fk: bool = c
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert!(fk, "foreign keys are on again after the migration");
    // The new status is allowed, an unknown one still is not.
    c.execute("UPDATE rooms SET status = 'joining'", [])
        .unwrap();
    assert!(
        c.execute("UPDATE rooms SET status = 'lurking'", [])
            .is_err()
    );
    // And a room's children still cannot point at no room.
    assert!(
        c.execute(
            "INSERT INTO room_states (room, version, bytes) VALUES (x'02', 1, x'00')",
            []
        )
        .is_err()
    );
}

use super::*;
use crate::identity::Identity;
use crate::model::MessageState;
use crate::session::IncomingChat;

fn db() -> (Connection, PeerId, PeerId, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    (
        conn,
        Identity::generate().peer_id(),
        Identity::generate().peer_id(),
        dir,
    )
}

fn incoming(seq: u64, id: u8, text: &str) -> IncomingChat {
    IncomingChat {
        msg_id: [id; 16],
        seq,
        timestamp_ms: 1,
        text: text.into(),
        incarnation: None,
        base_seq: 0,
    }
}

#[test]
fn settings_are_wal_and_full_sync() {
    let (conn, ..) = db();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2);
}

#[test]
fn outbox_holds_messages_until_acked_in_seq_order() {
    let (conn, me, peer, _d) = db();
    for t in ["one", "two", "three"] {
        enqueue(&conn, &me, &peer, t).unwrap();
    }
    let pending = unacked(&conn, &me, &peer).unwrap();
    assert_eq!(
        pending.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(mark_sent(&conn, &me, &peer, 3).unwrap().len(), 3);
    assert_eq!(apply_ack(&conn, &me, &peer, 2).unwrap().len(), 2);
    let pending = unacked(&conn, &me, &peer).unwrap();
    assert_eq!(
        pending.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        vec!["three"]
    );
    assert_eq!(apply_read(&conn, &me, &peer, 3).unwrap().len(), 3);
    let states: Vec<_> = history(&conn, &me, &peer, 10, None)
        .unwrap()
        .iter()
        .map(|m| m.state)
        .collect();
    assert_eq!(states, vec![MessageState::Read; 3]);
    assert!(unacked(&conn, &me, &peer).unwrap().is_empty());
}

#[test]
fn receive_is_idempotent_in_order_and_refuses_replays() {
    let (conn, me, peer, _d) = db();
    let (out, ack) = receive(
        &conn,
        &me,
        &peer,
        &[incoming(1, 1, "a"), incoming(2, 2, "b")],
    )
    .unwrap();
    assert_eq!(ack, 2);
    assert!(out.iter().all(|o| matches!(o, Received::Stored(_))));
    // Re-sent after a reconnect: duplicates, same ack.
    let (out, ack) = receive(&conn, &me, &peer, &[incoming(2, 2, "b")]).unwrap();
    assert_eq!((out, ack), (vec![Received::Duplicate], 2));
    // A gap is not stored.
    let (out, ack) = receive(&conn, &me, &peer, &[incoming(5, 5, "e")]).unwrap();
    assert_eq!(
        (out, ack),
        (
            vec![Received::OutOfOrder {
                expected: 3,
                got: 5
            }],
            2
        )
    );
    // A replayed message id under a fresh seq: no second row.
    let (out, _) = receive(&conn, &me, &peer, &[incoming(3, 1, "a")]).unwrap();
    assert_eq!(out, vec![Received::Duplicate]);
    assert_eq!(history(&conn, &me, &peer, 10, None).unwrap().len(), 2);
}

#[test]
fn search_finds_words_newest_first_and_survives_fts_syntax() {
    let (conn, me, peer, _d) = db();
    enqueue(&conn, &me, &peer, "lunch at noon?").unwrap();
    receive(
        &conn,
        &me,
        &peer,
        &[incoming(1, 9, "yes, lunch sounds good")],
    )
    .unwrap();
    let found = search(&conn, "lunch", 10).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].text, "yes, lunch sounds good");
    assert_eq!(search(&conn, "noo", 10).unwrap().len(), 1);
    assert!(search(&conn, "\" OR NEAR(", 10).unwrap().is_empty());
    assert!(search(&conn, "   ", 10).unwrap().is_empty());
}

/// The unread count is kept with the conversation: it survives a restart (a new
/// connection), counts only what was stored (not duplicates or gaps), and `read` or a
/// deleted history clears it.
#[test]
fn unread_counts_what_was_stored_and_read_clears_it() {
    let (conn, me, peer, d) = db();
    let mut c = Contact::new(peer);
    c.nickname = "bob".into();
    upsert_contact(&conn, &c).unwrap();
    let unread = |conn: &Connection| get_contact(conn, &peer).unwrap().unwrap().unread;
    assert_eq!(unread(&conn), 0, "no conversation yet");
    receive(
        &conn,
        &me,
        &peer,
        &[incoming(1, 1, "a"), incoming(2, 2, "b")],
    )
    .unwrap();
    receive(
        &conn,
        &me,
        &peer,
        &[incoming(2, 2, "b"), incoming(9, 9, "gap")],
    )
    .unwrap();
    schema::index_pending(&conn).unwrap(); // as the store thread does at commit
    drop(conn);
    let conn = open_connection(&d.path().join(DB_FILE)).unwrap();
    assert_eq!(unread(&conn), 2);
    assert_eq!(
        list_contacts(&conn, ContactState::Contact).unwrap()[0].unread,
        2
    );
    // A write of the contact leaves it.
    upsert_contact(&conn, &c).unwrap();
    assert_eq!(unread(&conn), 2);
    mark_read(&conn, &me, &peer).unwrap();
    assert_eq!(unread(&conn), 0);
    receive(&conn, &me, &peer, &[incoming(3, 3, "c")]).unwrap();
    assert_eq!(unread(&conn), 1);
    schema::index_pending(&conn).unwrap(); // as the store thread does at commit
    delete_history(&conn, &me, &peer).unwrap();
    assert_eq!(unread(&conn), 0);
    // Read on every send: SQLite must not re-prepare the statements at each call (as a
    // join of contacts and conversations did, halving sustained messages/s).
    for _ in 0..50 {
        unread(&conn);
    }
    for sql in [
        super::contacts::GET_CONTACT.as_str(),
        super::contacts::GET_UNREAD,
    ] {
        let stmt = conn.prepare_cached(sql).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "{sql}"
        );
    }
}

#[test]
fn contacts_requests_and_blocks() {
    let (conn, _me, peer, _d) = db();
    assert_eq!(contact_state(&conn, &peer).unwrap(), None);
    assert!(add_request(&conn, &peer).unwrap());
    assert_eq!(
        list_contacts(&conn, ContactState::Request).unwrap().len(),
        1
    );
    assert_eq!(
        contact_state(&conn, &peer).unwrap(),
        Some(ContactState::Request)
    );
    let mut c = get_contact(&conn, &peer).unwrap().unwrap();
    c.state = ContactState::Contact;
    c.nickname = "bob".into();
    upsert_contact(&conn, &c).unwrap();
    assert_eq!(
        contact_state(&conn, &peer).unwrap(),
        Some(ContactState::Contact)
    );
    assert!(!add_request(&conn, &peer).unwrap());
    assert_eq!(
        list_contacts(&conn, ContactState::Contact).unwrap(),
        vec![c]
    );
    set_blocked(&conn, &peer, true).unwrap();
    assert!(is_blocked(&conn, &peer).unwrap());
    assert_eq!(blocked(&conn).unwrap(), vec![peer]);
    set_blocked(&conn, &peer, false).unwrap();
    assert!(!is_blocked(&conn, &peer).unwrap());
}

#[tokio::test]
async fn store_thread_answers_after_commit_and_rolls_back_failed_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.call(|c| set_setting(c, "k", "v")).await.unwrap();
    let failed = store
        .call(|c| {
            set_setting(c, "k", "changed")?;
            Err::<(), _>(StoreError::Corrupt("boom".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(
        store
            .call(|c| get_setting(c, "k"))
            .await
            .unwrap()
            .as_deref(),
        Some("v")
    );
    // Reopened from disk: committed.
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    assert_eq!(get_setting(&conn, "k").unwrap().as_deref(), Some("v"));
}

#[tokio::test]
async fn a_job_answered_before_its_commit_is_seen_by_the_next_and_on_disk_once_settled() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .call_early(|c| set_setting(c, "k", "early"))
        .await
        .unwrap();
    let seen = store.call(|c| get_setting(c, "k")).await.unwrap();
    assert_eq!(seen.as_deref(), Some("early"));
    store
        .call_early(|c| set_setting(c, "k", "again"))
        .await
        .unwrap();
    store.settled().await;
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    assert_eq!(get_setting(&conn, "k").unwrap().as_deref(), Some("again"));
    // The profile's own setting is back after a group that did not wait for the disk.
    let full: i64 = store
        .call(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(full, 2, "synchronous=FULL");
}

#[test]
fn deleting_a_history_keeps_the_sequence_and_the_other_conversations() {
    let (conn, me, peer, _d) = db();
    let other = Identity::generate().peer_id();
    for t in ["one", "two banana"] {
        enqueue(&conn, &me, &peer, t).unwrap();
    }
    enqueue(&conn, &me, &other, "kept banana").unwrap();
    receive(&conn, &me, &peer, &[incoming(1, 9, "theirs")]).unwrap();
    assert_eq!(delete_history(&conn, &me, &peer).unwrap(), 3);
    assert!(history(&conn, &me, &peer, 10, None).unwrap().is_empty());
    assert!(
        unacked(&conn, &me, &peer).unwrap().is_empty(),
        "nothing left to send"
    );
    let found = search(&conn, "banana", 10).unwrap();
    assert_eq!(
        found.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        vec!["kept banana"],
        "the search index forgot the deleted ones"
    );
    // Sequence numbers go on: the peer's dedup must not drop the next message as a replay.
    assert_eq!(enqueue(&conn, &me, &peer, "after").unwrap().seq, 3);
    let (_, ack) = receive(&conn, &me, &peer, &[incoming(1, 9, "theirs")]).unwrap();
    assert_eq!(ack, 1, "their old message is still known as received");
    assert!(
        history(&conn, &me, &peer, 10, None)
            .unwrap()
            .iter()
            .all(|m| m.text != "theirs")
    );
    let mut all = Vec::new();
    for_each_message(&conn, None, |m| {
        all.push(m.text.clone());
        Ok(())
    })
    .unwrap();
    all.sort();
    assert_eq!(all, vec!["after", "kept banana"]);
}

#[test]
fn unacked_after_skips_what_this_session_sent() {
    let (conn, me, peer, _d) = db();
    for t in ["one", "two", "three"] {
        enqueue(&conn, &me, &peer, t).unwrap();
    }
    let after: Vec<u64> = unacked_after(&conn, &me, &peer, 1, 10, usize::MAX)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(after, vec![2, 3]);
    // Read before every send goes out: SQLite must not re-prepare it at each call.
    for after in 0..50 {
        unacked_after(&conn, &me, &peer, after % 3, 10, usize::MAX).unwrap();
    }
    let stmt = conn
        .prepare_cached(&super::messages::outbox_sql(""))
        .unwrap();
    assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
}

#[test]
fn search_takes_whole_words_and_the_word_being_typed_as_a_prefix() {
    let (conn, me, peer, _d) = db();
    for t in ["hello world", "hellos from the lake", "say hel", "othello"] {
        enqueue(&conn, &me, &peer, t).unwrap();
    }
    let texts = |q: &str, limit| -> Vec<String> {
        search(&conn, q, limit)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect()
    };
    // Too few whole-word matches: the last word, still being typed, matches as a prefix.
    assert_eq!(
        texts("hello", 10),
        vec!["hellos from the lake", "hello world"]
    );
    // A space after it: the word is finished.
    assert_eq!(texts("hello ", 10), vec!["hello world"]);
    // Enough whole-word matches: those come first, even if a prefix match is newer.
    assert_eq!(texts("hello", 1), vec!["hello world"]);
    // Earlier words are whole words; a prefix never matches inside a word.
    assert_eq!(texts("say hel", 10), vec!["say hel"]);
    assert_eq!(texts("he", 10).len(), 3);
    assert!(texts("ello", 10).is_empty());
}

fn fts_is_consistent(conn: &Connection) -> bool {
    conn.execute(
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .is_ok()
}

#[tokio::test]
async fn the_search_index_is_written_at_commit_and_follows_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let (me, a, b) = (
        Identity::generate().peer_id(),
        Identity::generate().peer_id(),
        Identity::generate().peer_id(),
    );
    let store = Store::spawn(open_connection(&path).unwrap());
    // Several jobs in flight share transactions; every one is indexed by its commit.
    let mut set = tokio::task::JoinSet::new();
    for seq in 1..=40u64 {
        let store = store.clone();
        let (peer, word) = if seq % 2 == 0 {
            (a, "apple")
        } else {
            (b, "pear")
        };
        set.spawn(async move {
            let chat = incoming(seq.div_ceil(2), seq as u8, &format!("{word} {seq}"));
            store
                .call(move |c| receive(c, &me, &peer, &[chat]).map(|_| ()))
                .await
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    // A new connection (no pending notes of its own) sees all of them in the index.
    let reader = open_connection(&path).unwrap();
    assert_eq!(search(&reader, "apple", 100).unwrap().len(), 20);
    assert_eq!(search(&reader, "pear", 100).unwrap().len(), 20);
    // Deleted after indexing: gone from the index too.
    store
        .call(move |c| delete_history(c, &me, &a))
        .await
        .unwrap();
    assert!(search(&reader, "apple", 100).unwrap().is_empty());
    assert_eq!(search(&reader, "pear", 100).unwrap().len(), 20);
    assert!(fts_is_consistent(&reader));
}

#[test]
fn a_message_deleted_before_its_commit_never_reaches_the_index() {
    let (conn, me, peer, _dir) = db();
    let tx = conn.unchecked_transaction().unwrap();
    receive(&tx, &me, &peer, &[incoming(1, 1, "ephemeral words")]).unwrap();
    // Searching inside the same transaction indexes what is pending first.
    assert_eq!(search(&tx, "ephemeral", 10).unwrap().len(), 1);
    receive(&tx, &me, &peer, &[incoming(2, 2, "second thought")]).unwrap();
    delete_history(&tx, &me, &peer).unwrap();
    schema::index_pending(&tx).unwrap();
    tx.commit().unwrap();
    assert!(search(&conn, "ephemeral", 10).unwrap().is_empty());
    assert!(search(&conn, "second", 10).unwrap().is_empty());
    assert!(fts_is_consistent(&conn));
}

/// Every statement a message's life runs (send, session read, receive, index, ack, read
/// receipt) stays prepared: SQLite re-prepares a statement whose plan depends on a bound
/// value (a bare blob key walked by `ORDER BY`/`min()`, a `LIMIT ?`), and that parse and
/// plan at every call halved the messages/s twice.
#[test]
fn no_statement_on_the_message_path_is_re_prepared() {
    let (conn, me, peer, _d) = db();
    let mut c = Contact::new(peer);
    c.state = ContactState::Contact;
    upsert_contact(&conn, &c).unwrap();
    for i in 1..=40u64 {
        is_blocked(&conn, &peer).unwrap();
        contact_state(&conn, &peer).unwrap();
        get_contact(&conn, &peer).unwrap();
        let m = enqueue(&conn, &me, &peer, "hello").unwrap();
        as_outgoing(&conn, &me, &peer, &m).unwrap();
        unacked_after(&conn, &me, &peer, i - 1, 64, 1 << 20).unwrap();
        receive(&conn, &me, &peer, &[incoming(i, i as u8, "hi")]).unwrap();
        schema::index_pending(&conn).unwrap();
        apply_ack(&conn, &me, &peer, i).unwrap();
        apply_read(&conn, &me, &peer, i).unwrap();
        mark_read(&conn, &me, &peer).unwrap();
    }
    let mut re_prepared = Vec::new();
    // SAFETY: the handle is this open connection's; `sqlite3_next_stmt` walks its prepared
    // statements (the cache holds them), and nothing else uses the connection meanwhile.
    unsafe {
        let db = conn.handle();
        let mut stmt = rusqlite::ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !stmt.is_null() {
            let n = rusqlite::ffi::sqlite3_stmt_status(
                stmt,
                rusqlite::ffi::SQLITE_STMTSTATUS_REPREPARE,
                0,
            );
            if n > 0 {
                let sql = std::ffi::CStr::from_ptr(rusqlite::ffi::sqlite3_sql(stmt));
                re_prepared.push((n, sql.to_string_lossy().into_owned()));
            }
            stmt = rusqlite::ffi::sqlite3_next_stmt(db, stmt);
        }
    }
    assert!(re_prepared.is_empty(), "re-prepared: {re_prepared:#?}");
}

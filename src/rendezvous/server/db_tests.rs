//! The database's limits with time fed in: accounts that expire and those that stay, the
//! migration of an old file, and the caps on stored mail (per sender, in all) against an
//! honest day's backlog.

use std::collections::HashSet;

use rusqlite::Connection;

use super::*;
use crate::identity::Identity;
use crate::rendezvous::server::ServerConfig;
use crate::rendezvous::server::budget::Budget;
use crate::transport::Source;

const DAY: u64 = 24 * 3600 * 1000;
const T0: u64 = 1_800_000_000_000;

fn fresh(now: u64) -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    migrate(&mut c, now).unwrap();
    c
}

fn peer() -> PeerId {
    Identity::generate().peer_id()
}

fn signed() -> SignedRecord {
    SignedRecord {
        record: vec![1; 40],
        signature: vec![2; 64],
    }
}

fn register(c: &Connection, who: &PeerId, tokens: &[[u8; 32]], now: u64) {
    let tokens: HashSet<[u8; 32]> = tokens.iter().copied().collect();
    save_account(c, who, &signed(), &tokens, now).unwrap();
}

fn caps() -> Caps {
    let d = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "unused");
    Caps {
        recipient_items: d.quota_items,
        recipient_bytes: d.quota_bytes,
        sender_bytes: d.sender_bytes,
        total_bytes: d.total_bytes,
    }
}

fn put(c: &Connection, to: &PeerId, from: &PeerId, id: u32, size: usize, caps: Caps) -> Deposited {
    let mut msg_id = [0u8; 16];
    msg_id[..4].copy_from_slice(&id.to_be_bytes());
    deposit(
        c,
        &Deposit {
            to,
            from,
            msg_id: &msg_id,
            sealed: &vec![0xAB; size],
            now: T0,
            expires: T0 + 30 * DAY,
            caps,
        },
    )
    .unwrap()
}

fn stored(d: Deposited) -> bool {
    matches!(d, Deposited::Stored { new: true, .. })
}

fn count(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn holders(c: &Connection) -> Vec<PeerId> {
    load_accounts(c)
        .unwrap()
        .into_iter()
        .map(|a| a.peer)
        .collect()
}

#[test]
fn an_account_unused_past_the_limit_goes_with_its_mail_notices_handle_and_tokens() {
    let c = fresh(T0);
    let (gone, friend, bystander) = (peer(), peer(), peer());
    register(&c, &gone, &[[7; 32]], T0);
    register(&c, &friend, &[], T0 + 80 * DAY);
    assert!(claim_handle(&c, "gone", &gone, &[3; 64], T0).unwrap());
    // A notice it is owed (its own mail to the bystander expired), and mail waiting for it.
    assert!(stored(put(&c, &bystander, &gone, 2, 100, caps())));
    expire(&c, T0 + 31 * DAY).unwrap();
    assert!(has_mail(&c, &gone).unwrap());
    assert!(stored(put(&c, &gone, &friend, 3, 100, caps())));

    let now = T0 + 91 * DAY;
    let out = expire_accounts(&c, now, now - 90 * DAY).unwrap();
    assert_eq!(out.accounts, vec![gone]);
    assert_eq!(out.senders, vec![friend], "its sender is told");
    assert_eq!(
        holders(&c),
        vec![friend],
        "the row, with its tokens, is gone"
    );
    assert!(
        resolve_handle(&c, "gone").unwrap().is_none(),
        "its handle is free"
    );
    assert!(!has_mail(&c, &gone).unwrap(), "no mail, no notices");
    assert_eq!(count(&c, "SELECT count(*) FROM mail"), 0);
    // The mail it never fetched went back to its sender as expired, never silently.
    let notices = fetch(&c, &friend).unwrap().expired;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].msg_id[..4], 3u32.to_be_bytes());
    assert_eq!(stored_bytes(&c, None).unwrap(), 0);
    assert_eq!(stored_bytes(&c, Some(&friend)).unwrap(), 0);
}

#[test]
fn an_account_registered_within_the_limit_stays_with_its_mail_and_handle() {
    let c = fresh(T0);
    let (kept, friend) = (peer(), peer());
    register(&c, &kept, &[[7; 32]], T0);
    assert!(claim_handle(&c, "kept", &kept, &[3; 64], T0).unwrap());
    assert!(stored(put(&c, &kept, &friend, 1, 100, caps())));
    register(&c, &kept, &[[7; 32]], T0 + 60 * DAY); // a renewal two months on
    let now = T0 + 91 * DAY;
    let out = expire_accounts(&c, now, now - 90 * DAY).unwrap();
    assert!(out.accounts.is_empty() && out.senders.is_empty());
    let accounts = load_accounts(&c).unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].registered_ms, T0 + 60 * DAY);
    assert!(accounts[0].tokens.contains(&[7; 32]));
    assert!(resolve_handle(&c, "kept").unwrap().is_some());
    assert_eq!(fetch(&c, &kept).unwrap().items.len(), 1);
    // A handle whose key never registered is released after the same period.
    let drifter = peer();
    assert!(claim_handle(&c, "drifter", &drifter, &[4; 64], T0 + 10 * DAY).unwrap());
    expire_accounts(&c, now, now - 90 * DAY).unwrap();
    assert!(
        resolve_handle(&c, "drifter").unwrap().is_some(),
        "80 days old"
    );
    let later = T0 + 101 * DAY;
    expire_accounts(&c, later, later - 90 * DAY).unwrap();
    assert!(
        resolve_handle(&c, "drifter").unwrap().is_none(),
        "91 days old"
    );
}

#[test]
fn an_old_database_migrates_and_its_accounts_get_a_full_period_from_then() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rendezvous.sqlite3");
    let (old, friend) = (peer(), peer());
    {
        // The first schema, as servers before this one left it, with an account and mail.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c.execute(
            "INSERT INTO accounts (peer, record, signature, tokens) VALUES (?1, x'01', x'02', ?2)",
            params![&old.as_bytes()[..], vec![7u8; 32]],
        )
        .unwrap();
        c.execute(
            "INSERT INTO mail (recipient, sender, msg_id, sealed, deposited_ms, expires_ms)
             VALUES (?1, ?2, x'00000000000000000000000000000001', zeroblob(1000), 0, ?3)",
            params![
                &old.as_bytes()[..],
                &friend.as_bytes()[..],
                (T0 + DAY) as i64
            ],
        )
        .unwrap();
    }
    let migrated = T0;
    let mut c = open(&path).unwrap();
    migrate(&mut c, migrated).unwrap();
    let accounts = load_accounts(&c).unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        accounts[0].registered_ms, migrated,
        "counted from the migration"
    );
    // What was stored before counts against the caps.
    assert_eq!(
        stored_bytes(&c, Some(&friend)).unwrap(),
        1000 + ITEM_OVERHEAD
    );
    assert_eq!(stored_bytes(&c, None).unwrap(), 1000 + ITEM_OVERHEAD);
    let day89 = migrated + 89 * DAY;
    assert!(
        expire_accounts(&c, day89, day89 - 90 * DAY)
            .unwrap()
            .accounts
            .is_empty()
    );
    let day91 = migrated + 91 * DAY;
    assert_eq!(
        expire_accounts(&c, day91, day91 - 90 * DAY)
            .unwrap()
            .accounts,
        vec![old]
    );
    drop(c);
    // Opening again migrates nothing twice.
    migrate(&mut open(&path).unwrap(), day91).unwrap();
}

#[test]
fn deposits_past_the_servers_total_are_refused_and_fit_again_once_fetched() {
    let c = fresh(T0);
    let mut caps = caps();
    caps.total_bytes = 10 * (1000 + ITEM_OVERHEAD);
    let (to, other) = (peer(), peer());
    for id in 0..10 {
        assert!(stored(put(&c, &to, &peer(), id, 1000, caps)), "{id}");
    }
    assert_eq!(put(&c, &to, &peer(), 10, 1000, caps), Deposited::ServerFull);
    assert_eq!(put(&c, &other, &peer(), 11, 1, caps), Deposited::ServerFull);
    // The recipient fetches and acknowledges one: there is room for one again.
    let first = fetch(&c, &to).unwrap().items[0].id;
    ack(
        &c,
        &to,
        &AckMail {
            ids: vec![first],
            expired: vec![],
        },
    )
    .unwrap();
    assert!(stored(put(&c, &other, &peer(), 12, 1000, caps)));
    assert_eq!(put(&c, &other, &peer(), 13, 1, caps), Deposited::ServerFull);
}

#[test]
fn one_sender_key_cannot_store_past_its_cap_across_many_mailboxes() {
    let c = fresh(T0);
    let mut caps = caps();
    caps.sender_bytes = 8 * (10_000 + ITEM_OVERHEAD);
    let sender = peer();
    // Each mailbox is far from its own quota; together they reach the sender's cap.
    for id in 0..8 {
        assert!(stored(put(&c, &peer(), &sender, id, 10_000, caps)), "{id}");
    }
    assert_eq!(
        put(&c, &peer(), &sender, 8, 10_000, caps),
        Deposited::SenderFull
    );
    assert_eq!(put(&c, &peer(), &sender, 9, 1, caps), Deposited::SenderFull);
    // Another sender is not held back.
    assert!(stored(put(&c, &peer(), &peer(), 10, 10_000, caps)));
    // Mail that expired no longer counts.
    expire(&c, T0 + 31 * DAY).unwrap();
    assert_eq!(stored_bytes(&c, Some(&sender)).unwrap(), 0);
    assert!(stored(put(&c, &peer(), &sender, 11, 10_000, caps)));
}

/// One person's day offline from a desktop that queued a lot: 1000 messages of 4 KiB
/// sealed to each of 20 contacts, all deposited at once from one address.
#[test]
fn an_honest_days_backlog_fits_within_every_default_limit() {
    const CONTACTS: usize = 20;
    const MESSAGES: u32 = 1000;
    const SEALED: usize = 4096;
    let c = fresh(T0);
    let defaults = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "unused");
    let mut budget = Budget::new(defaults.source_bytes_per_day);
    let home = Source::from(std::net::IpAddr::from([198, 18, 0, 9]));
    let me = peer();
    let contacts: Vec<PeerId> = (0..CONTACTS).map(|_| peer()).collect();
    for (n, to) in contacts.iter().enumerate() {
        for i in 0..MESSAGES {
            let cost = SEALED as u64 + ITEM_OVERHEAD;
            assert!(
                budget.take(home, cost, T0).is_ok(),
                "source budget: {n}/{i}"
            );
            let d = put(&c, to, &me, i, SEALED, caps());
            assert!(stored(d), "contact {n}, message {i}: {d:?}");
        }
    }
    assert_eq!(
        count(&c, "SELECT count(*) FROM mail"),
        (CONTACTS as i64) * i64::from(MESSAGES)
    );
}

#[test]
fn the_byte_counts_follow_mail_out_by_ack_expiry_and_account_expiry() {
    let c = fresh(T0);
    let (a, b, s1, s2) = (peer(), peer(), peer(), peer());
    register(&c, &a, &[], T0);
    register(&c, &b, &[], T0 + 80 * DAY);
    for (id, (to, from, size)) in [(&a, &s1, 10), (&a, &s2, 20), (&b, &s1, 30), (&b, &s2, 40)]
        .into_iter()
        .enumerate()
    {
        assert!(stored(put(&c, to, from, id as u32, size, caps())));
    }
    let truth = |c: &Connection, who: Option<&PeerId>| -> u64 {
        let sql = "SELECT coalesce(sum(length(sealed) + 512), 0) FROM mail
                   WHERE ?1 IS NULL OR sender = ?1";
        let key = who.map(|p| p.as_bytes().to_vec());
        c.query_row(sql, [key], |r| r.get::<_, i64>(0)).unwrap() as u64
    };
    let check = |c: &Connection| {
        for who in [None, Some(&s1), Some(&s2)] {
            assert_eq!(stored_bytes(c, who).unwrap(), truth(c, who));
        }
    };
    check(&c);
    let first = fetch(&c, &b).unwrap().items[0].id;
    let acked = AckMail {
        ids: vec![first],
        expired: vec![],
    };
    ack(&c, &b, &acked).unwrap();
    check(&c);
    let now = T0 + 91 * DAY;
    expire_accounts(&c, now, now - 90 * DAY).unwrap();
    check(&c);
    assert_eq!(stored_bytes(&c, None).unwrap(), 40 + ITEM_OVERHEAD);
    expire(&c, T0 + 31 * DAY).unwrap();
    check(&c);
    assert_eq!(
        count(&c, "SELECT count(*) FROM mail_bytes WHERE bytes != 0"),
        0
    );
}

#[test]
fn a_fetch_answer_stays_within_the_message_cap_and_the_rest_comes_next_round() {
    use crate::rendezvous::proto::{MAX_SEALED, Response, response};
    use prost::Message as _;
    let c = fresh(T0);
    let me = peer();
    // A full list of expiry notices for me, and ten of the largest envelopes waiting.
    for id in 0..300 {
        assert!(stored(put(&c, &peer(), &me, id, 10, caps())));
    }
    expire(&c, T0 + 31 * DAY).unwrap();
    let mut caps = caps();
    caps.recipient_bytes = u64::MAX;
    let mailbox = |id| {
        let d = deposit(
            &c,
            &Deposit {
                to: &me,
                from: &peer(),
                msg_id: &[id; 16],
                sealed: &vec![0xCD; MAX_SEALED],
                now: T0 + 31 * DAY,
                expires: T0 + 61 * DAY,
                caps,
            },
        );
        assert!(stored(d.unwrap()));
    };
    for id in 0..10 {
        mailbox(id);
    }
    let mut got = 0;
    for _round in 0..10 {
        let mail = fetch(&c, &me).unwrap();
        let answer = Response {
            body: Some(response::Body::Mail(mail.clone())),
        };
        assert!(
            answer.encoded_len() <= MAX_MESSAGE,
            "{}",
            answer.encoded_len()
        );
        assert!(!mail.items.is_empty() || got == 10);
        got += mail.items.len();
        let acked = AckMail {
            ids: mail.items.iter().map(|i| i.id).collect(),
            expired: mail.expired.iter().map(|e| e.msg_id.clone()).collect(),
        };
        ack(&c, &me, &acked).unwrap();
    }
    assert_eq!(got, 10);
}

/// A copy of `tests/fixtures/NAME` (made by the server before the migration runner changed)
/// as a data folder's database.
fn old_server_file(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rendezvous.sqlite3");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::copy(fixture, &path).unwrap();
    (dir, path)
}

fn user_version(c: &Connection) -> i64 {
    crate::store::migrate::version(c).unwrap()
}

#[test]
fn the_newest_server_file_of_the_rusqlite_migration_era_opens_with_all_its_data() {
    // Made at T0 with two accounts, 1000 bytes of mail for the first, its handle "alice".
    let (_d, path) = old_server_file("rendezvous-v2.sqlite3");
    let mut c = open(&path).unwrap();
    assert_eq!(user_version(&c), 2, "the fixture is the old code's newest");
    assert_eq!(migrate(&mut c, T0 + 5 * DAY).unwrap(), 0, "nothing to run");
    assert_eq!(user_version(&c), 2);
    let accounts = load_accounts(&c).unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|a| a.registered_ms == T0));
    let mut tokens: Vec<usize> = accounts.iter().map(|a| a.tokens.len()).collect();
    tokens.sort();
    assert_eq!(tokens, [1, 2]);
    let alice = accounts.iter().find(|a| a.tokens.len() == 2).unwrap();
    let (holder, _) = resolve_handle(&c, "alice").unwrap().unwrap();
    assert_eq!(holder, alice.peer.as_bytes().to_vec());
    let mail = fetch(&c, &alice.peer).unwrap();
    assert_eq!(mail.items.len(), 1);
    assert_eq!(mail.items[0].sealed, vec![0xAB; 1000]);
    assert_eq!(stored_bytes(&c, None).unwrap(), 1000 + ITEM_OVERHEAD);
    // The byte-counting triggers still run: fetched and acked, the count goes to zero.
    let id = mail.items[0].id;
    ack(
        &c,
        &alice.peer,
        &AckMail {
            ids: vec![id],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(stored_bytes(&c, None).unwrap(), 0);
}

#[test]
fn a_version_1_server_file_gets_step_2_alone() {
    let mut c = Connection::open_in_memory().unwrap();
    crate::store::migrate::migrate(&mut c, &[SCHEMA]).unwrap();
    let (who, from) = (peer(), peer());
    c.execute(
        "INSERT INTO accounts (peer, record, signature, tokens) VALUES (?1, x'01', x'02', ?2)",
        params![&who.as_bytes()[..], vec![7u8; 32]],
    )
    .unwrap();
    c.execute(
        "INSERT INTO mail (recipient, sender, msg_id, sealed, deposited_ms, expires_ms)
         VALUES (?1, ?2, x'00000000000000000000000000000001', zeroblob(300), 0, ?3)",
        params![&who.as_bytes()[..], &from.as_bytes()[..], (T0 + DAY) as i64],
    )
    .unwrap();
    assert_eq!(migrate(&mut c, T0).unwrap(), 1);
    assert_eq!(user_version(&c), 2);
    assert_eq!(load_accounts(&c).unwrap()[0].registered_ms, T0);
    assert_eq!(stored_bytes(&c, Some(&from)).unwrap(), 300 + ITEM_OVERHEAD);
}

#[test]
fn a_server_file_from_a_newer_natter_is_refused_and_left_as_it_was() {
    let data = tempfile::tempdir().unwrap();
    {
        let mut c = open(&data.path().join("rendezvous.sqlite3")).unwrap();
        migrate(&mut c, T0).unwrap();
        c.pragma_update(None, "user_version", 3).unwrap();
    }
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), data.path());
    let e = crate::rendezvous::server::Server::bind(config)
        .err()
        .expect("refused");
    assert!(
        e.to_string().contains("made by a newer Natter") && e.to_string().contains("update"),
        "{e}"
    );
    let c = open(&data.path().join("rendezvous.sqlite3")).unwrap();
    assert_eq!(user_version(&c), 3);
}

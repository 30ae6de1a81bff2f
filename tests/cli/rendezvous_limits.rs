//! A real `natter-rendezvous` process against storage exhaustion: accounts that stop
//! registering expire with their mail and handle, a deposit past the server's total is
//! refused with an answer the sender can act on, one machine minting keys cannot store more
//! than its daily budget, and a backlog larger than one answer still arrives whole.

use std::time::{Duration, Instant};

use natter::internals::transport;
use natter::rendezvous::proto::AckMail;
use natter::rendezvous::{Client, ClientError, RendezvousConfig};
use natter::{Identity, PeerId};

use crate::rendezvous::{Raw, raw};
use crate::support::{Node, Rendezvous, ok};

/// A sealed message of 64 KiB: 15 of them (with 512 bytes each for their rows) fit in 1 MiB.
const SEALED: usize = 64 * 1024;
const FIT_IN_ONE_MIB: usize = (1 << 20) / (SEALED + 512);

/// A raw client whose packets come from `bind` (another loopback address is another
/// machine to the server).
fn raw_from(server: &Rendezvous, bind: &str) -> Raw {
    let identity = Identity::generate();
    let endpoint = transport::endpoint(&identity, bind.parse().unwrap()).unwrap();
    let config = RendezvousConfig {
        addr: server.addr.parse().unwrap(),
        key: server.key.parse::<PeerId>().unwrap(),
        tcp: None,
        also: Vec::new(),
    };
    Raw {
        client: Client::new(endpoint, identity.clone(), config),
        identity,
    }
}

fn msg_id(n: usize) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(n as u64).to_be_bytes());
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_past_the_servers_total_are_refused_with_an_answer_the_sender_can_act_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &["--mail-total-mib", "1"]);
    let (a, b, c) = (raw(&server), raw(&server), raw(&server));
    c.register(&[a.peer(), b.peer()]).await.unwrap();
    let mut stored = 0;
    let reason = loop {
        match a
            .client
            .deposit(&c.peer(), msg_id(stored), vec![7; SEALED])
            .await
        {
            Ok(_) => stored += 1,
            Err(ClientError::Refused(why)) => break why,
            Err(e) => panic!("deposit {stored}: {e}"),
        }
        assert!(stored <= FIT_IN_ONE_MIB, "more than 1 MiB stored");
    };
    assert_eq!(stored, FIT_IN_ONE_MIB);
    assert!(
        reason.contains("mail storage is full") && reason.contains("keep the message"),
        "{reason}"
    );
    // Another sender gets the same answer: the total is the server's.
    let other = b
        .client
        .deposit(&c.peer(), msg_id(100), vec![7; SEALED])
        .await;
    assert!(
        matches!(&other, Err(ClientError::Refused(why)) if why.contains("mail storage is full")),
        "{other:?}"
    );
    // Once the recipient fetched its mail, there is room again.
    let mail = c.client.fetch().await.unwrap();
    let ids = mail.items.iter().map(|i| i.id).collect();
    c.client
        .ack(AckMail {
            ids,
            expired: vec![],
        })
        .await
        .unwrap();
    b.client
        .deposit(&c.peer(), msg_id(100), vec![7; SEALED])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_machine_minting_keys_cannot_store_more_than_its_daily_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(
        dir.path(),
        "127.0.0.1:0",
        &["--mail-source-mib-per-day", "1"],
    );
    // Each round: a fresh mailbox key that allows a fresh depositor key, both from the same
    // address (the attack: self-made accounts, each with its own 16 MiB mailbox).
    let mut stored = 0;
    let retry_after = loop {
        let (mailbox, depositor) = (raw(&server), raw(&server));
        mailbox.register(&[depositor.peer()]).await.unwrap();
        let sealed = vec![7; SEALED];
        match depositor
            .client
            .deposit(&mailbox.peer(), msg_id(1), sealed)
            .await
        {
            Ok(_) => stored += 1,
            Err(ClientError::RateLimited { retry_after }) => break retry_after,
            Err(e) => panic!("deposit {stored}: {e}"),
        }
        assert!(stored <= FIT_IN_ONE_MIB, "more than the day's 1 MiB stored");
    };
    assert_eq!(stored, FIT_IN_ONE_MIB, "the budget, whatever the keys");
    // The answer says when: 1 MiB a day comes back at ~12 bytes a second.
    assert!(retry_after > Duration::from_secs(60), "{retry_after:?}");
    // Another machine is not held back by this one.
    let (mailbox, elsewhere) = (raw(&server), raw_from(&server, "127.0.0.2:0"));
    mailbox.register(&[elsewhere.peer()]).await.unwrap();
    elsewhere
        .client
        .deposit(&mailbox.peer(), msg_id(1), vec![7; SEALED])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_unused_past_its_period_goes_with_its_mail_and_handle() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &["--account-ttl-secs", "3"]);
    let (a, idle) = (raw(&server), raw(&server));
    idle.register(&[a.peer()]).await.unwrap();
    idle.client.claim_handle("idle").await.unwrap();
    idle.client.unregister().await.unwrap();
    a.client
        .deposit(&idle.peer(), msg_id(1), vec![7; 100])
        .await
        .unwrap();
    // `idle` never registers again (that an account which does stays is
    // `db::tests::an_account_registered_within_the_limit_stays_with_its_mail_and_handle`,
    // with the time fed in). Its mail never fetched comes back to its sender as expired
    // when the account goes.
    let deadline = Instant::now() + Duration::from_secs(30);
    let notices = loop {
        let notices = a.client.fetch().await.unwrap().expired;
        if !notices.is_empty() {
            break notices;
        }
        assert!(Instant::now() < deadline, "the idle account never expired");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].msg_id, msg_id(1).to_vec());
    assert_eq!(notices[0].to, idle.peer().as_bytes().to_vec());
    // Its record is gone too: an allowed lookup gets what a lookup of nobody gets.
    loop {
        let seen = a.client.lookup(&idle.peer(), false).await.unwrap();
        if seen.record.is_none() && !seen.online {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle account is still looked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Gone: its allow list (a deposit is refused) and its handle.
    let refused = a
        .client
        .deposit(&idle.peer(), msg_id(2), vec![7; 100])
        .await;
    assert!(
        matches!(&refused, Err(ClientError::Refused(why)) if why.contains("does not take mail")),
        "{refused:?}"
    );
    let handle = a.client.resolve_handle("idle").await;
    assert!(matches!(handle, Err(ClientError::Refused(_))), "{handle:?}");
    // The server's own file keeps nothing of it.
    let db = rusqlite::Connection::open(dir.path().join("rendezvous.sqlite3")).unwrap();
    let rows = |sql: &str| -> i64 {
        db.query_row(sql, [idle.peer().as_bytes().to_vec()], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows("SELECT count(*) FROM accounts WHERE peer = ?1"), 0);
    assert_eq!(rows("SELECT count(*) FROM mail WHERE recipient = ?1"), 0);
    assert_eq!(rows("SELECT count(*) FROM handles WHERE peer = ?1"), 0);
    // Coming back is registering again: a new account, with nothing of the old one.
    idle.register(&[a.peer()]).await.unwrap();
    assert!(idle.client.fetch().await.unwrap().items.is_empty());
}

/// Twelve of the largest messages (16 KiB of text) wait for a contact: more than one fetch
/// answer may carry (160 KiB), so it takes rounds, and the node fetches until none is left.
#[test]
fn a_backlog_larger_than_one_fetch_answer_arrives_whole() {
    const MESSAGES: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(&dir.path().join("server"), "127.0.0.1:0", &[]);
    let args = server.args().map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut a = Node::start_with(&dir.path().join("a"), &args);
    let c = Node::start_with(&dir.path().join("c"), &args);
    ok(&a.profile, &["contact", "add", &c.id, "--name", "carol"]);
    ok(&c.profile, &["contact", "add", &a.id, "--name", "alice"]);
    let cid = c.id.clone();
    a.wait_for(20, |e| {
        e["event"] == "connected" && e["peer"] == cid.as_str()
    });
    let c_profile = c.profile.clone();
    c.stop();
    let text = |n: usize| format!("{n:02}:{}", "x".repeat(16_000));
    for n in 1..MESSAGES {
        ok(&a.profile, &["send", &cid, &text(n)]);
    }
    // Deposits keep the order: once the last is stored, all are.
    let last = text(MESSAGES);
    let wait = ["--wait", "delivered", "--timeout", "30"];
    let out = ok(
        &a.profile,
        &[&["send", &cid, &last][..], &wait[..]].concat(),
    );
    assert!(out.starts_with("stored "), "{out}");
    a.stop();

    let mut c = Node::start_with(&c_profile, &args);
    let prefix = format!("{MESSAGES:02}:");
    c.wait_for(20, |e| {
        e["event"] == "message_received"
            && e["message"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(&prefix))
    });
    let got = c
        .child
        .seen
        .iter()
        .filter(|e| e["event"] == "message_received")
        .count();
    assert_eq!(got, MESSAGES);
}

//! A real `natter-rendezvous` process on loopback with `natter-cli` nodes and raw library
//! clients: finding a contact by key alone, the allow rule for lookups, refused
//! registrations, rate limits, the server's mailbox, and re-registration after the server is
//! killed. The nodes' side of the mailbox is in `mailbox.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use natter::internals::transport;
use natter::rendezvous::proto::{self, PresenceRecord, Register};
use natter::rendezvous::{Client, ClientError, RendezvousConfig, record};
use natter::{Identity, PeerId};
use prost::Message;

use crate::support::{Node, Rendezvous, ok};

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub(crate) struct Raw {
    pub(crate) identity: Identity,
    pub(crate) client: Client,
}

pub(crate) fn raw(server: &Rendezvous) -> Raw {
    raw_as(server, Identity::generate())
}

pub(crate) fn raw_as(server: &Rendezvous, identity: Identity) -> Raw {
    let endpoint = transport::endpoint(&identity, "127.0.0.1:0".parse().unwrap()).unwrap();
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

pub(crate) fn record_of(id: &Identity, issued_ms: u64, expires_ms: u64) -> PresenceRecord {
    PresenceRecord {
        peer: id.peer_id().as_bytes().to_vec(),
        addrs: vec!["127.0.0.1:40000".into()],
        min_version: 1,
        max_version: 1,
        features: vec!["text".into()],
        prekey: vec![9; 32],
        prekey_expires_ms: expires_ms,
        transports: Vec::new(),
        issued_ms,
        expires_ms,
    }
}

impl Raw {
    pub(crate) fn peer(&self) -> PeerId {
        self.identity.peer_id()
    }

    pub(crate) async fn register(
        &self,
        allow: &[PeerId],
    ) -> Result<proto::Registered, ClientError> {
        let now = now_ms();
        let signed = record::sign(
            &self.identity,
            &record_of(&self.identity, now, now + 60_000),
        );
        self.register_signed(signed, allow).await
    }

    async fn register_signed(
        &self,
        signed: proto::SignedRecord,
        allow: &[PeerId],
    ) -> Result<proto::Registered, ClientError> {
        let tokens = allow
            .iter()
            .map(|p| record::own_token(&self.identity, p).unwrap().to_vec())
            .collect();
        let reg = Register {
            record: Some(signed),
            tokens,
            ..Default::default()
        };
        self.client.register(reg).await.map(|(r, _, _)| r)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_answer_only_allowed_peers_and_otherwise_look_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &[]);
    let (a, b, c) = (raw(&server), raw(&server), raw(&server));
    let seen = c.register(&[a.peer()]).await.unwrap();
    assert!(seen.observed.starts_with("127.0.0.1:"), "{seen:?}");

    let found = a.client.lookup(&c.peer(), false).await.unwrap();
    assert!(found.online);
    let v = record::verify(found.record.as_ref().unwrap(), Some(&c.peer())).unwrap();
    assert_eq!(
        v.addrs,
        vec!["127.0.0.1:40000".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(found.observed, seen.observed);

    // b is not allowed: its answer is byte for byte the answer about nobody at all.
    let denied = b.client.lookup(&c.peer(), false).await.unwrap();
    let nobody = b
        .client
        .lookup(&Identity::generate().peer_id(), false)
        .await
        .unwrap();
    assert!(!denied.online && denied.record.is_none());
    assert_eq!(denied.encode_to_vec(), nobody.encode_to_vec());

    // c leaves: a still gets the signed record (for its prekey), marked offline.
    c.client.unregister().await.unwrap();
    let gone = a.client.lookup(&c.peer(), false).await.unwrap();
    assert!(!gone.online && gone.record.is_some() && gone.observed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_replayed_and_foreign_registrations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &[]);
    let (a, b) = (raw(&server), raw(&server));
    let now = now_ms();
    let refused = |r: Result<proto::Registered, ClientError>| match r {
        Err(ClientError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };

    let mut forged = record::sign(&a.identity, &record_of(&a.identity, now, now + 60_000));
    forged.signature[0] ^= 1;
    assert!(refused(a.register_signed(forged, &[]).await).contains("signature"));

    let stale = record::sign(
        &a.identity,
        &record_of(&a.identity, now - 120_000, now - 60_000),
    );
    assert!(refused(a.register_signed(stale, &[]).await).contains("expired"));

    let foreign = record::sign(&b.identity, &record_of(&b.identity, now, now + 60_000));
    assert!(refused(a.register_signed(foreign, &[]).await).contains("another key"));

    let good = record::sign(&a.identity, &record_of(&a.identity, now, now + 60_000));
    a.register_signed(good.clone(), &[]).await.unwrap();
    assert!(refused(a.register_signed(good, &[]).await).contains("replayed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_rate_limited_and_another_is_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(
        dir.path(),
        "127.0.0.1:0",
        &["--requests-per-second", "5", "--request-burst", "10"],
    );
    let (flood, calm, target) = (raw(&server), raw(&server), raw(&server));
    target.register(&[calm.peer()]).await.unwrap();
    let mut limited = None;
    for _ in 0..100 {
        match flood.client.lookup(&target.peer(), false).await {
            Ok(_) => {}
            Err(ClientError::RateLimited { retry_after }) => {
                limited = Some(retry_after);
                break;
            }
            Err(e) => panic!("flood: {e}"),
        }
    }
    let retry_after = limited.expect("the flood is rate limited");
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
    // The connection is still up and another identity is served.
    assert!(
        calm.client
            .lookup(&target.peer(), false)
            .await
            .unwrap()
            .online
    );
    tokio::time::sleep(retry_after).await;
    assert!(flood.client.lookup(&target.peer(), false).await.is_ok());
}

/// Two contacts registered at a real server, found each other through it: the server's
/// own database holds no token in both of their registrations, so it cannot link them by
/// intersecting what they registered (each token is bound to the key that registers it).
#[test]
fn the_server_cannot_link_two_contacts_by_their_registrations() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = Rendezvous::start(&data, "127.0.0.1:0", &[]);
    let args = server.args().map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut a = Node::start_with(&dir.path().join("a"), &args);
    let mut c = Node::start_with(&dir.path().join("c"), &args);
    ok(&a.profile, &["contact", "add", &c.id, "--name", "carol"]);
    ok(&c.profile, &["contact", "add", &a.id, "--name", "alice"]);
    let cid = c.id.clone();
    a.wait_for(20, |e| {
        e["event"] == "connected" && e["peer"] == cid.as_str()
    });
    c.wait_for(5, |e| e["event"] == "rendezvous" && e["online"] == true);
    let db = rusqlite::Connection::open(data.join("rendezvous.sqlite3")).unwrap();
    let registered = || -> Vec<std::collections::HashSet<Vec<u8>>> {
        let mut stmt = db.prepare("SELECT tokens FROM accounts").unwrap();
        stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|t| t.unwrap().chunks(32).map(<[u8]>::to_vec).collect())
            .collect()
    };
    // Both have registered with their contact's token (a renewal follows a contact add).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let sets = loop {
        let sets = registered();
        if sets.len() == 2 && sets.iter().all(|s| s.len() == 1) {
            break sets;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "registrations: {sets:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        sets[0].is_disjoint(&sets[1]),
        "the two registrations share a token: the server links the pair"
    );
}

#[test]
fn a_contact_is_reached_by_key_alone_and_presence_survives_a_server_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let mut server = Rendezvous::start(&data, "127.0.0.1:0", &[]);
    let args = server.args().map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut a = Node::start_with(&dir.path().join("a"), &args);
    let mut c = Node::start_with(&dir.path().join("c"), &args);
    a.wait_for(10, |e| e["event"] == "rendezvous" && e["online"] == true);
    c.wait_for(10, |e| e["event"] == "rendezvous" && e["online"] == true);

    // No addresses anywhere: only keys.
    ok(&a.profile, &["contact", "add", &c.id, "--name", "carol"]);
    ok(&c.profile, &["contact", "add", &a.id, "--name", "alice"]);
    let out = ok(
        &a.profile,
        &[
            "send",
            &c.id,
            "found you by key",
            "--wait",
            "delivered",
            "--timeout",
            "20",
        ],
    );
    assert!(out.starts_with("delivered "), "{out}");
    c.wait_for(10, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "found you by key"
    });

    // SIGKILL the server and start it again on the same port and data: both nodes
    // register again on their own.
    let addr = server.addr.clone();
    server.kill9();
    // A client notices the dead server after the signalling idle timeout (30 s) at most.
    let mut server = Rendezvous::start(&data, &addr, &[]);
    a.wait_for(75, |e| e["event"] == "rendezvous" && e["online"] == true);
    c.wait_for(75, |e| e["event"] == "rendezvous" && e["online"] == true);
    // SIGTERM is a clean stop.
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_mailbox_keeps_deposits_across_a_kill_and_reports_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = ["--mail-ttl-secs", "4"];
    let mut server = Rendezvous::start(dir.path(), "127.0.0.1:0", &ttl);
    let (a, b, c) = (raw(&server), raw(&server), raw(&server));
    c.register(&[a.peer()]).await.unwrap();
    c.client.unregister().await.unwrap();

    // Only a contact may leave mail; the server only ever holds opaque bytes.
    let refused = b.client.deposit(&c.peer(), [1; 16], vec![0xAA; 64]).await;
    assert!(
        matches!(refused, Err(ClientError::Refused(_))),
        "{refused:?}"
    );
    let expires = a
        .client
        .deposit(&c.peer(), [2; 16], vec![0xBB; 64])
        .await
        .unwrap();
    assert!(expires > now_ms());
    // The same message id twice is one message.
    a.client
        .deposit(&c.peer(), [2; 16], vec![0xBB; 64])
        .await
        .unwrap();

    // SIGKILL right after the answer: the deposit was committed before it was answered.
    let addr = server.addr.clone();
    server.kill9();
    let _server = Rendezvous::start(dir.path(), &addr, &ttl);
    let c = raw_as(&server, c.identity.clone());
    let a = raw_as(&server, a.identity.clone());
    let mail = c.client.fetch().await.unwrap();
    assert_eq!(mail.items.len(), 1, "{mail:?}");
    assert_eq!(mail.items[0].sealed, vec![0xBB; 64]);
    assert_eq!(mail.items[0].from, a.peer().as_bytes().to_vec());
    assert!(raw(&server).client.fetch().await.unwrap().items.is_empty());
    c.client
        .ack(proto::AckMail {
            ids: vec![mail.items[0].id],
            expired: vec![],
        })
        .await
        .unwrap();
    assert!(c.client.fetch().await.unwrap().items.is_empty());

    // Mail nobody fetches expires, and its sender is told (never dropped silently).
    a.client
        .deposit(&c.peer(), [3; 16], vec![0xCC; 64])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let notice = loop {
        let m = a.client.fetch().await.unwrap();
        if let Some(e) = m.expired.first() {
            break e.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no expiry notice");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(notice.msg_id, vec![3; 16]);
    assert_eq!(notice.to, c.peer().as_bytes().to_vec());
    assert!(c.client.fetch().await.unwrap().items.is_empty());
}

/// A client that announces a large request and sends a few bytes of it (slowloris) gets an
/// answer and its stream closed within the server's read deadline, and holds only what it
/// sent meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_arrives_whole_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &[]);
    let a = raw(&server);
    let conn = a.client.connection().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // 100 KiB announced, 10 bytes sent, the stream left open.
    send.write_all(&[0, 1, 0x90, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        .await
        .unwrap();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        proto::read::<proto::Response>(&mut recv),
    )
    .await
    .expect("the server is still waiting for the rest of the request")
    .unwrap()
    .unwrap();
    let Some(proto::response::Body::Refused(r)) = answer.body else {
        panic!("{answer:?}");
    };
    assert!(r.reason.contains("did not arrive whole"), "{}", r.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_an_error_answer_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &[]);
    let (a, c) = (raw(&server), raw(&server));
    c.register(&[a.peer()]).await.unwrap();
    let conn = a.client.connection().await.unwrap();
    let garbage: [&[u8]; 4] = [
        &[0, 0, 0, 3, 0xff, 0xff, 0xff], // not protobuf
        &[0, 0, 0, 0],                   // an empty request
        &[0x7f, 0xff, 0xff, 0xff],       // a length over the cap
        &[0, 0, 0, 2, 0x1a, 0x05],       // a truncated lookup
    ];
    for bytes in garbage {
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(bytes).await.unwrap();
        let _ = send.finish();
        let answer = proto::read::<proto::Response>(&mut recv)
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(answer.body, Some(proto::response::Body::Refused(_))),
            "{bytes:?} -> {answer:?}"
        );
    }
    // The server is fine, and the state is what it was.
    assert!(a.client.lookup(&c.peer(), false).await.unwrap().online);
}

#[test]
fn handles_are_first_come_signed_and_add_a_contact_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(&dir.path().join("server"), "127.0.0.1:0", &[]);
    let args = server.args().map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = Node::start_with(&dir.path().join("a"), &args);
    let b = Node::start_with(&dir.path().join("b"), &args);
    let out = ok(&a.profile, &["handle", "claim", "@Alice"]);
    assert!(out.starts_with("@alice is yours"), "{out}");
    let taken = crate::support::cli(&b.profile, &["handle", "claim", "alice"]);
    assert!(!taken.status.success());
    let err = String::from_utf8_lossy(&taken.stderr);
    assert!(err.contains("@alice is taken"), "{err}");
    let bad = crate::support::cli(&b.profile, &["handle", "claim", "@x"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a handle"));

    assert_eq!(ok(&b.profile, &["handle", "resolve", "@ALICE"]), a.id);
    let added = crate::support::json(&b.profile, &["contact", "add", "@alice"]);
    assert_eq!(added["peer"], a.id.as_str(), "{added}");
    assert_eq!(added["nickname"], "alice");
    let none = crate::support::cli(&b.profile, &["contact", "add", "@nobody"]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("no such handle"));
}

/// The next push on a registration's stream, which must be a dial signal.
pub(crate) async fn first_dial_me(pushes: &mut quinn::RecvStream) -> proto::DialMe {
    let push = tokio::time::timeout(Duration::from_secs(5), proto::read::<proto::Push>(pushes))
        .await
        .expect("a push within 5 s")
        .unwrap()
        .unwrap();
    let Some(proto::push::Body::DialMe(d)) = push.body else {
        panic!("expected DialMe, got {push:?}");
    };
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signalled_lookup_tells_the_target_to_dial_back_and_only_for_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &[]);
    let (a, b, c) = (raw(&server), raw(&server), raw(&server));
    a.register(&[c.peer()]).await.unwrap();
    b.register(&[]).await.unwrap();
    let now = now_ms();
    let signed = record::sign(&c.identity, &record_of(&c.identity, now, now + 60_000));
    let tokens = vec![record::own_token(&c.identity, &a.peer()).unwrap().to_vec()];
    let (_, _send, mut pushes) = c
        .client
        .register(Register {
            record: Some(signed),
            tokens,
            ..Default::default()
        })
        .await
        .unwrap();

    // b is not allowed: its signal goes nowhere.
    b.client.lookup(&c.peer(), true).await.unwrap();
    // a is: c is told to dial a, with a's observed address and signed record.
    a.client.lookup(&c.peer(), true).await.unwrap();
    let d = first_dial_me(&mut pushes).await;
    assert_eq!(
        d.from,
        a.peer().as_bytes().to_vec(),
        "the first signal is a's, not b's"
    );
    assert!(d.observed.starts_with("127.0.0.1:"));
    record::verify(d.record.as_ref().unwrap(), Some(&a.peer())).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invisible_peer_is_offline_to_all_but_the_contacts_it_picked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &[]);
    let (a, b, c) = (raw(&server), raw(&server), raw(&server));
    a.register(&[c.peer()]).await.unwrap();
    b.register(&[c.peer()]).await.unwrap();
    let now = now_ms();
    let mut hidden = record_of(&c.identity, now, now + 60_000);
    hidden.addrs.clear(); // what an invisible node registers
    let token = |p: &PeerId| record::own_token(&c.identity, p).unwrap().to_vec();
    let (_, _send, mut pushes) = c
        .client
        .register(Register {
            record: Some(record::sign(&c.identity, &hidden)),
            tokens: vec![token(&a.peer()), token(&b.peer())],
            hidden: true,
            visible: vec![token(&a.peer())],
        })
        .await
        .unwrap();

    // b may still find its record (the prekey, to leave mail), but sees it offline, with no
    // address, exactly as after c left; its dial signal goes nowhere.
    let to_b = b.client.lookup(&c.peer(), true).await.unwrap();
    assert!(!to_b.online && to_b.observed.is_empty(), "{to_b:?}");
    let v = record::verify(to_b.record.as_ref().unwrap(), Some(&c.peer())).unwrap();
    assert!(v.addrs.is_empty());
    // a, picked to see c, finds it online, and its signal reaches c (the first push).
    let to_a = a.client.lookup(&c.peer(), true).await.unwrap();
    assert!(
        to_a.online && to_a.observed.starts_with("127.0.0.1:"),
        "{to_a:?}"
    );
    let d = first_dial_me(&mut pushes).await;
    assert_eq!(d.from, a.peer().as_bytes().to_vec(), "b's signal reached c");

    // A visible token must be one of the lookup tokens.
    let later = now_ms();
    let refused = c
        .client
        .register(Register {
            record: Some(record::sign(
                &c.identity,
                &record_of(&c.identity, later, later + 60_000),
            )),
            tokens: vec![token(&a.peer())],
            hidden: true,
            visible: vec![token(&b.peer())],
        })
        .await;
    assert!(
        matches!(refused, Err(ClientError::Refused(_))),
        "{refused:?}"
    );
}

/// Lookups made at once go out as a few batched requests, each answered as alone: a server
/// allowing a burst of 8 requests answers 40 concurrent lookups (one by one they would be
/// rate limited after 8), and a batch asked directly is answered in its order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_go_out_together_and_each_gets_its_own_answer() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ["--requests-per-second", "1", "--request-burst", "8"];
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &limits);
    let (friend, stranger) = (raw(&server), raw(&server));
    let a = std::sync::Arc::new(raw(&server));
    friend.register(&[a.peer()]).await.unwrap();
    stranger.register(&[]).await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (a, target) = (
            a.clone(),
            if i % 2 == 0 {
                friend.peer()
            } else {
                stranger.peer()
            },
        );
        tasks.spawn(async move { (i, a.client.lookup(&target, false).await) });
    }
    let mut answered = 0;
    while let Some(done) = tasks.join_next().await {
        let (i, p) = done.unwrap();
        let p = p.unwrap_or_else(|e| panic!("lookup {i}: {e}"));
        // The friend allows us: online; the stranger does not: the same as unknown.
        assert_eq!(p.online, i % 2 == 0, "lookup {i}: {p:?}");
        assert_eq!(p.record.is_some(), i % 2 == 0, "lookup {i}: {p:?}");
        answered += 1;
    }
    assert_eq!(answered, 40);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let unknown = Identity::generate().peer_id();
    let many = a
        .client
        .lookup_many(&[
            (stranger.peer(), false),
            (friend.peer(), false),
            (unknown, false),
        ])
        .await
        .unwrap();
    let online: Vec<bool> = many.iter().map(|p| p.online).collect();
    assert_eq!(online, [false, true, false]);
}

/// One plain HTTP GET; the whole answer.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// Operators' side: systemd hears READY=1 once the server listens and STOPPING=1 at SIGTERM;
/// `/health` answers ok, `/metrics` counts held clients and lookups, anything else is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_tells_systemd_it_is_ready_and_answers_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify");
    let systemd = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut server = Rendezvous::start_env(
        &dir.path().join("rv"),
        "127.0.0.1:0",
        &["--metrics", "127.0.0.1:0"],
        &[("NOTIFY_SOCKET", &notify)],
    );
    let mut said = [0u8; 64];
    let n = systemd.recv(&mut said).unwrap();
    assert_eq!(&said[..n], b"READY=1");
    let metrics = server.listening["metrics"].as_str().unwrap().to_string();

    let health = http_get(&metrics, "/health");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    let (a, b) = (raw(&server), raw(&server));
    a.register(&[b.peer()]).await.unwrap();
    for _ in 0..3 {
        assert!(b.client.lookup(&a.peer(), false).await.unwrap().online);
    }
    let m = http_get(&metrics, "/metrics");
    assert!(m.contains("\nnatter_clients 1\n"), "{m}");
    assert!(m.contains("\nnatter_lookups_total 3\n"), "{m}");
    assert!(m.contains("\nnatter_registrations_total 1\n"), "{m}");
    assert!(http_get(&metrics, "/").starts_with("HTTP/1.1 404"));

    assert!(server.terminate().success());
    let n = systemd.recv(&mut said).unwrap();
    assert_eq!(&said[..n], b"STOPPING=1");
}

/// Operators' side: `--config FILE` sets what the flags set (named with `_`); a flag on the
/// command line wins over the file; an unknown key or a value of the wrong kind stops the
/// server with an error naming it.
#[test]
fn the_server_reads_its_settings_from_a_config_file_and_flags_win_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rendezvous.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1\"\nrelay = true\nmetrics = \"127.0.0.1:0\"\nrelay_rate = 1000000\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let mut server = Rendezvous::start_env(
        &dir.path().join("rv"),
        "127.0.0.1:0",
        &["--config", config],
        &[],
    );
    assert_eq!(server.listening["relay"], true, "{}", server.listening);
    assert!(
        server.listening["metrics"].is_string(),
        "{}",
        server.listening
    );
    let addr: SocketAddr = server.addr.parse().unwrap();
    assert_ne!(
        addr.port(),
        1,
        "the --listen flag wins over the file's listen"
    );
    assert!(server.terminate().success());

    for (text, named) in [
        (
            "redis_url = \"redis://127.0.0.1\"\n",
            "unknown key \"redis_url\"",
        ),
        ("relay = \"yes\"\n", "relay = \"yes\"; give true or false"),
        (
            "mail_days = true\n",
            "mail_days = true; give a string or a number",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(crate::support::RENDEZVOUS)
            .args(["--config", config, "--data"])
            .arg(dir.path().join("rv"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text} is refused");
        assert!(stderr.contains(named), "{text}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing listens: {text}");
    }
}

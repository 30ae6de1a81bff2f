//! Redis mode: three real `natter-rendezvous` nodes over one real `redis-server` on loopback,
//! with real `natter-cli` nodes and raw library clients. Clients at different nodes find
//! each other, get dial signals and chat; mail deposited at one node reaches its recipient
//! at another, once; a SIGKILLed node's clients register again at another; a SIGKILLed
//! Redis comes back with every acknowledged deposit; a node with another key, or a Redis
//! that does not fsync, is refused at start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natter::rendezvous::proto;

use crate::rendezvous::{first_dial_me, now_ms, raw, raw_as, record_of};
use crate::support::{Node, RENDEZVOUS, Rendezvous, json, ok};

/// A `redis-server` of our own on a loopback port, its files in `dir`.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
    durable: bool,
}

impl Redis {
    /// Durable as Redis mode requires: AOF on, fsync before each write is acknowledged.
    fn start(dir: &Path) -> Redis {
        Self::spawn(dir, free_port(), true)
    }

    fn spawn(dir: &Path, port: u16, durable: bool) -> Redis {
        std::fs::create_dir_all(dir).unwrap();
        let fsync = if durable { "always" } else { "everysec" };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--dir")
            .arg(dir)
            .args(["--appendonly", "yes", "--appendfsync", fsync, "--save", ""])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs Debian's redis-server)");
        let r = Redis {
            child,
            port,
            dir: dir.to_path_buf(),
            durable,
        };
        r.wait_up();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, then start again on the same port and files.
    fn kill9_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::spawn(&self.dir.clone(), self.port, self.durable);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Three nodes of one deployment: the first makes the key, the others get a copy.
fn deployment(dir: &Path, redis: &Redis, extra: &[&str]) -> Vec<Rendezvous> {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str()];
    args.extend_from_slice(extra);
    let first = Rendezvous::start(&dir.join("n1"), "127.0.0.1:0", &args);
    let mut nodes = vec![first];
    for n in ["n2", "n3"] {
        std::fs::create_dir_all(dir.join(n)).unwrap();
        std::fs::copy(
            dir.join("n1").join("identity.pem"),
            dir.join(n).join("identity.pem"),
        )
        .unwrap();
        nodes.push(Rendezvous::start(&dir.join(n), "127.0.0.1:0", &args));
    }
    for n in &nodes {
        assert_eq!(n.key, nodes[0].key, "one deployment, one key");
    }
    nodes
}

/// A node's arguments: `first` first, then the deployment's other addresses.
fn at(nodes: &[Rendezvous], first: usize) -> Vec<String> {
    let also: Vec<&str> = (0..nodes.len())
        .filter(|i| *i != first)
        .map(|i| nodes[i].addr.as_str())
        .collect();
    vec![
        "--rendezvous".into(),
        nodes[first].addr.clone(),
        "--rendezvous-key".into(),
        nodes[first].key.clone(),
        "--rendezvous-also".into(),
        also.join(","),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn registered(e: &serde_json::Value) -> bool {
    e["event"] == "rendezvous" && e["online"] == true
}

#[test]
fn clients_of_different_nodes_find_each_other_chat_and_mail_reaches_its_recipient_once() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let nodes = deployment(dir.path(), &redis, &[]);
    let (on1, on2, on3) = (at(&nodes, 0), at(&nodes, 1), at(&nodes, 2));

    // Alice at node 1, Carol at node 2: each knows only the other's key, so the lookups,
    // records and dial signals all cross nodes through Redis.
    let mut a = Node::start_with(&dir.path().join("a"), &strs(&on1));
    let mut c = Node::start_with(&dir.path().join("c"), &strs(&on2));
    a.saw_or_wait(20, registered);
    c.saw_or_wait(20, registered);
    ok(&a.profile, &["contact", "add", &c.id, "--name", "carol"]);
    ok(&c.profile, &["contact", "add", &a.id, "--name", "alice"]);
    let cid = c.id.clone();
    let started = Instant::now();
    a.wait_for(30, |e| {
        e["event"] == "connected" && e["peer"] == cid.as_str()
    });
    eprintln!(
        "figure: contacts at nodes 1 and 2 connected {} ms after adding each other",
        started.elapsed().as_millis()
    );
    let sent = json(
        &a.profile,
        &["send", &c.id, "hello across nodes", "--wait", "delivered"],
    );
    assert_eq!(sent["state"], "delivered", "{sent}");

    // Bob at node 3 writes to Carol while she is away: sealed at node 3, fetched at node 1.
    let mut b = Node::start_with(&dir.path().join("b"), &strs(&on3));
    b.saw_or_wait(20, registered);
    ok(&b.profile, &["contact", "add", &c.id, "--name", "carol"]);
    ok(&c.profile, &["contact", "add", &b.id, "--name", "bob"]);
    let bid = b.id.clone();
    c.wait_for(30, |e| {
        e["event"] == "connected" && e["peer"] == bid.as_str()
    });
    let c_profile = c.profile.clone();
    c.stop();
    let sent = json(
        &b.profile,
        &[
            "send",
            &cid,
            "while you were away",
            "--wait",
            "delivered",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(sent["state"], "stored", "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();
    // Bob goes too, so the message can only come through the mailbox.
    b.stop();

    let mut c = Node::start_with(&c_profile, &strs(&on1));
    let got = c.wait_for(30, |e| {
        e["event"] == "message_received" && e["message"]["id"] == id.as_str()
    });
    assert_eq!(got["message"]["mailbox"], nodes[0].addr.as_str(), "{got}");
    c.drain(1500);
    let received = c
        .child
        .seen
        .iter()
        .filter(|e| e["event"] == "message_received")
        .count();
    assert_eq!(received, 1, "{:?}", c.child.seen);
    let history = json(&c.profile, &["history", &bid]);
    let copies = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == id.as_str())
        .count();
    assert_eq!(copies, 1, "{history}");
    a.stop();
    c.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_client_and_a_killed_redis_keeps_every_acknowledged_deposit() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = Redis::start(&dir.path().join("redis"));
    // Mail expires 40 s after its deposit: after every step below but the last.
    let mut nodes = deployment(dir.path(), &redis, &["--mail-ttl-secs", "40"]);
    let on1 = at(&nodes, 0);
    let mut a = Node::start_with(&dir.path().join("a"), &strs(&on1));
    a.saw_or_wait(20, registered);

    // Mail deposited at node 1 for a recipient registered at node 2, twice: stored once.
    let (s, r) = (raw(&nodes[0]), raw(&nodes[1]));
    r.register(&[s.peer()]).await.unwrap();
    for m in 1..=3u8 {
        for _ in 0..2 {
            s.client
                .deposit(&r.peer(), [m; 16], vec![m; 64])
                .await
                .unwrap();
        }
    }

    // SIGKILL node 1: Alice's node registers at another within the bound (QUIC's 30 s idle
    // timeout notices the loss, then the next address answers at once).
    let killed = Instant::now();
    nodes[0].kill9();
    let back = a.wait_for(60, registered);
    let took = killed.elapsed();
    eprintln!(
        "figure: re-registered at another node {} ms after SIGKILL",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(45), "{took:?}");
    let detail = back["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&nodes[1].addr) || detail.contains(&nodes[2].addr),
        "{detail}"
    );

    // SIGKILL Redis right after those deposits were answered, and start it again.
    redis.kill9_and_restart();
    let r = raw_as(&nodes[2], r.identity.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = loop {
        match r.client.fetch().await {
            Ok(m) => break m,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "nodes did not get Redis back: {e}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let mut got: Vec<Vec<u8>> = mail.items.iter().map(|i| i.msg_id.clone()).collect();
    got.sort();
    assert_eq!(got, vec![vec![1; 16], vec![2; 16], vec![3; 16]], "{mail:?}");
    assert!(
        mail.items
            .iter()
            .all(|i| i.from == s.peer().as_bytes().to_vec())
    );
    assert_eq!(mail.items[0].sealed.len(), 64);

    // Acknowledged at one node, gone at all; what nobody fetches expires and its sender
    // hears of it at whichever node it asks.
    r.client
        .ack(proto::AckMail {
            ids: mail.items[..2].iter().map(|i| i.id).collect(),
            expired: vec![],
        })
        .await
        .unwrap();
    let left = raw_as(&nodes[1], r.identity.clone())
        .client
        .fetch()
        .await
        .unwrap();
    assert_eq!(left.items.len(), 1, "{left:?}");
    let s = raw_as(&nodes[1], s.identity.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    let notice = loop {
        let m = s.client.fetch().await.unwrap();
        if let Some(e) = m.expired.first() {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "no expiry notice");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(notice.msg_id, left.items[0].msg_id);
    assert_eq!(notice.to, r.peer().as_bytes().to_vec());
    assert!(r.client.fetch().await.unwrap().items.is_empty());
    a.stop();
}

#[test]
fn a_node_with_another_key_or_a_redis_that_may_lose_writes_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let _nodes = deployment(dir.path(), &redis, &[]);
    let refused = |data: &Path, url: &str| {
        let out = Command::new(RENDEZVOUS)
            .args(["--listen", "127.0.0.1:0", "--redis", url])
            .arg("--data")
            .arg(data)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = refused(&dir.path().join("stranger"), &redis.url());
    assert!(
        e.contains("serves the rendezvous deployment with key"),
        "{e}"
    );
    let loose = Redis::spawn(&dir.path().join("loose"), free_port(), false);
    let e = refused(&dir.path().join("n1"), &loose.url());
    assert!(e.contains("appendfsync always"), "{e}");
    let e = refused(&dir.path().join("n1"), "redis://127.0.0.1:1/");
    assert!(e.contains("Redis"), "{e}");
}

/// Registers `who` at its client's node with a token for each of `allow`, keeping the push
/// stream.
async fn register_with_pushes(
    who: &crate::rendezvous::Raw,
    allow: &[natter::PeerId],
) -> (quinn::SendStream, quinn::RecvStream) {
    use natter::rendezvous::record;
    let now = now_ms();
    let signed = record::sign(&who.identity, &record_of(&who.identity, now, now + 60_000));
    let tokens = allow
        .iter()
        .map(|p| record::own_token(&who.identity, p).unwrap().to_vec())
        .collect();
    let (_, send, pushes) = who
        .client
        .register(proto::Register {
            record: Some(signed),
            tokens,
            ..Default::default()
        })
        .await
        .unwrap();
    (send, pushes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_signal_reaches_the_node_holding_its_target_and_a_client_that_moves_is_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let nodes = deployment(dir.path(), &redis, &[]);
    let (a, c) = (raw(&nodes[0]), raw(&nodes[1]));
    a.register(&[c.peer()]).await.unwrap();
    let (_send, mut at_2) = register_with_pushes(&c, &[a.peer()]).await;

    // a at node 1 asks for c at node 2: the signal is published to c's holder.
    let found = a.client.lookup(&c.peer(), true).await.unwrap();
    assert!(found.online, "{found:?}");
    let d = first_dial_me(&mut at_2).await;
    assert_eq!(d.from, a.peer().as_bytes().to_vec());
    assert!(d.observed.starts_with("127.0.0.1:"), "{d:?}");

    // c registers at node 3: node 2 lets go (its push stream ends), signals go to node 3.
    let c3 = raw_as(&nodes[2], c.identity.clone());
    tokio::time::sleep(Duration::from_millis(5)).await; // a later record
    let (_send3, mut at_3) = register_with_pushes(&c3, &[a.peer()]).await;
    let ended = tokio::time::timeout(
        Duration::from_secs(5),
        proto::read::<proto::Push>(&mut at_2),
    )
    .await
    .expect("node 2 lets go within 5 s");
    assert!(matches!(ended, Ok(None)), "{ended:?}");
    let found = a.client.lookup(&c.peer(), true).await.unwrap();
    assert!(found.online, "{found:?}");
    let d = first_dial_me(&mut at_3).await;
    assert_eq!(d.from, a.peer().as_bytes().to_vec());

    // Gone from node 3 (it unregisters): offline everywhere, its record still there for mail.
    c3.client.unregister().await.unwrap();
    let found = a.client.lookup(&c.peer(), false).await.unwrap();
    assert!(!found.online && found.record.is_some(), "{found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_joins_two_clients_held_at_different_nodes_once_both_consent() {
    use natter::rendezvous::relay;

    use crate::relay::{next_frame, open};
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let nodes = deployment(dir.path(), &redis, &["--relay"]);
    let (a, b) = (raw(&nodes[0]), raw(&nodes[1]));
    a.register(&[b.peer()]).await.unwrap();
    b.register(&[a.peer()]).await.unwrap();
    let packet = vec![0x5a; relay::MIN_PACKET];
    let (a_conn, b_conn) = (
        a.client.connection().await.unwrap(),
        b.client.connection().await.unwrap(),
    );

    // a alone consented: nothing reaches b.
    assert!(!open(&a, &b).await.unwrap(), "ready before b consented");
    a_conn
        .send_datagram(relay::frame(b.peer().as_bytes(), &packet))
        .unwrap();
    assert!(next_frame(&b, Duration::from_millis(500)).await.is_none());

    // b consents at node 2: ready; packets cross both ways through Redis.
    assert!(open(&b, &a).await.unwrap(), "both opened: ready");
    b_conn
        .send_datagram(relay::frame(a.peer().as_bytes(), &packet))
        .unwrap();
    let (from, got) = next_frame(&a, Duration::from_secs(5))
        .await
        .expect("b's packet reaches a at the other node");
    assert_eq!(&from, b.peer().as_bytes());
    assert_eq!(&got[..], &packet[..]);
    // Node 1 hears of the pair over Redis: a's packets pass once it has.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (from, got) = loop {
        a_conn
            .send_datagram(relay::frame(b.peer().as_bytes(), &packet))
            .unwrap();
        if let Some(f) = next_frame(&b, Duration::from_millis(200)).await {
            break f;
        }
        assert!(Instant::now() < deadline, "a's packets never reached b");
    };
    assert_eq!(&from, a.peer().as_bytes());
    assert_eq!(&got[..], &packet[..]);
}

#[test]
fn a_public_room_listed_at_one_node_is_found_and_joined_from_another_and_its_listing_goes() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let nodes = deployment(dir.path(), &redis, &[]);
    let (on1, on2) = (at(&nodes, 0), at(&nodes, 1));
    let mut a = Node::start_run(&dir.path().join("a"), &strs(&on1), &["--listing-secs", "3"]);
    let c = Node::start_with(&dir.path().join("c"), &strs(&on2));
    a.saw_or_wait(20, registered);
    let created = json(&a.profile, &["room", "create", "Book swap", "--public"]);
    let room = created["room_id"].as_str().unwrap().to_string();
    assert_eq!(
        json(&a.profile, &["room", "publish", &room])["published"],
        true
    );

    // Listed at node 1, found in node 2's copy of the directory.
    let listed = |profile: &Path| {
        json(profile, &["room", "directory", "swap"])
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r["room_id"] == room.as_str()))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed(&c.profile) {
        assert!(Instant::now() < deadline, "listed at node 2 within 10 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The knock goes from node 2 to Alice at node 1, her answer back to node 2.
    let joined = json(&c.profile, &["room", "join", &room]);
    assert_eq!(joined["status"], "joined", "{joined}");
    ok(&c.profile, &["room", "send", &room, "hello from node 2"]);
    a.wait_for(20, |e| {
        e["event"] == "room_message" && e["post"]["text"] == "hello from node 2"
    });

    // Alice killed: her 3 s listing goes from every node's copy.
    a.kill9();
    let deadline = Instant::now() + Duration::from_secs(12);
    while listed(&c.profile) {
        assert!(Instant::now() < deadline, "the listing went within 12 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

//! A message to a room of N members (2, 8, 32), in-process on loopback: time from the
//! author's send until every other member has stored it (each author's message, sealed
//! under its sender key, pushed over its N−1 sessions). Baseline in the same run: one
//! one-to-one message from send until the receiver stored it, between two of the same nodes.
//! Run: `cargo bench --bench rooms`.

use std::time::{Duration, Instant};

use natter::model::Contact;
use natter::node::{Event, Node, NodeConfig, NodeHandle};
use natter::room::RoomId;
use tokio::sync::broadcast;

const SAMPLES: usize = 100;

struct Member {
    node: NodeHandle,
    events: broadcast::Receiver<Event>,
    _dir: tempfile::TempDir,
}

async fn start() -> Member {
    let dir = tempfile::tempdir().expect("dir");
    let mut c = NodeConfig::new(dir.path());
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c.discovery = None;
    let (node, events) = Node::start(c).await.expect("node");
    Member {
        node,
        events,
        _dir: dir,
    }
}

async fn wait(events: &mut broadcast::Receiver<Event>, f: impl Fn(&Event) -> bool) {
    loop {
        match events.recv().await {
            Ok(e) if f(&e) => return,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => panic!("events: {e}"),
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// N members who all know each other's addresses, in one room.
async fn room_of(n: usize) -> (Vec<Member>, RoomId) {
    let mut members = Vec::new();
    for _ in 0..n {
        members.push(start().await);
    }
    for a in &members {
        for b in &members {
            if a.node.peer_id() != b.node.peer_id() {
                let mut c = Contact::new(b.node.peer_id());
                c.addr = Some(b.node.local_addr().expect("addr").to_string());
                a.node.add_contact(c).await.expect("contact");
            }
        }
    }
    let room = members[0]
        .node
        .room_create("bench", "")
        .await
        .expect("room")
        .room_id;
    for i in 1..n {
        let peer = members[i].node.peer_id();
        members[0]
            .node
            .room_invite(room, peer)
            .await
            .expect("invite");
        let m = &mut members[i];
        wait(
            &mut m.events,
            |e| matches!(e, Event::RoomInvited { room: r } if r.room_id == room),
        )
        .await;
        m.node.room_accept(room).await.expect("accept");
    }
    // Everyone holds the full room and a session with everyone.
    for m in &members {
        loop {
            let r = m.node.room(room).await.expect("room");
            let all = members.iter().all(|o| {
                o.node.peer_id() == m.node.peer_id() || m.node.is_connected(&o.node.peer_id())
            });
            if r.members.len() == n && all {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Keys handed out: one message from each member, seen by all.
    for (i, m) in members.iter().enumerate() {
        m.node
            .room_send(room, &format!("warm-up {i}"))
            .await
            .expect("send");
    }
    for m in &members {
        while m
            .node
            .room_history(room, 10_000)
            .await
            .expect("history")
            .len()
            < n
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for m in &mut members {
        while m.events.try_recv().is_ok() {}
    }
    (members, room)
}

async fn figures(n: usize) -> (Vec<Duration>, Vec<Duration>) {
    let (mut members, room) = room_of(n).await;
    let text = "x".repeat(200);
    let mut fanout = Vec::with_capacity(SAMPLES);
    for k in 0..SAMPLES {
        let author = k % n;
        let t = Instant::now();
        let post = members[author]
            .node
            .room_send(room, &text)
            .await
            .expect("send");
        for (i, m) in members.iter_mut().enumerate() {
            if i != author {
                wait(&mut m.events, |e| {
                    matches!(e, Event::RoomMessage { post: p } if p.author == post.author && p.seq == post.seq)
                })
                .await;
            }
        }
        fanout.push(t.elapsed());
    }
    let mut one = Vec::with_capacity(SAMPLES);
    let to = members[1].node.peer_id();
    for _ in 0..SAMPLES {
        let t = Instant::now();
        members[0].node.send(to, text.clone()).await.expect("send");
        wait(&mut members[1].events, |e| {
            matches!(e, Event::MessageReceived { .. })
        })
        .await;
        one.push(t.elapsed());
    }
    for m in &members {
        m.node.shutdown().await;
    }
    (fanout, one)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "room of N: send → stored by every other member, {SAMPLES} messages each (authors in turn)"
    );
    println!("baseline: one-to-one send → stored by the receiver, same nodes, same run");
    println!("| N | room p50 | room p99 | one-to-one p50 | ratio p50 |");
    println!("|---|---|---|---|---|");
    for n in [2, 8, 32] {
        let (mut fanout, mut one) = figures(n).await;
        fanout.sort();
        one.sort();
        println!(
            "| {n} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1}× |",
            ms(pct(&fanout, 0.5)),
            ms(pct(&fanout, 0.99)),
            ms(pct(&one, 0.5)),
            pct(&fanout, 0.5).as_secs_f64() / pct(&one, 0.5).as_secs_f64()
        );
    }
}

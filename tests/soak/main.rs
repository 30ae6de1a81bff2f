//! The fault soak: three `natter-cli` nodes and a real rendezvous on hosts of a network lab
//! (namespaces, nftables), messages sent in random directions while nodes are killed with
//! SIGKILL and restarted, two of them are cut apart, 5 % of every packet on the wire is
//! dropped, the rendezvous is killed and restarted, and one node's disk (a small tmpfs) is
//! full for a while. At the end every accepted message is in its receiver's history exactly
//! once and in its sender's order, every database passes `PRAGMA integrity_check`, every
//! pair is connected again, and the node whose disk was full said so and recovered.
//!
//! CI-sized by default (1,000 messages, 150 ms apart: about three minutes);
//! `NATTER_SOAK_MESSAGES=10000 NATTER_SOAK_PACE_MS=60` for the long run, `NATTER_SOAK_SEED`
//! to replay one (the seed is printed).
#![allow(clippy::unwrap_used)] // the soak fails loudly on purpose

mod faults;
mod peers;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use natter_lab::Lab;
use serde_json::json;

use faults::{Disk, Wire};
use peers::{Peer, Rendezvous};

/// A small deterministic generator (xorshift64*), so a seed replays a run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// The faults, each at a fraction of the run (in tenths): one at a time, so each one's
/// effect is its own.
#[derive(Clone, Copy, Debug)]
enum Step {
    Kill(usize),
    Restart(usize),
    Cut(usize, usize),
    Heal,
    KillRendezvous,
    RestartRendezvous,
    FillDisk,
    FreeDisk,
}

const PLAN: [(usize, Step); 12] = [
    (5, Step::Kill(1)),
    (15, Step::Restart(1)),
    (20, Step::Cut(0, 2)),
    (35, Step::Heal),
    (40, Step::KillRendezvous),
    (50, Step::RestartRendezvous),
    (55, Step::FillDisk),
    (70, Step::FreeDisk),
    (75, Step::Kill(0)),
    (80, Step::Restart(0)),
    (85, Step::Kill(2)),
    (90, Step::Restart(2)),
];

/// Every pair of the three nodes.
const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];

/// The node whose profile is on the small tmpfs.
const DISKLESS: usize = 2;

#[test]
fn nothing_is_lost_or_doubled_under_kills_cuts_loss_and_a_full_disk() {
    let total: usize = std::env::var("NATTER_SOAK_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seed: u64 = std::env::var("NATTER_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x005e_ed0f_5aa4);
    println!("soak: {total} messages, seed {seed} (NATTER_SOAK_SEED={seed} replays it)");
    let mut rng = Rng(seed | 1);
    let started = Instant::now();

    let mut lab = Lab::new().unwrap();
    let rv_host = lab.public("rv").unwrap();
    let hosts: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| lab.public(n).unwrap())
        .collect();
    let wire = Wire::new(&lab).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let disk = Disk::mount(&dir.path().join("c"), 24).unwrap();
    let mut rv = Rendezvous::start(&rv_host, &dir.path().join("rv"));
    let profiles = [
        dir.path().join("a"),
        dir.path().join("b"),
        disk.path().to_path_buf(),
    ];
    let mut peers: Vec<Peer> = (0..3)
        .map(|i| Peer::start(&hosts[i], &profiles[i], &rv))
        .collect();
    let ids: Vec<String> = peers.iter().map(|p| p.id.clone()).collect();
    for (i, peer) in peers.iter_mut().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                peer.ask(json!({ "cmd": "contact_add", "id": id }));
            }
        }
    }
    for (i, j) in PAIRS {
        peers[i].connected(&ids[j], 60);
    }
    wire.lose(5).unwrap();

    // What each sender had accepted (queued), per receiver, in order.
    let mut accepted: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    let mut running = [true; 3];
    let mut disk_full_said = false;
    let mut plan = PLAN.iter().peekable();
    // Paced so each fault lasts longer than the idle timeout (15 s) in the CI-sized run:
    // sessions really break and come back, not just stall.
    let pace = Duration::from_millis(
        std::env::var("NATTER_SOAK_PACE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(150),
    );
    for n in 0..total {
        while let Some((at, step)) = plan.next_if(|(at, _)| n * 100 >= at * total) {
            println!("soak: message {n} ({at} %): {step:?}");
            match *step {
                Step::Kill(i) => {
                    peers[i].kill();
                    running[i] = false;
                }
                Step::Restart(i) => {
                    peers[i] = Peer::start(&hosts[i], &profiles[i], &rv);
                    running[i] = true;
                }
                Step::Cut(i, j) => wire.cut(hosts[i].ip, hosts[j].ip).unwrap(),
                Step::Heal => wire.heal().unwrap(),
                Step::KillRendezvous => rv.child.kill(),
                Step::RestartRendezvous => rv = Rendezvous::start(&rv_host, &dir.path().join("rv")),
                Step::FillDisk => disk.fill().unwrap(),
                Step::FreeDisk => {
                    // Messages came to it while full: it told its user (an `error` event).
                    assert!(
                        peers[DISKLESS].said_disk_full(),
                        "the node with the full disk never said so"
                    );
                    disk.free().unwrap();
                }
            }
        }
        let live: Vec<usize> = (0..3).filter(|i| running[*i]).collect();
        let from = live[rng.below(live.len())];
        let to = (from + 1 + rng.below(2)) % 3;
        let text = format!("soak {n} {from}>{to}");
        match peers[from].try_ask(json!({ "cmd": "send", "id": ids[to], "text": text })) {
            Ok(_) => accepted.entry((from, to)).or_default().push(n),
            // Refused only while its disk is full, and then it says so.
            Err(e) => {
                assert!(
                    disk.is_full() && from == DISKLESS,
                    "message {n} refused: {e}"
                );
                assert!(
                    e.contains("disk holding your Natter profile is full"),
                    "{e}"
                );
                disk_full_said = true;
            }
        }
        std::thread::sleep(pace);
    }
    for (i, run) in running.iter().enumerate() {
        assert!(run, "node {i} is still down at the end of the plan");
    }
    let sent_for = started.elapsed();

    // Healed: no loss, no cut, room on the disk, everyone up. Every accepted message must
    // arrive, once, in order — and every pair be connected again.
    wire.lose(0).unwrap();
    wire.heal().unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let missing: usize = accepted
            .iter()
            .map(|(&(from, to), sent)| {
                let got = peers[to].received(&ids[from]);
                sent.len().saturating_sub(got.len())
            })
            .sum();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} accepted messages never arrived (seed {seed})"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    for (&(from, to), sent) in &accepted {
        let got: Vec<usize> = peers[to]
            .received(&ids[from])
            .iter()
            .map(|t| index_of(t, from, to))
            .collect();
        assert_eq!(
            &got, sent,
            "{from}>{to}: every message once, in order (seed {seed})"
        );
    }
    for (i, j) in PAIRS {
        peers[i].connected_now(&ids[j], 60);
    }
    // Its sends were refused in words that say what to do, and it recovered: what came to
    // it while full arrived above.
    assert!(
        disk_full_said,
        "no send was refused while the disk was full"
    );

    let delivered: usize = accepted.values().map(Vec::len).sum();
    for p in &mut peers {
        p.stop();
    }
    rv.child.kill();
    for db in profiles
        .iter()
        .map(|p| p.join("natter.db"))
        .chain(peers::rendezvous_dbs(&dir.path().join("rv")))
    {
        faults::integrity_ok(&db);
    }
    println!(
        "soak: {delivered} of {total} messages accepted and delivered exactly once, in order; \
         sending took {:.0} s, everything {:.0} s",
        sent_for.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The message number in a soak text ("soak N F>T"), checking its direction.
fn index_of(text: &str, from: usize, to: usize) -> usize {
    let mut parts = text.split(' ');
    assert_eq!(parts.next(), Some("soak"), "{text}");
    let n = parts.next().and_then(|n| n.parse().ok()).unwrap();
    assert_eq!(
        parts.next(),
        Some(format!("{from}>{to}").as_str()),
        "{text}"
    );
    n
}

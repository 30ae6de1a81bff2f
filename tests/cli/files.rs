//! Files between two real processes: 100 MiB verified, and a receiver SIGKILLed halfway that
//! resumes where it stopped.

use std::io::Write;
use std::path::Path;

use crate::support::{json, ok, pair};

const SIZE: u64 = 100 << 20;

fn big_file(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..(SIZE >> 20) {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).unwrap();
    }
}

fn same(a: &Path, b: &Path) -> bool {
    natter::internals::files::hash_file(a).unwrap()
        == natter::internals::files::hash_file(b).unwrap()
}

#[test]
fn a_100_mib_file_arrives_with_its_hash_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = pair(dir.path());
    let src = dir.path().join("video.bin");
    big_file(&src);
    ok(&b.profile, &["contact", "auto-accept", &a.id, "200000000"]);
    let t = std::time::Instant::now();
    let out = json(
        &a.profile,
        &["send-file", &b.id, src.to_str().unwrap(), "--wait", "done"],
    );
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "100 MiB offer → verified on arrival in {secs:.2}s ({:.0} MiB/s, debug build)",
        100.0 / secs
    );
    assert_eq!(out["state"], "done");
    let got = b.wait_for(10, |e| e["event"] == "file_received");
    let saved = Path::new(got["transfer"]["path"].as_str().unwrap()).to_path_buf();
    assert_eq!(saved, b.profile.join("downloads").join("video.bin"));
    assert!(same(&src, &saved));
    assert!(!b.profile.join("downloads").join("video.bin.part").exists());
}

#[test]
fn a_receiver_killed_halfway_resumes_from_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pair(dir.path());
    let src = dir.path().join("disk.img");
    big_file(&src);
    let offer = json(&a.profile, &["send-file", &b.id, src.to_str().unwrap()]);
    let file_id = offer["file_id"].as_str().unwrap().to_string();
    b.wait_for(10, |e| e["event"] == "file_offered");
    ok(&b.profile, &["accept-file", &a.id, &file_id]);
    b.wait_for(60, |e| {
        e["event"] == "file_progress" && e["bytes"].as_u64().unwrap_or(0) >= SIZE * 55 / 100
    });
    let b_profile = b.profile.clone();
    b.kill9();
    let before = json(&a.profile, &["transfers"]);
    assert_eq!(before[0]["state"], "accepted", "not finished when killed");
    let b = crate::support::Node::start(&b_profile);
    let id = file_id.clone();
    let sent = a.wait_for(120, |e| {
        e["event"] == "file_sent" && e["transfer"]["file_id"] == id.as_str()
    });
    let saved = b_profile.join("downloads").join("disk.img");
    assert!(same(&src, &saved), "hash of the resumed file");
    let sent_bytes = sent["transfer"]["sent_bytes"].as_u64().unwrap();
    let resumed_from = sent["transfer"]["verified"].as_u64().unwrap();
    let resent = SIZE - resumed_from;
    eprintln!(
        "resumed from {resumed_from} of {SIZE}: {resent} bytes sent again; {sent_bytes} written in all"
    );
    assert!(resumed_from > 0, "resumed, not restarted from zero");
    assert!(
        resent < SIZE * 6 / 10,
        "{resent} of {SIZE} bytes sent again"
    );
    assert!(
        sent_bytes < SIZE * 16 / 10,
        "{sent_bytes} bytes written in all"
    );
    let tb = json(&b.profile, &["transfers"]);
    assert_eq!(tb[0]["state"], "done");
}

#[test]
fn a_sender_killed_halfway_resumes_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = pair(dir.path());
    let src = dir.path().join("backup.tar");
    big_file(&src);
    ok(&b.profile, &["contact", "auto-accept", &a.id, "200000000"]);
    let offer = json(&a.profile, &["send-file", &b.id, src.to_str().unwrap()]);
    let file_id = offer["file_id"].as_str().unwrap().to_string();
    b.wait_for(60, |e| {
        e["event"] == "file_progress" && e["bytes"].as_u64().unwrap_or(0) >= SIZE * 55 / 100
    });
    let a_profile = a.profile.clone();
    a.kill9();
    let a = crate::support::Node::start(&a_profile);
    let id = file_id.clone();
    let got = b.wait_for(120, |e| {
        e["event"] == "file_received" && e["transfer"]["file_id"] == id.as_str()
    });
    let saved = Path::new(got["transfer"]["path"].as_str().unwrap()).to_path_buf();
    assert!(same(&src, &saved), "hash of the resumed file");
    let ta = json(&a.profile, &["transfers"]);
    let resumed_from = ta[0]["verified"].as_u64().unwrap();
    eprintln!("sender restarted; resumed from {resumed_from} of {SIZE}");
    assert!(
        resumed_from > SIZE / 3,
        "resumed, not restarted: from {resumed_from}"
    );
}

/// `send-file --wait done` on a terminal draws a progress bar on stderr while the running
/// node sends (here the offer waits for the receiver, so the bar is drawn whatever the
/// machine's speed), then the answer; without a terminal there is none.
#[test]
fn send_file_on_a_terminal_shows_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = pair(dir.path());
    let src = dir.path().join("notes.txt");
    std::fs::write(&src, vec![b'x'; 3 << 20]).unwrap();
    // `script` gives the command a terminal (a pty) and copies what it drew to stdout.
    let line = format!(
        "{} --profile {} send-file {} {} --wait done",
        crate::support::BIN,
        a.profile.display(),
        b.id,
        src.display()
    );
    let child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) gives the command a terminal");
    let offered = b.wait_for(20, |e| e["event"] == "file_offered");
    std::thread::sleep(std::time::Duration::from_millis(800)); // a few redraws at 0%
    let file_id = offered["transfer"]["file_id"].as_str().unwrap().to_string();
    ok(&b.profile, &["accept-file", &a.id, &file_id]);
    let out = child.wait_with_output().unwrap();
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{drawn}");
    assert!(
        drawn.contains("[..............................]   0%  0 B of 3.0 MiB"),
        "{drawn}"
    );
    assert!(drawn.contains("done"), "the answer follows: {drawn}");
    // No terminal: only the answer.
    let plain = crate::support::cli(&a.profile, &["send-file", &b.id, src.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&plain.stderr).contains('%'));
    a.stop();
    b.stop();
}

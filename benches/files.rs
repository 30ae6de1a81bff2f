//! File transfer figure with its baseline in the same run, on loopback: a 1 GiB file from
//! accept to verified and in place, against raw quinn bulk on one stream (same TLS setup).
//! Run: `cargo bench --bench files`. Uses about 3 GiB of temporary disk.

use std::io::Write;
use std::time::{Duration, Instant};

use natter::Identity;
use natter::internals::transport;
use natter::model::Contact;
use natter::node::{Event, Node, NodeConfig, NodeHandle};
use tokio::sync::broadcast;

const SIZE: u64 = 1 << 30;

async fn start(dir: &std::path::Path) -> (NodeHandle, broadcast::Receiver<Event>) {
    let mut c = NodeConfig::new(dir);
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c.discovery = None;
    c.downloads = Some(dir.join("downloads"));
    Node::start(c).await.expect("node")
}

async fn add(a: &NodeHandle, b: &NodeHandle) {
    let mut c = Contact::new(b.peer_id());
    c.addr = Some(b.local_addr().expect("addr").to_string());
    a.add_contact(c).await.expect("contact");
}

fn make_file(path: &std::path::Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x: u64 = 88172645463325252;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..(SIZE >> 20) {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).expect("write");
    }
    f.flush().expect("flush");
}

async fn natter_transfer(src: &std::path::Path) -> (Duration, Duration) {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _ea) = start(da.path()).await;
    let (b, mut eb) = start(db.path()).await;
    add(&a, &b).await;
    add(&b, &a).await;
    while !a.is_connected(&b.peer_id()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = Instant::now();
    let offer = a
        .send_file(b.peer_id(), src.to_path_buf(), None)
        .await
        .expect("offer");
    let hashing = t.elapsed();
    loop {
        if let Ok(Event::FileOffered { transfer }) = eb.recv().await
            && transfer.file_id == offer.file_id
        {
            break;
        }
    }
    let t = Instant::now();
    b.accept_file(a.peer_id(), &offer.file_id)
        .await
        .expect("accept");
    loop {
        if let Ok(Event::FileReceived { transfer }) = eb.recv().await
            && transfer.file_id == offer.file_id
        {
            break;
        }
    }
    let took = t.elapsed();
    a.shutdown().await;
    b.shutdown().await;
    (took, hashing)
}

async fn quinn_bulk() -> Duration {
    let (si, ci) = (Identity::generate(), Identity::generate());
    let server = transport::endpoint(&si, "127.0.0.1:0".parse().expect("addr")).expect("server");
    let client = transport::endpoint(&ci, "127.0.0.1:0".parse().expect("addr")).expect("client");
    let addr = server.local_addr().expect("addr");
    let done = tokio::spawn(async move {
        let conn = server
            .accept()
            .await
            .expect("incoming")
            .await
            .expect("conn");
        let mut r = conn.accept_uni().await.expect("uni");
        let mut n = 0u64;
        while let Ok(Some(c)) = r.read_chunk(1 << 20, true).await {
            n += c.bytes.len() as u64;
        }
        assert_eq!(n, SIZE);
        conn.close(0u32.into(), b"");
    });
    let conn = transport::dial(&client, &ci, si.peer_id(), addr)
        .await
        .expect("dial");
    let buf = vec![7u8; 256 * 1024];
    let t = Instant::now();
    let mut s = conn.open_uni().await.expect("uni");
    for _ in 0..(SIZE / buf.len() as u64) {
        s.write_all(&buf).await.expect("write");
    }
    s.finish().expect("finish");
    done.await.expect("server");
    t.elapsed()
}

fn mib_s(d: Duration) -> f64 {
    SIZE as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

/// magic-wormhole 0.12 (Debian `magic-wormhole`) sending the same file, with a local mailbox
/// server (PyPI `magic-wormhole-mailbox-server`, run by its `twist`: `WORMHOLE_TWIST`, else
/// /opt/wh-venv/bin/twist) and the Debian transit relay, all inside a fresh network namespace
/// that has only loopback (`unshare --net`, root): nothing can leave the machine. Timed from
/// starting `wormhole receive` to the file written (Python start-up and the PAKE exchange
/// included, about 1 s); the sender connects directly over 127.0.0.1.
fn wormhole(src: &std::path::Path, work: &std::path::Path) -> Result<Duration, String> {
    let twist = std::env::var("WORMHOLE_TWIST").unwrap_or_else(|_| "/opt/wh-venv/bin/twist".into());
    let have = |cmd: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for (cmd, why) in [
        ("wormhole", "apt-get install magic-wormhole"),
        ("unshare", "apt-get install util-linux"),
        (
            twist.as_str(),
            "python3 -m venv /opt/wh-venv && /opt/wh-venv/bin/pip install magic-wormhole-mailbox-server",
        ),
    ] {
        if !have(cmd) {
            return Err(format!("{cmd} is missing ({why})"));
        }
    }
    let out = work.join("wormhole-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let script = format!(
        r#"set -e
ip link set lo up
cd "{work}"
"{twist}" wormhole-mailbox --port tcp:4000:interface=127.0.0.1 > mailbox.log 2>&1 &
python3 -m twisted transitrelay --port tcp:4001:interface=127.0.0.1 > relay.log 2>&1 &
sleep 3
W="wormhole --relay-url ws://127.0.0.1:4000/v1 --transit-helper tcp:127.0.0.1:4001"
$W send --hide-progress --code 7-natter-bench "{src}" > send.log 2>&1 &
S=$!
date +%s.%N
(cd "{out}" && $W receive --hide-progress --accept-file 7-natter-bench > ../receive.log 2>&1)
date +%s.%N
wait $S
kill %1 %2 2>/dev/null || true
"#,
        work = work.display(),
        src = src.display(),
        out = out.display(),
    );
    let run = std::process::Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .output()
        .map_err(|e| e.to_string())?;
    let times: Vec<f64> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let name = src.file_name().ok_or("no file name")?;
    let got = std::fs::metadata(out.join(name))
        .map(|m| m.len())
        .unwrap_or(0);
    match times.as_slice() {
        [t0, t1] if run.status.success() && got == SIZE => Ok(Duration::from_secs_f64(t1 - t0)),
        _ => Err(format!(
            "wormhole did not deliver the file ({got} bytes; {}; see {}/receive.log)",
            String::from_utf8_lossy(&run.stderr).trim(),
            work.display()
        )),
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("one-gib.bin");
    make_file(&src);
    let (natter, hashing) = natter_transfer(&src).await;
    let raw = quinn_bulk().await;
    println!("| figure | Natter | baseline (raw quinn, one stream) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| 1 GiB accept → verified and in place | {:.0} MiB/s ({:.2} s) | {:.0} MiB/s ({:.2} s) | {:.2}× |",
        mib_s(natter),
        natter.as_secs_f64(),
        mib_s(raw),
        raw.as_secs_f64(),
        mib_s(natter) / mib_s(raw)
    );
    println!(
        "(sender hashing before the offer: {:.0} MiB/s)",
        mib_s(hashing)
    );
    let work = dir.path().join("wormhole");
    std::fs::create_dir_all(&work).expect("dir");
    match wormhole(&src, &work) {
        Ok(w) => println!(
            "| 1 GiB, Natter vs magic-wormhole 0.12 (receive start → file written) | {:.0} MiB/s | {:.0} MiB/s ({:.2} s) | {:.2}× faster |",
            mib_s(natter),
            mib_s(w),
            w.as_secs_f64(),
            mib_s(natter) / mib_s(w)
        ),
        Err(why) => println!(
            "| 1 GiB, Natter vs magic-wormhole | {:.0} MiB/s | not run: {why} | — |",
            mib_s(natter)
        ),
    }
}

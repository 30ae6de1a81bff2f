//! File transfer figure with its baseline in the same run, on loopback: a 1 GiB file from
//! accept to verified and in place, against raw quinn bulk on one stream (same TLS setup).
//! Run: `cargo bench --bench files`. Uses about 3 GiB of temporary disk.

use std::io::Write;
use std::time::{Duration, Instant};

use natter::node::{Event, Node, NodeConfig, NodeHandle};
use natter::store::Contact;
use natter::{Identity, transport};
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
}

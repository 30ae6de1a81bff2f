//! File transfer between in-process nodes: consent, safe names, decline, cancel, lying
//! senders, offers that wait for an offline contact.

use std::path::{Path, PathBuf};

use natter::model::{Transfer, TransferState};
use natter::node::Event;

use crate::support::{TestNode, friends, node};

fn file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let p = dir.join(name);
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(&p, data).unwrap();
    p
}

async fn offered(n: &mut TestNode) -> Transfer {
    match n
        .wait_for(
            10,
            |e| matches!(e, Event::FileOffered { transfer } if !transfer.outgoing),
        )
        .await
    {
        Event::FileOffered { transfer } => transfer,
        _ => unreachable!(),
    }
}

async fn ended(n: &mut TestNode, id: &str) -> Transfer {
    match n
        .wait_for(
            20,
            |e| matches!(e, Event::FileEnded { transfer } if transfer.file_id == id),
        )
        .await
    {
        Event::FileEnded { transfer } => transfer,
        _ => unreachable!(),
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_file_arrives_verified_and_in_place() {
    let (mut a, mut b) = friends().await;
    let src = tempfile::tempdir().unwrap();
    let path = file(src.path(), "report.pdf", 3_000_000);
    let t = a
        .handle
        .send_file(b.id(), path.clone(), None)
        .await
        .unwrap();
    let offer = offered(&mut b).await;
    assert_eq!(
        (offer.name.as_str(), offer.size, offer.mime.as_str()),
        ("report.pdf", 3_000_000, "application/pdf")
    );
    assert_eq!(offer.sha256, t.sha256);
    assert!(
        listing(&b.downloads()).is_empty(),
        "nothing written before consent"
    );
    b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
    let got = match b
        .wait_for(20, |e| matches!(e, Event::FileReceived { .. }))
        .await
    {
        Event::FileReceived { transfer } => transfer,
        _ => unreachable!(),
    };
    let id = t.file_id.clone();
    a.wait_for(
        20,
        |e| matches!(e, Event::FileSent { transfer } if transfer.file_id == id),
    )
    .await;
    let saved = PathBuf::from(got.path.unwrap());
    assert_eq!(saved, b.downloads().join("report.pdf"));
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&path).unwrap()
    );
    assert_eq!(
        listing(&b.downloads()),
        vec!["report.pdf"],
        "no part file left"
    );
    // A second file of the same name does not overwrite the first.
    let t2 = a.handle.send_file(b.id(), path, None).await.unwrap();
    let offer = offered(&mut b).await;
    b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
    let id = t2.file_id.clone();
    a.wait_for(
        20,
        |e| matches!(e, Event::FileSent { transfer } if transfer.file_id == id),
    )
    .await;
    assert_eq!(
        listing(&b.downloads()),
        vec!["report (1).pdf", "report.pdf"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_saved_as_safe_names_inside_the_download_folder() {
    let (a, mut b) = friends().await;
    let src = tempfile::tempdir().unwrap();
    let path = file(src.path(), "x", 10);
    let long = "n".repeat(10_000);
    let cases = [
        ("../../etc/passwd", "passwd".to_string()),
        ("a/b", "b".into()),
        ("CON", "_CON".into()),
        ("\u{202E}gnp.exe", "gnp.exe".into()),
        (long.as_str(), "n".repeat(200)),
        ("", "file".into()),
    ];
    for (hostile, expected) in cases {
        a.handle
            .send_file(b.id(), path.clone(), Some(hostile.to_string()))
            .await
            .unwrap();
        let offer = offered(&mut b).await;
        assert_eq!(offer.name, expected);
        let accepted = b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
        let id = offer.file_id.clone();
        let got = match b
            .wait_for(
                20,
                |e| matches!(e, Event::FileReceived { transfer } if transfer.file_id == id),
            )
            .await
        {
            Event::FileReceived { transfer } => transfer,
            _ => unreachable!(),
        };
        let saved = PathBuf::from(got.path.unwrap());
        assert_eq!(
            saved.parent(),
            Some(b.downloads().as_path()),
            "{hostile:?} -> {saved:?}"
        );
        assert!(accepted.path.is_some());
    }
    let saved = listing(&b.downloads());
    assert_eq!(saved.len(), 6, "{saved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_offer_writes_nothing() {
    let (mut a, mut b) = friends().await;
    let src = tempfile::tempdir().unwrap();
    let t = a
        .handle
        .send_file(b.id(), file(src.path(), "big.bin", 100_000), None)
        .await
        .unwrap();
    let offer = offered(&mut b).await;
    b.handle.decline_file(a.id(), &offer.file_id).await.unwrap();
    let end = ended(&mut a, &t.file_id).await;
    assert_eq!(end.state, TransferState::Declined);
    assert!(listing(&b.downloads()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_mid_transfer_removes_the_part_file_on_both_sides() {
    let (a, mut b) = friends().await;
    let src = tempfile::tempdir().unwrap();
    let t = a
        .handle
        .send_file(b.id(), file(src.path(), "movie.mp4", 64 << 20), None)
        .await
        .unwrap();
    let offer = offered(&mut b).await;
    b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
    let id = t.file_id.clone();
    b.wait_for(
        20,
        |e| matches!(e, Event::FileProgress { file_id, .. } if *file_id == id),
    )
    .await;
    a.handle.cancel_file(&t.file_id).await.unwrap();
    assert_eq!(
        ended(&mut b, &t.file_id).await.state,
        TransferState::Cancelled
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        listing(&b.downloads()).is_empty(),
        "{:?}",
        listing(&b.downloads())
    );
    let ta = a.handle.transfers().await.unwrap();
    assert_eq!(ta[0].state, TransferState::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_sender_is_caught_and_nothing_is_kept() {
    let (mut a, mut b) = friends().await;
    let src = tempfile::tempdir().unwrap();
    // Same size, other content than offered: the hash gives it away.
    let path = file(src.path(), "a.bin", 100_000);
    let t = a
        .handle
        .send_file(b.id(), path.clone(), None)
        .await
        .unwrap();
    std::fs::write(&path, vec![0u8; 100_000]).unwrap();
    let offer = offered(&mut b).await;
    b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
    let end_b = ended(&mut b, &t.file_id).await;
    assert!(
        end_b
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("SHA-256 mismatch"),
        "{end_b:?}"
    );
    let end_a = ended(&mut a, &t.file_id).await;
    assert_eq!(end_a.state, TransferState::Failed);
    assert!(
        end_a.reason.as_deref().unwrap_or("").contains("SHA-256"),
        "{end_a:?}"
    );
    // Shorter than offered.
    let path = file(src.path(), "b.bin", 100_000);
    let t = a
        .handle
        .send_file(b.id(), path.clone(), None)
        .await
        .unwrap();
    std::fs::write(&path, vec![1u8; 10]).unwrap();
    let offer = offered(&mut b).await;
    b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
    let end_b = ended(&mut b, &t.file_id).await;
    assert!(
        end_b
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("ended after 10 of the 100000 bytes"),
        "{end_b:?}"
    );
    ended(&mut a, &t.file_id).await;
    assert!(
        listing(&b.downloads()).is_empty(),
        "{:?}",
        listing(&b.downloads())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_to_an_offline_contact_waits_and_auto_accept_takes_it() {
    let a = node().await;
    let b_dir = tempfile::tempdir().unwrap();
    let b_id = natter::Identity::load_or_create(b_dir.path())
        .unwrap()
        .peer_id();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = natter::model::Contact::new(b_id);
    c.addr = Some(format!("127.0.0.1:{port}"));
    a.handle.add_contact(c).await.unwrap();
    let src = tempfile::tempdir().unwrap();
    let t = a
        .handle
        .send_file(b_id, file(src.path(), "later.txt", 5000), None)
        .await
        .unwrap();
    assert_eq!(t.state, TransferState::Offered);
    let mut b = crate::support::node_in(b_dir, |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap()
    })
    .await;
    let mut c = natter::model::Contact::new(a.id());
    c.addr = Some(a.addr.to_string());
    b.handle.add_contact(c).await.unwrap();
    let offer = offered(&mut b).await;
    assert_eq!(offer.name, "later.txt");
    b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
    b.wait_for(20, |e| matches!(e, Event::FileReceived { .. }))
        .await;
    // From now on files from a up to 1 MiB need no click.
    b.handle
        .set_auto_accept(a.id(), Some(1 << 20))
        .await
        .unwrap();
    let t2 = a
        .handle
        .send_file(b_id, file(src.path(), "auto.txt", 5000), None)
        .await
        .unwrap();
    let id = t2.file_id.clone();
    b.wait_for(
        20,
        |e| matches!(e, Event::FileReceived { transfer } if transfer.file_id == id),
    )
    .await;
    assert_eq!(listing(&b.downloads()), vec!["auto.txt", "later.txt"]);
}

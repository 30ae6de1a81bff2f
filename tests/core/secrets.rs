//! Local secrets on disk: exports and part files in the downloads folder, where peers' files
//! land, are always new files of our own; nothing planted there is overwritten or followed.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use natter::model::{Transfer, TransferState};
use natter::node::{Event, ExportFormat};

use crate::support::{TestNode, friends, restart};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `YYYY-MM-DD-HHMMSS` of a moment `secs` from now, as export names carry it.
fn stamp(secs: i64) -> String {
    natter::dates::stamp(natter::dates::now_ms() + secs * 1000)
}

/// Plants, for every name an export made in the next two minutes could take, a symbolic
/// link to `victim` (which does not exist: following a link would create it).
fn plant_links(dir: &Path, stem: &str, ext: &str, victim: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for s in -1..120 {
        let _ = symlink(victim, dir.join(format!("{stem}-{}.{ext}", stamp(s))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_new_files_never_a_planted_file_or_link() {
    let (a, b) = friends().await;
    a.handle.send(b.id(), "a secret".into()).await.unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    let downloads = a.downloads();
    plant_links(&downloads, "natter-history", "jsonl", &victim);
    plant_links(&downloads, "natter-identity-backup", "pem", &victim);

    let (n, history) = a
        .handle
        .export_history(None, ExportFormat::Json, None)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let backup = a.handle.export_identity(None).await.unwrap();
    for (path, stem) in [
        (&history, "natter-history"),
        (&backup, "natter-identity-backup"),
    ] {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(stem) && name.contains(" (1)"),
            "a name of its own beside the planted one: {name}"
        );
        assert_eq!(path.parent(), Some(downloads.as_path()));
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.is_file(), "a regular file, not a link");
        assert_eq!(mode(path), 0o600);
    }
    assert!(
        std::fs::read_to_string(&history)
            .unwrap()
            .contains("a secret")
    );
    assert!(!victim.exists(), "no planted link was followed");

    // A path the user names: written exactly there, but an existing file or link is refused
    // and left as it is.
    let chosen = outside.path().join("mine.txt");
    let (_, at) = a
        .handle
        .export_history(Some(chosen.clone()), ExportFormat::Text, None)
        .await
        .unwrap();
    assert_eq!(at, chosen);
    let again = a
        .handle
        .export_history(Some(chosen.clone()), ExportFormat::Json, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("already exists"), "{again}");
    assert!(
        std::fs::read_to_string(&chosen)
            .unwrap()
            .contains("me: a secret")
    );
    let link = outside.path().join("link.pem");
    symlink(&victim, &link).unwrap();
    let refused = a.handle.export_identity(Some(link)).await.unwrap_err();
    assert!(refused.to_string().contains("already exists"), "{refused}");
    assert!(!victim.exists(), "no link was followed");
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

fn source(dir: &Path) -> PathBuf {
    let p = dir.join("a.txt");
    std::fs::write(&p, b"the real content").unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_planted_at_a_part_files_name_is_never_followed() {
    let (a, mut b) = friends().await;
    let src = tempfile::tempdir().unwrap();
    let victim = src.path().join("victim");
    // Before consent: a link that points nowhere yet where the part file would go.
    std::fs::create_dir_all(b.downloads()).unwrap();
    symlink(&victim, b.downloads().join("a.txt.part")).unwrap();
    a.handle
        .send_file(b.id(), source(src.path()), None)
        .await
        .unwrap();
    let offer = offered(&mut b).await;
    b.handle.accept_file(a.id(), &offer.file_id).await.unwrap();
    let id = offer.file_id.clone();
    let got = match b
        .wait_for(20, |e| match e {
            Event::FileReceived { transfer } | Event::FileEnded { transfer } => {
                transfer.file_id == id
            }
            _ => false,
        })
        .await
    {
        Event::FileReceived { transfer } => transfer,
        other => panic!("the file did not arrive: {other:?}"),
    };
    let saved = PathBuf::from(got.path.unwrap());
    assert_eq!(saved, b.downloads().join("a (1).txt"), "a name of its own");
    assert_eq!(std::fs::read(&saved).unwrap(), b"the real content");
    assert_eq!(mode(&saved), 0o600);
    assert!(!victim.exists(), "the planted link was not followed");
    assert!(
        std::fs::symlink_metadata(b.downloads().join("a.txt.part"))
            .unwrap()
            .is_symlink(),
        "and is left as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_file_swapped_for_a_link_is_refused_on_resume() {
    let (a, mut b) = friends().await;
    let src = tempfile::tempdir().unwrap();
    let victim = src.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    a.handle
        .send_file(b.id(), source(src.path()), None)
        .await
        .unwrap();
    let offer = offered(&mut b).await;
    // The sender goes away; b accepts, so the part file waits for the bytes.
    let aid = a.id();
    let TestNode {
        handle,
        events,
        _dir,
        ..
    } = a;
    handle.shutdown().await;
    drop((handle, events));
    b.wait_for(
        10,
        |e| matches!(e, Event::Disconnected { peer, .. } if *peer == aid),
    )
    .await;
    let accepted = b.handle.accept_file(aid, &offer.file_id).await.unwrap();
    let part = PathBuf::from(format!("{}.part", accepted.path.unwrap()));
    // Someone swaps the part file for a link to a file of the user's.
    std::fs::remove_file(&part).unwrap();
    symlink(&victim, &part).unwrap();
    // The sender is back: the receiver asks from its resume point and opens its part file.
    let a = restart(_dir).await;
    b.add(&a).await;
    let id = offer.file_id.clone();
    let ended = match b
        .wait_for(20, |e| match e {
            Event::FileReceived { transfer } | Event::FileEnded { transfer } => {
                transfer.file_id == id
            }
            _ => false,
        })
        .await
    {
        Event::FileEnded { transfer } => transfer,
        other => panic!("written through the link: {other:?}"),
    };
    assert_eq!(ended.state, TransferState::Failed);
    let reason = ended.reason.unwrap_or_default();
    assert!(reason.contains("not the part file"), "{reason}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "untouched");
    drop(a);
}

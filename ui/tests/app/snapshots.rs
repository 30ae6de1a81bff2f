//! Snapshots of the main screens in light and dark, from fixed identities (tests/fixtures:
//! test-only keys), stored as SHA-256 hashes of the tiny-skia rendering like iced's own tests
//! (the renderer is pinned in .cargo/config.toml). A missing hash file is written on the
//! first run; commit it. To see a picture, run with NATTER_SNAPSHOT_PNG=1 (writes PNGs next
//! to the hashes; do not commit those).

use iced::Theme;
use natter::model::Contact;
use natter_ui::App;
use natter_ui::screen::{Screen, verify};

use crate::support::*;

fn check(app: &App, name: &str) {
    for (theme, tone) in [(Theme::Light, "light"), (Theme::Dark, "dark")] {
        let mut ui = iced_test::simulator(app.view());
        let snap = ui.snapshot(&theme).unwrap();
        let path = format!("tests/snapshots/{name}-{tone}");
        if std::env::var_os("NATTER_SNAPSHOT_PNG").is_some() {
            let _ = snap.matches_image(&path);
        }
        assert!(
            snap.matches_hash(&path).unwrap(),
            "{name} ({tone}) looks different from tests/snapshots/{name}-{tone}-*.sha256; \
             run with NATTER_SNAPSHOT_PNG=1 to see it, delete the hash to accept it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_screens_look_as_recorded() {
    let a = peer_with(Some("alice"), false).await;
    let bob = peer_with(Some("bob"), true).await;
    let bid = bob.node.peer_id();
    let app = booted(&a).await;
    assert!(matches!(app.screen, Screen::Onboarding(_)));
    check(&app, "onboarding");
    a.node
        .set_preference(natter_ui::pref::NAME, "Alice")
        .await
        .unwrap();
    let mut c = Contact::new(bid);
    c.nickname = "Bob".into();
    c.group = "Friends".into();
    a.node.add_contact(c).await.unwrap();
    bob.node.shutdown().await; // offline: the dot stays hollow
    let mut app = booted(&a).await;
    app.screen = Screen::Main;
    check(&app, "main");
    app.screen = Screen::Verify(verify::State::new(&app, bid));
    check(&app, "verify");
}

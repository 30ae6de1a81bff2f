//! The desktop app's stable port: the preferred one, the next free one when another program
//! holds it, the one saved in its preferences at the next start.

use std::net::UdpSocket;

use crate::support::node_in;

/// A port free right now on loopback, with the few after it (checked by binding them).
fn free_run() -> u16 {
    for _ in 0..50 {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        if port < 60_000 && (port..port + 4).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return port;
        }
    }
    panic!("no run of four free UDP ports on loopback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_gives_the_next_free_one_and_a_saved_port_wins_at_the_next_start() {
    let port = free_run();
    let stable = move |c: &mut natter::node::NodeConfig| {
        c.listen = ([127, 0, 0, 1], port).into();
        c.stable_port = true;
    };
    let first = node_in(tempfile::tempdir().unwrap(), stable).await;
    assert_eq!(first.addr.port(), port);
    let second = node_in(tempfile::tempdir().unwrap(), stable).await;
    assert_eq!(second.addr.port(), port + 1, "the next free one");
    // Without the stable port, a taken port is an error that says what to do.
    let dir = tempfile::tempdir().unwrap();
    let mut exact = natter::node::NodeConfig::new(dir.path());
    exact.listen = ([127, 0, 0, 1], port).into();
    exact.discovery = None;
    let refused = natter::Node::start(exact).await.err().expect("port taken");
    assert!(
        refused.to_string().contains("cannot listen on"),
        "{refused}"
    );
    // A port saved in the preferences is used at the next start.
    let saver = node_in(tempfile::tempdir().unwrap(), stable).await;
    saver
        .handle
        .set_preference(natter::node::PREF_PORT, &(port + 3).to_string())
        .await
        .unwrap();
    saver.handle.shutdown().await;
    let crate::support::TestNode { handle, _dir, .. } = saver;
    drop(handle);
    let again = crate::support::restart_with(_dir, stable).await;
    assert_eq!(again.addr.port(), port + 3);
}

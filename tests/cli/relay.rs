//! The relay of a real `natter-rendezvous --relay` process, spoken to by raw library
//! clients: it forwards a full-sized QUIC packet between two clients only once both opened
//! for each other, refuses a pair that does not allow each other, forwards nothing for a
//! pair that is not open, and a server without `--relay` says it does not relay.

use std::time::Duration;

use natter::rendezvous::ClientError;
use natter::rendezvous::proto::{request, response};
use natter::rendezvous::record;
use natter::rendezvous::relay::{self, RelayOpen};

use crate::rendezvous::{Raw, raw};
use crate::support::Rendezvous;

pub(crate) async fn open(from: &Raw, to: &Raw) -> Result<bool, ClientError> {
    let token = record::token(&from.identity, &to.peer()).unwrap().to_vec();
    let own_token = record::own_token(&from.identity, &to.peer())
        .unwrap()
        .to_vec();
    let body = request::Body::RelayOpen(RelayOpen {
        peer: to.peer().as_bytes().to_vec(),
        token,
        own_token,
    });
    match from.client.request(body).await? {
        response::Body::RelayOpened(o) => Ok(o.ready),
        other => panic!("expected RelayOpened, got {other:?}"),
    }
}

/// The next relay frame `to` receives within `wait`.
pub(crate) async fn next_frame(to: &Raw, wait: Duration) -> Option<([u8; 32], bytes::Bytes)> {
    let conn = to.client.connection().await.unwrap();
    let frame = tokio::time::timeout(wait, conn.read_datagram())
        .await
        .ok()?
        .ok()?;
    Some(relay::parse(&frame).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_forwards_only_between_peers_that_both_opened_and_allow_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &["--relay"]);
    let (a, b, c) = (raw(&server), raw(&server), raw(&server));
    let registered = a.register(&[b.peer()]).await.unwrap();
    assert!(
        registered.relay,
        "a --relay server says so when we register"
    );
    b.register(&[a.peer()]).await.unwrap();
    // c allows a, but a does not allow c.
    c.register(&[a.peer()]).await.unwrap();

    // Nothing flows before both consent: a alone is waiting.
    assert!(!open(&a, &b).await.unwrap(), "ready before b consented");
    let packet = vec![0x5a; relay::MIN_PACKET];
    let a_conn = a.client.connection().await.unwrap();
    a_conn
        .send_datagram(relay::frame(b.peer().as_bytes(), &packet))
        .unwrap();
    assert!(
        next_frame(&b, Duration::from_millis(500)).await.is_none(),
        "a frame went through before b consented"
    );

    assert!(open(&b, &a).await.unwrap(), "both opened: ready");
    a_conn
        .send_datagram(relay::frame(b.peer().as_bytes(), &packet))
        .unwrap();
    let (from, got) = next_frame(&b, Duration::from_secs(5))
        .await
        .expect("a full-sized packet reaches b");
    assert_eq!(&from, a.peer().as_bytes(), "the frame names its source");
    assert_eq!(&got[..], &packet[..]);

    // A pair that does not allow each other is refused, and its frames go nowhere.
    match open(&c, &a).await {
        Err(ClientError::Refused(r)) => assert!(r.contains("allow each other"), "{r}"),
        other => panic!("c was not refused: {other:?}"),
    }
    let c_conn = c.client.connection().await.unwrap();
    c_conn
        .send_datagram(relay::frame(a.peer().as_bytes(), &packet))
        .unwrap();
    assert!(
        next_frame(&a, Duration::from_millis(500)).await.is_none(),
        "a frame from a refused pair was forwarded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_relay_says_it_does_not_relay() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(dir.path(), "127.0.0.1:0", &[]);
    let (a, b) = (raw(&server), raw(&server));
    assert!(!a.register(&[b.peer()]).await.unwrap().relay);
    b.register(&[a.peer()]).await.unwrap();
    match open(&a, &b).await {
        Err(ClientError::Refused(r)) => assert!(r.contains("does not relay"), "{r}"),
        other => panic!("expected a refusal: {other:?}"),
    }
}

/// The relay commands from the command line: the global policy (default ask) shown and
/// set, a contact's own choice set and cleared, and an answer for someone who is not a
/// contact refused with what to do.
#[test]
fn the_relay_policy_and_a_contacts_choice_are_set_from_the_command_line() {
    use crate::support::{cli, json, ok};
    let dir = tempfile::tempdir().unwrap();
    let me = dir.path().join("me");
    assert_eq!(ok(&me, &["relay-policy"]), "ask", "the default");
    assert_eq!(ok(&me, &["relay-policy", "never"]), "never");
    assert_eq!(
        json(&me, &["relay-policy"]),
        serde_json::json!({ "relay_policy": "never" })
    );
    let bob = natter::Identity::generate().peer_id().to_string();
    ok(&me, &["contact", "add", &bob, "--name", "bob"]);
    let set = json(&me, &["contact", "set", &bob, "--relay", "always"]);
    assert_eq!(set["relay"], "always", "{set}");
    let cleared = json(&me, &["contact", "set", &bob, "--relay", "default"]);
    assert_eq!(cleared["relay"], serde_json::Value::Null, "{cleared}");
    let stranger = natter::Identity::generate().peer_id().to_string();
    let refused = cli(&me, &["relay-consent", &stranger, "yes"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("not in your contacts"), "{said}");
}

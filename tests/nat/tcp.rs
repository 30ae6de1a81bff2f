//! When no UDP gets out: a node behind a router that drops UDP registers at the rendezvous
//! over TCP (port 443, TLS), finds its contact, and the two chat through the relay — the
//! blocked side over TCP, the other over UDP; its mail to an offline contact waits sealed
//! at the rendezvous and arrives later; once the node is on a network with UDP again, its
//! next session leaves TCP.

use natter_lab::{Lab, Nat};
use serde_json::{Value, json};

use crate::support::{Node, Rendezvous};

/// UDP tried first (one dial timeout, 5 s), then TCP; a relay opened by both.
const TCP_SECS: u64 = 40;

struct Cell {
    lab: Lab,
    a_host: natter_lab::Host,
    b_host: natter_lab::Host,
    dir: tempfile::TempDir,
    rv: Rendezvous,
    a: Node,
    b: Node,
}

/// A behind a UDP-blocked router, B behind a home router, a rendezvous that relays and
/// listens on TCP 443 too; both relay without asking.
fn cell() -> Cell {
    let mut lab = Lab::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rv_host = lab.public("rv").unwrap();
    let (a_host, _) = lab.site("a", Nat::UdpBlocked).unwrap();
    let (b_host, _) = lab.site("b", Nat::Home).unwrap();
    let tcp = format!("{}:443", rv_host.ip);
    let rv = Rendezvous::start_with_args(
        &rv_host,
        &dir.path().join("rv"),
        &["--relay", "--listen-tcp", &tcp],
    );
    let mut a = Node::start(&a_host, &dir.path().join("a"), &rv);
    let mut b = Node::start(&b_host, &dir.path().join("b"), &rv);
    for node in [&mut a, &mut b] {
        node.ask(json!({ "cmd": "relay_policy", "policy": "always" }));
    }
    a.add(&b);
    b.add(&a);
    Cell {
        lab,
        a_host,
        b_host,
        dir,
        rv,
        a,
        b,
    }
}

#[test]
fn without_udp_a_node_registers_over_tcp_and_chats_through_the_relay() {
    let mut c = cell();
    let (a_id, b_id) = (c.a.id.clone(), c.b.id.clone());
    let tcp = format!("tcp://{}:443", c.rv.addr.split(':').next().unwrap());
    let online =
        c.a.child
            .saw_or_wait(5, |e| e["event"] == "rendezvous" && e["online"] == true)
            .unwrap();
    let detail = online["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("over TCP"), "{detail}");
    assert_eq!(online["transport"], "tcp", "{online}");

    c.a.delivered(&b_id, "from a network without UDP", TCP_SECS);
    c.b.delivered(&a_id, "and back", 10);
    let on_a = c.a.connected(&b_id, 5);
    let on_b = c.b.connected(&a_id, 5);
    assert_eq!(
        (&on_a["path"], &on_b["path"]),
        (&json!("relayed"), &json!("relayed"))
    );
    assert_eq!(
        on_a["via"],
        tcp.as_str(),
        "a reaches the relay over TCP: {on_a}"
    );
    assert_eq!(
        on_b["via"],
        c.rv.addr.as_str(),
        "b reaches it over UDP: {on_b}"
    );

    // b goes away: a's message waits sealed at the rendezvous (reached over TCP).
    c.b.child.send(&json!({ "cmd": "shutdown" })).unwrap();
    let _ = c.b.child.wait();
    let sent = c.a.ask(json!({
        "cmd": "send", "id": b_id, "text": "while you were away",
        "wait": "stored", "timeout": 25,
    }));
    assert_eq!(sent["state"], "stored", "{sent}");
    let mut b = Node::start(&c.b_host, &c.dir.path().join("b"), &c.rv);
    // Whichever comes first brings it: b's fetch of the mailbox, or a's re-send on the
    // relayed session that comes up (a message leaves the outbox only when acked) — once.
    let away = |e: &serde_json::Value| {
        e["event"] == "message_received" && e["message"]["text"] == "while you were away"
    };
    b.child.wait_for(30, away).unwrap();
    b.child.drain(2000);
    assert_eq!(b.child.seen.iter().filter(|e| away(e)).count(), 1);
}

#[test]
fn when_udp_comes_back_the_next_session_leaves_tcp() {
    let mut c = cell();
    let (a_id, b_id) = (c.a.id.clone(), c.b.id.clone());
    c.a.delivered(&b_id, "over TCP", TCP_SECS);
    assert!(
        c.a.connected(&b_id, 5)["via"]
            .as_str()
            .is_some_and(|v| v.starts_with("tcp://"))
    );
    // The laptop moves to a network that lets UDP out.
    c.lab.move_to(&c.a_host, Nat::Home).unwrap();
    let off_tcp = |e: &Value| {
        e["event"] == "connected"
            && e["peer"] == b_id.as_str()
            && (e["path"] == "direct"
                || (e["path"] == "relayed"
                    && e["via"].as_str().is_some_and(|v| !v.starts_with("tcp://"))))
    };
    let after = c.a.child.wait_for(90, off_tcp).unwrap();
    c.a.delivered(&b_id, "after UDP came back", 20);
    c.b.delivered(&a_id, "and back", 20);
    eprintln!("UDP back: {} via {}", after["path"], after["via"]);
}

/// A program that runs in a lab host until the test ends (then it is killed).
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The network lets no UDP out and no TCP past its HTTP proxy (tinyproxy on another host):
/// with `HTTPS_PROXY` set, the node reaches the rendezvous's TCP port through the proxy's
/// CONNECT and chats through the relay.
#[test]
fn through_an_http_proxy_when_nothing_else_gets_out() {
    let mut lab = Lab::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rv_host = lab.public("rv").unwrap();
    let px_host = lab.public("px").unwrap();
    let (a_router, a_host) = lab.behind("a", Nat::UdpBlocked).unwrap();
    let (b_host, _) = lab.site("b", Nat::Home).unwrap();
    // Only the proxy gets out of a's network: no TCP straight to the rendezvous.
    let rule = format!(
        "insert rule ip filter forward oifname \"rw\" ip daddr {} tcp dport 443 drop",
        rv_host.ip
    );
    let nft = std::process::Command::new("ip")
        .args(["netns", "exec", &a_router.ns, "nft", &rule])
        .status()
        .unwrap();
    assert!(nft.success(), "{rule}");
    let conf = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port 8888\nListen {}\nTimeout 600\nAllow 198.19.0.0/16\nConnectPort 443\nMaxClients 64\nLogLevel Connect\n",
            px_host.ip
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("tinyproxy.log")).unwrap();
    let proxy = px_host
        .command("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("tinyproxy (scripts/test installs it)");
    let _proxy = Background(proxy);
    std::thread::sleep(std::time::Duration::from_millis(500));

    let tcp = format!("{}:443", rv_host.ip);
    let rv = Rendezvous::start_with_args(
        &rv_host,
        &dir.path().join("rv"),
        &["--relay", "--listen-tcp", &tcp],
    );
    let url = format!("http://{}:8888", px_host.ip);
    let mut a = Node::start_env(
        &a_host,
        &dir.path().join("a"),
        &rv,
        &[("HTTPS_PROXY", &url)],
    );
    let mut b = Node::start(&b_host, &dir.path().join("b"), &rv);
    for node in [&mut a, &mut b] {
        node.ask(json!({ "cmd": "relay_policy", "policy": "always" }));
    }
    a.add(&b);
    b.add(&a);
    let b_id = b.id.clone();
    a.delivered(&b_id, "through the proxy", TCP_SECS);
    let on_a = a.connected(&b_id, 5);
    assert_eq!(on_a["via"], format!("tcp://{tcp}"), "{on_a}");
    let said = std::fs::read_to_string(dir.path().join("tinyproxy.log")).unwrap();
    assert!(
        said.contains(&format!("CONNECT {tcp}")),
        "the proxy carried no tunnel:\n{said}"
    );
}

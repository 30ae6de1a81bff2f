//! Seeds for each target made from real encoded messages (what the real encoders write
//! for the fixed keys), so that fuzzing starts from valid input and the replay always
//! tests valid input too.

use prost::Message;

use super::keys;
use super::peer::{BODY_KINDS, incarnation, peer_hello};
use crate::control::{Command, ContactRelay, Wait, YesNo};
use crate::discovery;
use crate::files;
use crate::model::{PageBefore, RelayPolicy, Status, TypingState};
use crate::node::{ExportFormat, PrivacyMode};
use crate::rendezvous::proto::{self, Push, Request, Response, push, request, response};
use crate::rendezvous::{directory, record, relay};
use crate::seal::{self, Recipient};
use crate::session;
use crate::transport::tunnel;
use crate::wire::{self, Frame};

/// The seeds of a target (empty for a name that is none).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "wire_frame" => vec![
            [&[0xFF][..], &frames().concat()].concat(),
            [&[0][..], &frames()[1]].concat(),
            [&[0xFF][..], &near_cap_chat()].concat(),
            over_the_cap(wire::MAX_FRAME as u32 - 3),
        ],
        "wire_body" => BODY_KINDS
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let body = frames()
                    .into_iter()
                    .find(|f| f[5..7] == kind.to_be_bytes())
                    .map(|f| f[7..].to_vec())
                    .unwrap_or_default();
                [&[i as u8][..], &body].concat()
            })
            .collect(),
        "session" => vec![
            [&[0, 0xFF][..], &frames()[1..].concat()].concat(),
            [&[1, 0xFF][..], &frames()[..2].concat()].concat(),
            [&[0, 2][..], &frames()[1]].concat(),
        ],
        "rendezvous_request" => {
            let mut r = requests();
            r.push(over_the_cap(proto::MAX_MESSAGE as u32 + 1));
            r
        }
        "rendezvous_response" => responses(),
        "presence_record" => {
            let signed = signed_record();
            vec![
                [&[0][..], &signed.encode_to_vec()].concat(),
                [&[1][..], &signed.record].concat(),
            ]
        }
        "handle_claim" => vec![
            [&[0][..], &claim().encode_to_vec()].concat(),
            b"\x01@Alice".to_vec(),
        ],
        "sealed_envelope" => vec![envelope()],
        "sealed_round_trip" => {
            let mut params = 1_700_000_000_000u64.to_be_bytes().to_vec();
            params.extend_from_slice(&[0, 77]);
            params.extend_from_slice(&[5; 16]);
            params.extend_from_slice(&chat_body());
            vec![params]
        }
        "mdns_txt" => {
            let mut txt = vec![0x0F, 0xA0, 3];
            for kv in [
                format!("id={}", keys::peer_id()),
                "v=1-1".into(),
                "name=Ann".into(),
            ] {
                txt.push(kv.len() as u8);
                txt.extend_from_slice(kv.as_bytes());
            }
            let mut room = vec![0x0F, 0xA0, 5];
            for (k, v) in discovery::room_properties(&super::room::seed_listing()) {
                let kv = format!("{k}={v}");
                room.push(kv.len() as u8);
                room.extend_from_slice(kv.as_bytes());
            }
            vec![txt, room]
        }
        "control_command" => commands(),
        "natter_id" => {
            let id = keys::peer_id().to_string();
            let grouped = format!("{} {}\n{}", &id[..20], &id[20..40], &id[40..]).to_uppercase();
            vec![
                id.clone().into_bytes(),
                grouped.into_bytes(),
                keys::peer_id().invite_link().into_bytes(),
                format!(" natter:{id}/ ").into_bytes(),
            ]
        }
        "file_header" => {
            let head = files::header(&[7; 16], 123_456_789).to_vec();
            [
                "../../etc/passwd",
                "CON.txt",
                "\u{202E}gnp.exe",
                &format!("{}.txt", "n".repeat(300)),
            ]
            .iter()
            .map(|name| [&head[..], name.as_bytes()].concat())
            .collect()
        }
        "tunnel_frame" => {
            let mut stream = bytes::BytesMut::new();
            tunnel::encode(&[0xC3; 1200], &mut stream);
            tunnel::encode(b"a short packet", &mut stream);
            let over = (tunnel::MAX_PACKET as u16 + 1).to_be_bytes();
            vec![
                [&[0xFF][..], &stream].concat(),
                [&[0][..], &stream[1202..]].concat(),
                [&[0xFF][..], &over, &[0xC3; 64]].concat(),
            ]
        }
        "proxy_response" => vec![
            b"\x00HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01".to_vec(),
            b"\x00HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
                .to_vec(),
            b"\x01http://user:pa%40ss@proxy.example:3128/".to_vec(),
            b"\x01[::1]:8080".to_vec(),
            b"\x02localhost, .example.org,127.0.0.1:443,[::1]".to_vec(),
        ],
        "room" => super::room::seeds(),
        _ => Vec::new(),
    }
}

/// A Chat from the peer in our conversation, as its body.
fn chat_body() -> Vec<u8> {
    chat().encode_to_vec()
}

fn chat() -> wire::Chat {
    wire::Chat {
        msg_id: vec![5; 16],
        conversation: session::conversation_id(keys::me_id(), keys::peer_id()).to_vec(),
        seq: 1,
        timestamp_ms: 1_700_000_000_000,
        text: "hello".into(),
        incarnation: incarnation(keys::peer_id()).to_vec(),
        base_seq: 0,
    }
}

/// A stream (pieces of 256 bytes) whose length prefix announces `n`, one over a cap,
/// followed by a few bytes.
fn over_the_cap(n: u32) -> Vec<u8> {
    [&[0xFF][..], &n.to_be_bytes(), &[0x5A; 64]].concat()
}

/// A Chat frame a few bytes under the frame cap.
fn near_cap_chat() -> Vec<u8> {
    let text = "x".repeat(wire::MAX_FRAME - 100);
    wire::encode(&Frame::Chat(wire::Chat { text, ..chat() })).unwrap_or_default()
}

/// One frame of each kind from the peer, its Hello first (as its session writes it).
fn frames() -> Vec<Vec<u8>> {
    let conversation = session::conversation_id(keys::me_id(), keys::peer_id()).to_vec();
    let mut out = vec![peer_hello().to_vec()];
    let rest = [
        Frame::Chat(chat()),
        Frame::Ack(wire::Ack {
            conversation: conversation.clone(),
            up_to_seq: 3,
        }),
        Frame::Read(wire::Read {
            conversation: conversation.clone(),
            up_to_seq: 2,
        }),
        Frame::Typing(wire::Typing {
            conversation,
            state: TypingState::Typing as i32,
        }),
        Frame::Presence(wire::Presence {
            status: Status::Away as i32,
            text: "lunch".into(),
        }),
        Frame::File(wire::FileFrame {
            op: wire::FileOp::Offer as i32,
            file_id: vec![8; 16],
            name: "photo.jpg".into(),
            size: 1234,
            sha256: vec![9; 32],
            mime: "image/jpeg".into(),
            ..Default::default()
        }),
        Frame::Room(wire::RoomFrame {
            op: wire::RoomOp::Sync as i32,
            room: vec![5; 16],
            vector: vec![wire::AuthorSeq {
                author: keys::peer_id().as_bytes().to_vec(),
                seq: 4,
            }],
            version: 2,
            ..Default::default()
        }),
        Frame::Unsupported(wire::Unsupported { kind: 77 }),
        Frame::Unknown { kind: 0x4E54 },
        Frame::Goodbye(wire::Goodbye {
            code: wire::GoodbyeCode::Normal as i32,
            reason: "bye".into(),
        }),
    ];
    out.extend(rest.iter().filter_map(|f| wire::encode(f).ok()));
    out
}

/// The peer's presence record, signed.
fn signed_record() -> proto::SignedRecord {
    let r = proto::PresenceRecord {
        peer: keys::peer_id().as_bytes().to_vec(),
        addrs: vec!["192.0.2.7:47100".into(), "[2001:db8::7]:47100".into()],
        min_version: 1,
        max_version: 1,
        features: session::FEATURES.iter().map(|f| f.to_string()).collect(),
        prekey: keys::peer_prekey().public.to_vec(),
        prekey_expires_ms: keys::PREKEY_EXPIRES_MS,
        issued_ms: 1_700_000_000_000,
        expires_ms: 1_700_000_600_000,
        transports: vec![
            proto::TRANSPORT_QUIC.into(),
            proto::TRANSPORT_RELAY_UDP.into(),
        ],
    };
    record::sign(keys::peer(), &r)
}

/// The peer's claim of `@alice`.
fn claim() -> proto::Handle {
    proto::Handle {
        name: "alice".into(),
        peer: keys::peer_id().as_bytes().to_vec(),
        signature: keys::peer().sign(&proto::handle_message("alice")).to_vec(),
    }
}

/// A Chat the peer sealed to us.
fn envelope() -> Vec<u8> {
    let mine = &keys::my_prekeys()[0];
    let to = Recipient {
        peer: keys::me_id(),
        prekey: mine.public,
        expires_ms: mine.expires_ms,
    };
    let (peer, prekey) = (keys::peer(), keys::peer_prekey());
    seal::seal(
        peer,
        prekey,
        &to,
        [5; 16],
        seal::KIND_CHAT,
        &chat_body(),
        1_700_000_000_000,
    )
    .unwrap_or_default()
}

fn requests() -> Vec<Vec<u8>> {
    let key = keys::peer_id().as_bytes().to_vec();
    let bodies = [
        request::Body::Register(proto::Register {
            record: Some(signed_record()),
            tokens: vec![vec![1; 32], vec![2; 32]],
            hidden: true,
            visible: vec![vec![2; 32]],
        }),
        request::Body::Unregister(proto::Empty {}),
        request::Body::Lookup(proto::Lookup {
            target: key.clone(),
            token: vec![1; 32],
            signal: true,
        }),
        request::Body::Deposit(proto::Deposit {
            to: keys::me_id().as_bytes().to_vec(),
            token: vec![1; 32],
            msg_id: vec![5; 16],
            sealed: envelope(),
        }),
        request::Body::Fetch(proto::Empty {}),
        request::Body::Ack(proto::AckMail {
            ids: vec![1, 2, 300],
            expired: vec![vec![5; 16]],
        }),
        request::Body::ClaimHandle(proto::Handle {
            peer: Vec::new(),
            ..claim()
        }),
        request::Body::ResolveHandle(proto::Handle {
            name: "alice".into(),
            ..Default::default()
        }),
        request::Body::RelayOpen(relay::RelayOpen {
            peer: key.clone(),
            token: vec![1; 32],
            own_token: vec![2; 32],
        }),
        request::Body::Publish(directory::Publish {
            listing: super::room::seed_listing().bytes().to_vec(),
        }),
        request::Body::Unpublish(directory::Unpublish { room: vec![4; 16] }),
        request::Body::Search(directory::Search {
            query: "café".into(),
            limit: 20,
        }),
        request::Body::Knock(directory::Knock { room: vec![4; 16] }),
        request::Body::KnockAnswer(directory::KnockAnswer {
            room: vec![4; 16],
            peer: key,
            let_in: false,
            reason: "you are banned from this room".into(),
        }),
    ];
    bodies
        .into_iter()
        .map(|b| [&[0xFF][..], &proto::frame(&Request { body: Some(b) })].concat())
        .collect()
}

fn responses() -> Vec<Vec<u8>> {
    let key = keys::peer_id().as_bytes().to_vec();
    let pushes = [
        push::Body::MailWaiting(proto::Empty {}),
        push::Body::DialMe(proto::DialMe {
            from: key.clone(),
            observed: "198.51.100.7:40000".into(),
            record: Some(signed_record()),
        }),
        push::Body::RelayAsked(relay::RelayAsked { from: key.clone() }),
        push::Body::RelayReady(relay::RelayReady { peer: key.clone() }),
        push::Body::Restarting(proto::Empty {}),
        push::Body::Knocked(proto::Knocked {
            room: vec![4; 16],
            from: key.clone(),
            observed: "198.51.100.7:40000".into(),
            record: Some(signed_record()),
        }),
    ];
    let registered = response::Body::Registered(proto::Registered {
        observed: "198.51.100.9:47100".into(),
        expires_ms: 1_700_000_090_000,
        relay: true,
    });
    let mut stream = proto::frame(&Response {
        body: Some(registered),
    });
    for p in pushes {
        stream.extend(proto::frame(&Push { body: Some(p) }));
    }
    let answers = [
        response::Body::Presence(proto::Presence {
            online: true,
            record: Some(signed_record()),
            observed: "198.51.100.7:40000".into(),
        }),
        response::Body::Stored(proto::Stored {
            expires_ms: 1_702_592_000_000,
        }),
        response::Body::Mail(proto::Mail {
            items: vec![proto::MailItem {
                id: 7,
                from: key.clone(),
                msg_id: vec![5; 16],
                sealed: envelope(),
            }],
            expired: vec![proto::ExpiredMail {
                to: key,
                msg_id: vec![6; 16],
            }],
        }),
        response::Body::Done(proto::Empty {}),
        response::Body::Refused(proto::Refused {
            reason: "no".into(),
        }),
        response::Body::RateLimited(proto::RateLimited {
            retry_after_ms: 1500,
        }),
        response::Body::Handle(claim()),
        response::Body::RelayOpened(relay::RelayOpened { ready: true }),
        response::Body::Listings(directory::Listings {
            listings: vec![super::room::seed_listing().bytes().to_vec()],
        }),
        response::Body::KnockResult(directory::KnockResult {
            answered: true,
            let_in: false,
            reason: "the room is full".into(),
        }),
    ];
    let mut out = vec![[&[0, 0xFF][..], &stream].concat()];
    out.extend(
        answers
            .into_iter()
            .map(|b| [&[0, 0xFF][..], &proto::frame(&Response { body: Some(b) })].concat()),
    );
    out.push([&[0][..], &over_the_cap(proto::MAX_MESSAGE as u32 + 1)].concat());
    out.push(
        [
            &[1][..],
            &relay::frame(&[3; 32], &[0xC3; relay::MIN_PACKET]),
        ]
        .concat(),
    );
    out
}

fn commands() -> Vec<Vec<u8>> {
    let id = *keys::peer_id();
    let commands = [
        Command::Id,
        Command::ContactAdd {
            id,
            name: Some("Ann".into()),
            group: Some("Friends".into()),
            addr: Some("192.0.2.7:47100".into()),
        },
        Command::ContactSet {
            id,
            typing: Some(false),
            receipts: None,
            relay: Some(ContactRelay::Never),
            sees_invisible: Some(true),
        },
        Command::Send {
            id,
            text: "hi \u{1b}[31m".into(),
            wait: Some(Wait::Delivered),
            timeout: Some(2.5),
        },
        Command::Typing {
            id,
            state: TypingState::Paused,
        },
        Command::Presence {
            status: Status::Busy,
            text: "away".into(),
        },
        Command::History {
            id,
            limit: Some(50),
            before: Some(PageBefore {
                ts_ms: -5,
                id: "0193-ab".into(),
            }),
        },
        Command::SendFile {
            id,
            path: "/tmp/a b.txt".into(),
            name: None,
            wait: true,
            timeout: None,
        },
        Command::Privacy {
            mode: Some(PrivacyMode::ContactsOnly),
        },
        Command::ExportHistory {
            format: ExportFormat::Text,
            path: None,
            id: None,
        },
        Command::RelayPolicy {
            policy: Some(RelayPolicy::Always),
        },
        Command::RelayConsent {
            id,
            answer: YesNo::Yes,
        },
        Command::Preference {
            name: "theme".into(),
            value: Some("dark".into()),
        },
        Command::RoomCreate {
            name: "Café".into(),
            topic: None,
            invite: Vec::new(),
            public: true,
        },
        Command::RoomDirectory {
            query: Some("café".into()),
            limit: Some(20),
        },
        Command::RoomBan {
            room: super::room::seed_listing().listing().room,
            id,
        },
    ];
    let mut out: Vec<Vec<u8>> = commands
        .iter()
        .filter_map(|c| serde_json::to_vec(c).ok())
        .collect();
    out.push(br#"{"cmd":"send","id":"not an id","text":"x"}"#.to_vec());
    out.push(b"{\"cmd\":\"\xe2\x80\xae\"}".to_vec());
    out
}

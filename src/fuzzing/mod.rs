//! Owns the bodies of the fuzz targets: one function per decoder of outside bytes, shared by
//! the cargo-fuzz targets (`fuzz/fuzz_targets/`, one line each) and the replay of their
//! committed corpora in the ordinary test build (`tests/fuzz`). Each function feeds the
//! bytes to the real decoder and asserts its invariants cheaply (never a panic, never past a
//! cap, decode → encode → decode equal where the format allows): a broken invariant is a
//! panic, which libFuzzer reports as a crash. Only with the `testing` feature.
//!
//! Inputs often start with a byte or two of their own (a mode, the size of the pieces a
//! stream delivers); the rest is what a peer, a server, the LAN or a user sends.

mod keys;
mod outside;
mod peer;
mod rendezvous;
mod room;
mod seeds;
mod streams;

pub use outside::{control_command, mdns_txt, natter_id, sealed_envelope, sealed_round_trip};
pub use peer::{session, wire_body, wire_frame};
pub use rendezvous::{handle_claim, presence_record, rendezvous_request, rendezvous_response};
pub use room::room;
pub use seeds::seeds;
pub use streams::{file_header, proxy_response, tunnel_frame};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// One fuzz target: its name (the file in `fuzz/fuzz_targets/` and the folder in
/// `fuzz/corpus/`), what it covers, and its body.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// What it feeds, to what.
    pub covers: &'static str,
    /// The body: never panics unless an invariant broke.
    pub run: fn(&[u8]),
}

/// Every target, in the order the docs list them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "wire_frame",
        covers: "session stream framing: wire::Decoder fed in pieces, every frame re-encoded",
        run: wire_frame,
    },
    Target {
        name: "wire_body",
        covers: "each frame body (Hello … File, unknown kinds) behind a valid header",
        run: wire_body,
    },
    Target {
        name: "session",
        covers: "Session::handle_bytes after a valid Hello, or before one: events and replies",
        run: session,
    },
    Target {
        name: "rendezvous_request",
        covers: "proto::read of a client's Request, as the server reads it; handle claims",
        run: rendezvous_request,
    },
    Target {
        name: "rendezvous_response",
        covers: "proto::read of the server's Response and Pushes; relay datagrams",
        run: rendezvous_response,
    },
    Target {
        name: "presence_record",
        covers: "record::verify of signed presence records, forged and validly signed",
        run: presence_record,
    },
    Target {
        name: "handle_claim",
        covers: "normalize_handle, record::check_claim and check_resolved",
        run: handle_claim,
    },
    Target {
        name: "sealed_envelope",
        covers: "seal::open of mailbox envelopes as a mailbox hands them over",
        run: sealed_envelope,
    },
    Target {
        name: "sealed_round_trip",
        covers: "seal → open of any text at any time, and with one bit changed",
        run: sealed_round_trip,
    },
    Target {
        name: "mdns_txt",
        covers: "mDNS TXT rdata (mdns-sd's decoder) read by discovery::parse_record",
        run: mdns_txt,
    },
    Target {
        name: "control_command",
        covers: "stdin / control-socket command lines (Command JSON) and the error answer",
        run: control_command,
    },
    Target {
        name: "natter_id",
        covers: "Natter IDs (PeerId::from_str, from_stored) and invite links",
        run: natter_id,
    },
    Target {
        name: "file_header",
        covers: "the file data stream header, offered names (safe_name) and their MIME type",
        run: file_header,
    },
    Target {
        name: "tunnel_frame",
        covers: "the TCP tunnel's length-prefixed QUIC packets (tunnel::Decoder)",
        run: tunnel_frame,
    },
    Target {
        name: "proxy_response",
        covers: "an HTTP proxy's CONNECT answer, proxy URLs and NO_PROXY lists",
        run: proxy_response,
    },
    Target {
        name: "room",
        covers: "a room's signed states and messages from a member, a chain of states judged",
        run: room,
    },
];

/// The target of this name.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The first byte (0 when there is none) and the rest.
fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (b, rest),
        None => (0, &[]),
    }
}

/// The size of the pieces a stream delivers, from one input byte: 1 to 256 bytes.
fn piece_len(b: u8) -> usize {
    usize::from(b) + 1
}

/// Runs a future that never waits (its reader is in memory) to its end.
fn run_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a read from memory waited"),
    }
}

/// Bytes in memory read as a stream that delivers at most `piece` bytes a read.
struct Trickle<'a> {
    data: &'a [u8],
    piece: usize,
}

impl tokio::io::AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.piece.min(buf.remaining()).min(self.data.len());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

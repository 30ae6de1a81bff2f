//! Targets of byte streams outside the session: a file's data stream header and the name
//! it was offered under, the TCP tunnel's framing and an HTTP proxy's answer.

use std::net::SocketAddr;
use std::path::Path;

use bytes::BytesMut;

use super::{piece_len, split_first};
use crate::files::{self, HEADER_LEN, MAX_NAME, STREAM_VERSION};
use crate::transport::proxy::{self, MAX_HEAD, ProxyError};
use crate::transport::tunnel::{self, MAX_PACKET};

/// Whether `c` would act instead of being a name's character (what `safe_name` drops).
fn unsafe_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}')
        || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

/// Whether a name's stem is a Windows device name (`CON`, `COM1`…).
fn device(name: &str) -> bool {
    // Windows ignores trailing spaces in a device name ("COM6 .txt" is the device too).
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    let numbered = |p: &str| {
        stem.strip_prefix(p)
            .is_some_and(|n| n.len() == 1 && ('1'..='9').contains(&n.chars().next().unwrap_or('0')))
    };
    ["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str()) || numbered("COM") || numbered("LPT")
}

/// The target `file_header`. Bytes: the data stream header (25), then the name a file was
/// offered under.
pub fn file_header(data: &[u8]) {
    let (head, name) = match data.split_first_chunk::<HEADER_LEN>() {
        Some((head, rest)) => (Some(head), rest),
        None => (None, data),
    };
    if let Some(head) = head {
        match files::parse_header(head) {
            Ok((id, offset)) => assert_eq!(&files::header(&id, offset), head, "round trip"),
            Err(_) => assert_ne!(head[0], STREAM_VERSION, "our own version refused"),
        }
    }
    let raw = String::from_utf8_lossy(name);
    let safe = files::safe_name(&raw);
    assert!(!safe.is_empty() && safe.len() <= MAX_NAME, "{safe:?}");
    assert!(!safe.chars().any(unsafe_in_name), "{safe:?}");
    assert!(
        !safe.starts_with(|c: char| c == '.' || c.is_whitespace()),
        "{safe:?}"
    );
    assert!(!device(&safe), "a device name: {safe:?}");
    assert_eq!(files::safe_name(&safe), safe, "a safe name changes again");
    let _ = files::mime_of(&safe);
    // It names a file inside the download folder, and so does its part file.
    let dir = Path::new("/downloads");
    let path = dir.join(&safe);
    assert!(path.parent() == Some(dir) && path.file_name() == Some(safe.as_ref()));
    assert_eq!(files::part_path(&path).parent(), Some(dir));
}

/// The target `tunnel_frame`. Bytes: the size of the pieces (1), then the tunnel's stream.
pub fn tunnel_frame(data: &[u8]) {
    let (piece, bytes) = split_first(data);
    let mut d = tunnel::Decoder::default();
    let (mut packets, mut error) = (Vec::new(), None);
    'feed: for chunk in bytes.chunks(piece_len(piece)) {
        d.push(chunk);
        loop {
            match d.next_packet() {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
        let (held, room) = d.held();
        assert!(held < tunnel::HEADER + MAX_PACKET, "{held} bytes held");
        assert!(
            room <= 4 * (tunnel::HEADER + MAX_PACKET + 256),
            "{room} bytes of room"
        );
    }
    // A first frame announced over the cap (or empty) is refused.
    if let Some(head) = bytes.first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*head));
        if len == 0 || len > MAX_PACKET {
            assert!(
                packets.is_empty() && error.is_some(),
                "a frame of {len} bytes read"
            );
        }
    }
    // The packets framed again are the bytes they came from.
    let mut again = BytesMut::new();
    for p in &packets {
        assert!(!p.is_empty() && p.len() <= MAX_PACKET);
        assert!(tunnel::encode(p, &mut again), "a packet read is not framed");
    }
    assert_eq!(again[..], bytes[..again.len()]);
    // Read in one go: the same.
    let mut whole = tunnel::Decoder::default();
    whole.push(bytes);
    let mut n = 0;
    let end = loop {
        match whole.next_packet() {
            Ok(Some(p)) => {
                assert!(packets.get(n) == Some(&p), "pieces differ");
                n += 1;
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert!(n == packets.len() && end == error, "pieces differ");
}

/// The target `proxy_response`. Bytes: what to read (1: 0 a proxy's answer, 1 a proxy URL, 2 a
/// `NO_PROXY` list), then it.
pub fn proxy_response(data: &[u8]) {
    let (mode, rest) = split_first(data);
    match mode % 3 {
        0 => proxy_answer(rest),
        1 => proxy_url(rest),
        _ => no_proxy(rest),
    }
}

fn proxy_answer(buf: &[u8]) {
    match proxy::parse_response(buf) {
        Ok(Some(len)) => {
            assert!(len >= 4 && len <= buf.len() && len - 4 <= MAX_HEAD);
            assert!(buf[len - 4..len] == *b"\r\n\r\n" && buf.starts_with(b"HTTP/1."));
            // What follows the head is the tunnel's: the head alone says the same, and a
            // byte less of it says nothing yet.
            assert_eq!(proxy::parse_response(&buf[..len]), Ok(Some(len)));
            assert!(!matches!(
                proxy::parse_response(&buf[..len - 1]),
                Ok(Some(_))
            ));
        }
        Ok(None) => {
            assert!(buf.len() <= MAX_HEAD && !buf.windows(4).any(|w| w == b"\r\n\r\n"));
        }
        Err(ProxyError::Refused(status)) => assert!(status.chars().count() <= 200),
        Err(_) => {}
    }
}

fn proxy_url(bytes: &[u8]) {
    let Ok(url) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(p) = proxy::parse_url(url) else {
        return;
    };
    assert!(!p.host_port.contains(['/', ' ', '?', '#', '@']), "{p:?}");
    let port = p.host_port.rsplit_once(':');
    assert!(port.is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok()));
    let again = match &p.credentials {
        Some(c) => format!("http://{c}@{}", p.host_port),
        None => format!("http://{}", p.host_port),
    };
    assert_eq!(
        proxy::parse_url(&again).as_ref(),
        Ok(&p),
        "round trip through {again:?}"
    );
    // Credentials go in the request encoded: no header of their own making.
    let target: SocketAddr = ([192, 0, 2, 7], 443).into();
    let request = proxy::connect_request(&target, p.credentials.as_deref());
    let lines: Vec<&str> = request.split("\r\n").collect();
    let expected = if p.credentials.is_some() { 5 } else { 4 };
    assert_eq!(lines.len(), expected, "{request:?}");
    assert!(lines.iter().all(|l| !l.contains(['\r', '\n'])));
}

fn no_proxy(bytes: &[u8]) {
    let Ok(list) = std::str::from_utf8(bytes) else {
        return;
    };
    for target in [
        SocketAddr::from(([127, 0, 0, 1], 443)),
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 443)),
    ] {
        let _ = proxy::exempt(list, &target);
        assert!(proxy::exempt(&format!("{list},*"), &target));
        assert!(proxy::exempt(&format!("{list},{}", target.ip()), &target));
    }
}

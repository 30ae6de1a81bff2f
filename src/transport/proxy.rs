//! Owns reaching a TCP address through an HTTP proxy, as the usual settings say: the
//! `HTTPS_PROXY` / `https_proxy` (else `ALL_PROXY` / `all_proxy`) URL, `NO_PROXY` /
//! `no_proxy` exceptions, and an HTTP/1.1 `CONNECT` tunnel (with Basic credentials when the
//! URL carries them). The parsers are pure and return `Result`; the response head is capped.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest proxy response head read (status line and headers).
pub const MAX_HEAD: usize = 8 * 1024;

/// Why a proxy could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The proxy setting is not an `http://[user:pass@]host:port` URL.
    #[error("the proxy setting {0:?} is not http://[user:password@]host:port")]
    BadUrl(String),
    /// The proxy answered something other than HTTP.
    #[error("the proxy answered something that is not HTTP")]
    NotHttp,
    /// The proxy's answer head is over [`MAX_HEAD`].
    #[error("the proxy's answer is over {MAX_HEAD} bytes")]
    TooLong,
    /// The proxy refused the tunnel.
    #[error("the proxy refused the connection: {0}")]
    Refused(String),
    /// The proxy could not be reached, or resolved.
    #[error("cannot reach the proxy {0}")]
    Unreachable(String),
}

/// A proxy from the settings: where it is and, when given, its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `host:port` (a name or an address).
    pub host_port: String,
    /// `user:password`, when the URL carries them.
    pub credentials: Option<String>,
}

/// Parses `http://[user:pass@]host[:port]` (port 80 when absent; a bare `host:port` is
/// taken as http).
pub fn parse_url(url: &str) -> Result<ProxyUrl, ProxyError> {
    let bad = || ProxyError::BadUrl(url.to_string());
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some(_) => return Err(bad()),
        None => url,
    };
    let rest = rest.trim_end_matches('/');
    let (credentials, authority) = match rest.rsplit_once('@') {
        Some((c, a)) => (Some(c.to_string()), a),
        None => (None, rest),
    };
    if authority.is_empty() || authority.contains(['/', ' ', '?', '#']) {
        return Err(bad());
    }
    // `host`, `host:port`, `[v6]` or `[v6]:port`; an empty port is the default one. A bare
    // IPv6 address is refused: no port could be told from it.
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or_else(bad)?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => (host, ""),
            _ => (host, rest.strip_prefix(':').ok_or_else(bad)?),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => return Err(bad()),
            Some((host, port)) => (host, port),
            None => (authority, ""),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(bad());
    }
    let port = match port {
        "" => 80,
        p => p.parse::<u16>().map_err(|_| bad())?,
    };
    let host_port = format!("{host}:{port}");
    Ok(ProxyUrl {
        host_port,
        credentials,
    })
}

/// Whether `no_proxy` (a comma list of hosts, addresses, `.suffix`es, or `*`) exempts
/// `target`.
pub fn exempt(no_proxy: &str, target: &SocketAddr) -> bool {
    let ip = target.ip().to_string();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            // A port follows a name, an IPv4 address or a bracketed IPv6 one; a bare IPv6
            // address is all colons and no port.
            let host = match e.rsplit_once(':') {
                Some((h, p))
                    if p.parse::<u16>().is_ok() && (h.ends_with(']') || !h.contains(':')) =>
                {
                    h
                }
                _ => e,
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            e == "*" || host == ip
        })
}

/// The proxy the environment names for `target`, if any.
pub fn from_env(target: &SocketAddr) -> Option<Result<ProxyUrl, ProxyError>> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    };
    let url = var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])?;
    if var(&["NO_PROXY", "no_proxy"]).is_some_and(|n| exempt(&n, target)) {
        return None;
    }
    Some(parse_url(url.trim()))
}

/// The CONNECT request for `target`.
pub fn connect_request(target: &SocketAddr, credentials: Option<&str>) -> String {
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(c) = credentials {
        let token = data_encoding::BASE64.encode(c.as_bytes());
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// Reads a proxy's answer head from `buf`: `Ok(None)` while it is incomplete,
/// `Ok(Some(len))` (the head's length) once the tunnel is open (a 2xx status).
pub fn parse_response(buf: &[u8]) -> Result<Option<usize>, ProxyError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(ProxyError::TooLong);
        }
        if !buf.is_empty() && !b"HTTP/".starts_with(&buf[..buf.len().min(5)]) {
            return Err(ProxyError::NotHttp);
        }
        return Ok(None);
    };
    if end > MAX_HEAD {
        return Err(ProxyError::TooLong);
    }
    let head = String::from_utf8_lossy(&buf[..end]);
    let status = head.lines().next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(ProxyError::NotHttp);
    };
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(ProxyError::NotHttp);
    }
    if code.starts_with('2') {
        Ok(Some(end + 4))
    } else {
        Err(ProxyError::Refused(status.chars().take(200).collect()))
    }
}

/// A TCP stream to `target` through the proxy `proxy` (its CONNECT tunnel, open).
pub async fn connect(proxy: &ProxyUrl, target: SocketAddr) -> Result<TcpStream, ProxyError> {
    let unreachable =
        |e: std::io::Error| ProxyError::Unreachable(format!("{}: {e}", proxy.host_port));
    let mut tcp = TcpStream::connect(proxy.host_port.as_str())
        .await
        .map_err(unreachable)?;
    let request = connect_request(&target, proxy.credentials.as_deref());
    tcp.write_all(request.as_bytes())
        .await
        .map_err(unreachable)?;
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    // One byte at a time: nothing after the head may be taken from the tunnel.
    loop {
        let n = tcp.read(&mut byte).await.map_err(unreachable)?;
        if n == 0 {
            return Err(ProxyError::Refused(
                "the proxy closed the connection".into(),
            ));
        }
        head.push(byte[0]);
        if let Some(len) = parse_response(&head)? {
            debug_assert_eq!(len, head.len());
            return Ok(tcp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn proxy_urls_as_people_write_them() {
        let p = parse_url("http://proxy.corp:3128/").unwrap();
        assert_eq!(
            (p.host_port.as_str(), p.credentials),
            ("proxy.corp:3128", None)
        );
        let p = parse_url("http://ann:s3cret@198.18.0.9:8080").unwrap();
        assert_eq!(p.host_port, "198.18.0.9:8080");
        assert_eq!(p.credentials.as_deref(), Some("ann:s3cret"));
        assert_eq!(parse_url("proxy:3128").unwrap().host_port, "proxy:3128");
        assert_eq!(parse_url("http://proxy").unwrap().host_port, "proxy:80");
        assert_eq!(
            parse_url("http://[2001:2::1]:3128").unwrap().host_port,
            "[2001:2::1]:3128"
        );
        assert!(parse_url("socks5://proxy:1080").is_err());
        assert!(parse_url("http://").is_err());
    }

    #[test]
    fn no_proxy_exempts_the_addresses_it_names() {
        let t: SocketAddr = "198.19.0.2:443".parse().unwrap();
        assert!(exempt("localhost, 198.19.0.2", &t));
        assert!(exempt("198.19.0.2:443", &t));
        assert!(exempt("*", &t));
        assert!(!exempt("198.19.0.20,.corp", &t));
        assert!(!exempt("", &t));
    }

    /// Found by fuzzing (`proxy_response`): an empty port (`proxy:`) and a bare IPv6
    /// address became `proxy::80` and `::1:80`, names nothing can connect to; a port that
    /// is no number was kept as part of the host.
    #[test]
    fn proxy_urls_with_an_empty_a_bad_or_an_ambiguous_port() {
        assert_eq!(parse_url("http://proxy:/").unwrap().host_port, "proxy:80");
        assert_eq!(
            parse_url("http://[2001:db8::1]").unwrap().host_port,
            "[2001:db8::1]:80"
        );
        assert_eq!(
            parse_url("http://[2001:db8::1]:").unwrap().host_port,
            "[2001:db8::1]:80"
        );
        for bad in [
            "http://2001:db8::1",
            "http://proxy:abc",
            "http://[2001:db8::1",
            "http://[::1]x",
            "http://:3128",
        ] {
            assert!(
                matches!(parse_url(bad), Err(ProxyError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    /// Found by fuzzing (`proxy_response`): a bare IPv6 address was read as `host:port`
    /// (`::1` as host `:` and port 1), so `NO_PROXY=::1` never exempted `[::1]`.
    #[test]
    fn no_proxy_exempts_bare_and_bracketed_ipv6_addresses() {
        let t: SocketAddr = "[2001:db8::7]:443".parse().unwrap();
        assert!(exempt("2001:db8::7", &t));
        assert!(exempt("[2001:db8::7]", &t));
        assert!(exempt("[2001:db8::7]:443", &t));
        assert!(exempt("::1", &"[::1]:443".parse().unwrap()));
        assert!(!exempt("2001:db8::", &t));
    }

    #[test]
    fn a_2xx_opens_the_tunnel_anything_else_is_a_clear_error() {
        let ok = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n";
        assert_eq!(parse_response(&ok[..10]), Ok(None));
        assert_eq!(parse_response(ok), Ok(Some(ok.len())));
        assert!(matches!(
            parse_response(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            Err(ProxyError::Refused(s)) if s.contains("407")
        ));
        assert_eq!(parse_response(b"SSH-2.0-x\r\n"), Err(ProxyError::NotHttp));
        assert_eq!(
            parse_response(b"H").map(|_| ()),
            Ok(()),
            "a prefix of HTTP/ is not yet an error"
        );
        let long = [b"HTTP/1.1 200 OK\r\n".as_slice(), &vec![b'x'; MAX_HEAD]].concat();
        assert_eq!(parse_response(&long), Err(ProxyError::TooLong));
        let req = connect_request(&"198.19.0.2:443".parse().unwrap(), Some("ann:pw"));
        assert!(req.starts_with("CONNECT 198.19.0.2:443 HTTP/1.1\r\nHost: 198.19.0.2:443\r\n"));
        assert!(req.contains("Proxy-Authorization: Basic YW5uOnB3\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    proptest! {
        #[test]
        fn the_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..10_000)) {
            let _ = parse_response(&bytes);
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse_url(&s);
            let _ = exempt(&s, &"198.19.0.2:443".parse().unwrap());
        }
    }
}

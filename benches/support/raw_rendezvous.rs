//! The rendezvous bench's baseline: a raw quinn server on the rendezvous' own endpoint
//! settings, and the same load as the real one's phases (see `rendezvous.rs`).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use natter::Identity;
use natter::internals::transport;
use natter::rendezvous::proto::{self, Request, Response, request, response};

use super::{
    LOOKUPS, Phase, SOCKETS, TIMED, deploy, hold, percentiles, phase, registration, rss_kib,
    run_all,
};

/// A presence answer as the server sends one (a signed record), framed: what the raw
/// baseline answers to every request.
fn presence_answer() -> Vec<u8> {
    let id = Identity::generate();
    let presence = proto::Presence {
        online: true,
        record: registration(&id, &[], 1).record,
        ..Default::default()
    };
    proto::frame(&Response {
        body: Some(response::Body::Presence(presence)),
    })
}

/// Role `quinn`: the raw baseline server (see the top of this file). Runs until killed.
pub(crate) async fn raw_server() {
    let id = Identity::generate();
    let (server, _links) = transport::endpoint_for(
        &id,
        "127.0.0.1:0".parse().expect("addr"),
        proto::ALPN,
        transport::signalling_config(proto::MAX_MESSAGE, 8),
    )
    .expect("the raw server's endpoint");
    let addr = server.local_addr().expect("addr");
    println!(
        "{}",
        serde_json::json!({"addr": addr.to_string(), "key": id.peer_id().to_string()})
    );
    let answer: Arc<[u8]> = presence_answer().into();
    while let Some(incoming) = server.accept().await {
        let answer = answer.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut prefix = [0u8; 4];
                    if recv.read_exact(&mut prefix).await.is_err() {
                        return;
                    }
                    let Ok(n) = proto::check_len(prefix) else {
                        return;
                    };
                    let mut body = vec![0u8; n];
                    if recv.read_exact(&mut body).await.is_err()
                        || send.write_all(&answer).await.is_err()
                    {
                        return;
                    }
                    // Held until the client ends its side, as a registration's stream is.
                    let _ = recv.read_to_end(0).await;
                    let _ = send.finish();
                });
            }
        });
    }
}

/// One raw request on its own stream: `req` written, the framed answer read. The streams
/// are returned open.
async fn exchange(
    conn: &quinn::Connection,
    req: &[u8],
) -> Result<(quinn::SendStream, quinn::RecvStream), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(req).await.map_err(|e| e.to_string())?;
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix)
        .await
        .map_err(|e| e.to_string())?;
    let n = proto::check_len(prefix).map_err(|e| e.to_string())?;
    let mut body = vec![0u8; n];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok((send, recv))
}

/// What the raw baseline did under the same load.
pub(crate) struct RawFigures {
    pub(crate) connect: Phase,
    /// Registration-shaped requests (the same bytes), their streams held.
    pub(crate) register: Phase,
    /// Lookup-shaped requests, one at a time per client.
    pub(crate) lookup: Phase,
    pub(crate) round_trip: (f64, f64),
    pub(crate) alive: usize,
    pub(crate) hold_cpu: f64,
    pub(crate) rss_idle: u64,
    pub(crate) rss_registered: u64,
}

/// The raw baseline's phases, with the natter phases' load: `n` connections, `n`
/// registration-shaped requests whose streams stay open, `LOOKUPS` lookup-shaped requests
/// from the first 4096 clients, `TIMED` round trips one by one, then the hold.
pub(crate) async fn measure_raw(d: &deploy::Deployment, n: usize) -> RawFigures {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pids = d.pids.clone();
    let rss_idle = rss_kib(&d.nodes);
    let (key, addr) = (d.configs[0].key, d.configs[0].addr);
    let endpoints: Arc<Vec<quinn::Endpoint>> = Arc::new(
        (0..SOCKETS)
            .map(|_| {
                transport::endpoint(&Identity::generate(), "127.0.0.1:0".parse().expect("addr"))
                    .expect("endpoint")
            })
            .collect(),
    );
    let ids: Arc<Vec<Identity>> = Arc::new((0..n).map(|_| Identity::generate()).collect());
    let conns: Arc<Vec<OnceLock<quinn::Connection>>> =
        Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let conn = |conns: &[OnceLock<quinn::Connection>], i: usize| {
        conns[i]
            .get()
            .cloned()
            .ok_or_else(|| "not connected".to_string())
    };

    eprintln!("rendezvous bench, raw quinn: connecting {n} clients");
    let (e, i2, c) = (endpoints.clone(), ids.clone(), conns.clone());
    let connect = phase(
        &pids,
        n,
        run_all(n, move |i| {
            let (e, ids, c) = (e.clone(), i2.clone(), c.clone());
            async move {
                let signalling = transport::signalling_config(proto::MAX_MESSAGE, 0);
                let dialed = transport::dial_for(
                    &e[i % SOCKETS],
                    &ids[i],
                    key,
                    addr,
                    proto::ALPN,
                    signalling,
                )
                .await
                .map_err(|e| e.to_string())?;
                let _ = c[i].set(dialed);
                Ok(())
            }
        }),
    )
    .await;

    eprintln!("rendezvous bench, raw quinn: registration-shaped requests");
    let held = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let (i2, c, h) = (ids.clone(), conns.clone(), held.clone());
    let register = phase(
        &pids,
        n,
        run_all(n, move |i| {
            let (ids, c, h) = (i2.clone(), c.clone(), h.clone());
            async move {
                let req = proto::frame(&Request {
                    body: Some(request::Body::Register(registration(&ids[i], &[], 2))),
                });
                let streams = exchange(&conn(&c, i)?, &req).await?;
                h.lock().expect("lock").push(streams);
                Ok(())
            }
        }),
    )
    .await;
    let rss_registered = rss_kib(&d.nodes);

    eprintln!("rendezvous bench, raw quinn: lookup-shaped requests");
    let lookup_req: Arc<[u8]> = proto::frame(&Request {
        body: Some(request::Body::Lookup(proto::Lookup {
            target: Identity::generate().peer_id().as_bytes().to_vec(),
            token: vec![9; 32],
            signal: false,
        })),
    })
    .into();
    let lookers = n.min(4096);
    let lookup = phase(
        &pids,
        LOOKUPS,
        run_all(LOOKUPS, |i| {
            let (conn, req) = (conn(&conns, i % lookers), lookup_req.clone());
            async move {
                let (mut send, _recv) = exchange(&conn?, &req).await?;
                let _ = send.finish();
                Ok(())
            }
        }),
    )
    .await;
    let one = conn(&conns, 1 % n).expect("client 1 connected");
    let mut times = Vec::with_capacity(TIMED);
    for _ in 0..TIMED {
        let t = Instant::now();
        if let Ok((mut send, _recv)) = exchange(&one, &lookup_req).await {
            times.push(t.elapsed().as_secs_f64() * 1e6);
            let _ = send.finish();
        }
    }
    let round_trip = percentiles(times);

    eprintln!("rendezvous bench, raw quinn: holding");
    let (_, hold_cpu) = hold(&pids).await;
    let alive = conns
        .iter()
        .filter(|c| c.get().is_some_and(|c| c.close_reason().is_none()))
        .count();
    drop(held);
    RawFigures {
        connect,
        register,
        lookup,
        round_trip,
        alive,
        hold_cpu,
        rss_idle,
        rss_registered,
    }
}

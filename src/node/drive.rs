//! Owns the inner loop of one session: bytes in and out of the control stream, node
//! commands, timers, and the store work and events each session event implies.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Event;
use super::conn::{Conn, RunEnd, end_of};
use super::flood::Kind;
use super::state::{Cmd, Live, Msg};
use crate::model::Path;
use crate::session::{self, IncomingChat, Session, SessionEvent};
use crate::store::{self, Received};
use crate::transport::CLOSE_REPLACED;
use crate::wire::GoodbyeCode;

type Tx = mpsc::UnboundedSender<Cmd>;

const DUPLICATE: &str = "duplicate connection; the other one is kept";
const BLOCKED: &str = "blocked";
/// Most bytes taken from the session ahead of the stream: the rest waits in the session,
/// which reads the next outbox window only when little waits (`session::FLUSH_ROOM`).
const WRITE_AHEAD: usize = 64 * 1024;
/// How long the goodbye may take to write when the session ends.
const GOODBYE_WRITE: Duration = Duration::from_secs(1);

impl Conn {
    fn emit(&self, e: Event) {
        let _ = self.inner.events.send(e);
    }

    /// Runs the session until it ends; returns why it ended.
    ///
    /// The stream is read and written at once: writing waits on the peer's flow control, and
    /// a peer that is itself busy writing its own backlog reads only while it waits. Two
    /// sides that each wrote everything before reading again would both stall for good.
    pub(super) async fn drive(
        &mut self,
        mut session: Session,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) -> RunEnd {
        let (tx, mut cmds) = mpsc::unbounded_channel();
        let mut buf = vec![0u8; 32 * 1024];
        // Bytes the session produced that the stream has not taken yet, from `at`.
        let (mut out, mut at) = (Vec::<u8>::new(), 0usize);
        let reason = loop {
            // Whatever the stream takes now goes out before the next store round trip (an
            // ack must not wait behind the next batch); what it cannot take waits below.
            if let Err(end) = self.write_ready(&mut session, &mut send, &mut out, &mut at) {
                break end;
            }
            let events: Vec<SessionEvent> = std::iter::from_fn(|| session.poll_event()).collect();
            if !events.is_empty() {
                match self.handle(&mut session, events, &tx).await {
                    Ok(()) => continue,
                    Err(reason) if reason == DUPLICATE => break RunEnd::Duplicate,
                    Err(reason) => break RunEnd::Failed(reason),
                }
            }
            if self.may_send() && self.flush(&mut session).await {
                continue;
            }
            let deadline = session.poll_timeout();
            tokio::select! {
                w = send.write(&out[at..]), if at < out.len() => match w {
                    Ok(n) => {
                        at += n;
                        if at == out.len() {
                            // Keep the allocation: under load it fills again at once.
                            out.clear();
                            at = 0;
                        }
                    }
                    Err(quinn::WriteError::ConnectionLost(e)) => break end_of(&self.conn, &e),
                    Err(e) => break RunEnd::Failed(format!("connection lost: {e}")),
                },
                r = recv.read(&mut buf), if self.reading() => match r {
                    Ok(Some(n)) => session.handle_bytes(&buf[..n], Instant::now()),
                    Ok(None) => session.handle_end(),
                    Err(quinn::ReadError::ConnectionLost(e)) => break end_of(&self.conn, &e),
                    Err(e) => break RunEnd::Failed(format!("connection lost: {e}")),
                },
                Some(cmd) = cmds.recv() => self.commands(&mut session, cmd, &mut cmds).await,
                Ok(stream) = self.conn.accept_uni(), if self.registered => self.incoming_file(stream, &tx),
                _ = sleep_until(deadline), if deadline.is_some() => session.handle_timeout(Instant::now()),
                _ = sleep_until(self.held_until()), if self.held_until().is_some() => {
                    let held = self.release();
                    if let Err(reason) = self.receive(&mut session, held).await {
                        break RunEnd::Failed(reason);
                    }
                }
            }
        };
        // Say goodbye (if the session queued one) and give the peer a moment to hear it.
        while let Some(bytes) = session.poll_transmit() {
            out.extend_from_slice(&bytes);
        }
        let _ = tokio::time::timeout(GOODBYE_WRITE, send.write_all(&out[at..])).await;
        let _ = send.finish();
        let _ = tokio::time::timeout(Duration::from_millis(500), self.conn.closed()).await;
        reason
    }

    /// Moves the session's bytes into the stream as far as flow control lets it now, without
    /// waiting; keeps at most [`WRITE_AHEAD`] taken from the session and not yet written.
    fn write_ready(
        &self,
        session: &mut Session,
        send: &mut quinn::SendStream,
        out: &mut Vec<u8>,
        at: &mut usize,
    ) -> Result<(), RunEnd> {
        loop {
            while out.len() - *at < WRITE_AHEAD
                && let Some(bytes) = session.poll_transmit()
            {
                out.extend_from_slice(&bytes);
            }
            if *at == out.len() {
                return Ok(());
            }
            match write_now(send, &out[*at..]) {
                Some(Ok(0)) | None => return Ok(()),
                Some(Ok(n)) => {
                    *at += n;
                    if *at == out.len() {
                        // Keep the allocation: under load it fills again at once.
                        out.clear();
                        *at = 0;
                    }
                }
                Some(Err(quinn::WriteError::ConnectionLost(e))) => {
                    return Err(end_of(&self.conn, &e));
                }
                Some(Err(e)) => return Err(RunEnd::Failed(format!("connection lost: {e}"))),
            }
        }
    }

    /// Runs `first` and every command already waiting, in order. A flush only tells the
    /// session the outbox changed: the loop reads it once for a run of sends (each read is a
    /// store round trip), when the session asks for it. A message handed over as it was
    /// queued is written at once when it is the next one (no read at all).
    async fn commands(
        &mut self,
        session: &mut Session,
        first: Cmd,
        waiting: &mut mpsc::UnboundedReceiver<Cmd>,
    ) {
        let mut next = Some(first);
        let mut sent = Vec::new();
        while let Some(cmd) = next {
            match cmd {
                Cmd::Queued(chat) if self.may_send() && session.outbox_queued(&chat) => {
                    sent.push(uuid::Uuid::from_bytes(chat.msg_id).to_string());
                }
                cmd => self.command(session, cmd).await,
            }
            next = waiting.try_recv().ok();
        }
        if !sent.is_empty() {
            self.emit(Event::MessageSent {
                peer: self.peer,
                ids: sent,
            });
        }
    }

    async fn command(&mut self, session: &mut Session, cmd: Cmd) {
        match cmd {
            Cmd::Flush | Cmd::Queued(_) => session.outbox_changed(),
            Cmd::File(frame) => session.send_file(frame),
            Cmd::Room(frame) => session.send_room(frame),
            Cmd::Refresh => {
                self.refresh().await;
                self.accepted_maybe();
                session.outbox_changed();
            }
            Cmd::Typing(state) => session.send_typing(state),
            Cmd::Read(seq) => session.send_read(seq),
            Cmd::Presence(status, text) => session.send_presence(status.on_wire(), &text),
            Cmd::Close(code) => {
                let code = if code == CLOSE_REPLACED {
                    GoodbyeCode::Replaced
                } else {
                    GoodbyeCode::Normal
                };
                session.close(code, "");
            }
        }
    }

    async fn handle(
        &mut self,
        session: &mut Session,
        events: Vec<SessionEvent>,
        tx: &Tx,
    ) -> Result<(), String> {
        // Frames in flight when a block landed die here, unread (the block also closes the
        // session, but its command may be queued behind them).
        if self.inner.blocked.contains(&self.peer) {
            return Err(BLOCKED.into());
        }
        let mut chats = Vec::new();
        for event in events {
            if let SessionEvent::Chat(c) = event {
                // A room member who is no contact: room traffic only.
                if !self.room_only || self.is_contact {
                    chats.push(c);
                }
                continue;
            }
            if !chats.is_empty() {
                self.receive(session, std::mem::take(&mut chats)).await?;
            }
            self.event(session, event, tx).await?;
        }
        if !chats.is_empty() {
            self.receive(session, chats).await?;
        }
        Ok(())
    }

    async fn event(
        &mut self,
        session: &mut Session,
        event: SessionEvent,
        tx: &Tx,
    ) -> Result<(), String> {
        let (me, peer) = (self.inner.me, self.peer);
        match event {
            SessionEvent::Established(n) => {
                // What kind of path this connection is, and the address it really talks to
                // (the relay's, when relayed). Either side's word makes it relayed: both
                // announce it in Hello, before any message.
                let (mut path, mut via, remote) =
                    super::relay::session_path(&self.inner, self.conn.remote_address());
                if n.peer_path == Path::Relayed.as_str() && path != Path::Relayed {
                    path = Path::Relayed;
                    via = Some(n.peer_via.clone()).filter(|v| !v.is_empty());
                }
                let Some(admitted) = self
                    .register(n.peer_boot_id.clone(), tx, (path, remote))
                    .await
                else {
                    session.close(
                        GoodbyeCode::Replaced,
                        "another connection between us is kept",
                    );
                    return Err(DUPLICATE.into());
                };
                // The contact entry may have changed since the connection came in.
                self.refresh().await;
                self.emit(Event::Connected {
                    peer,
                    session_id: data_encoding::HEXLOWER.encode(&session_id_of(&self.conn)),
                    version: n.version,
                    features: n.features.clone(),
                    direction: if self.outgoing {
                        "outgoing"
                    } else {
                        "incoming"
                    },
                    path,
                    remote,
                    via,
                });
                if n.peer_acked_seq > 0 {
                    self.acked(n.peer_acked_seq).await?;
                }
                if n.peer_read_seq > 0 {
                    self.read(n.peer_read_seq).await?;
                }
                if self.talks {
                    self.emit(Event::Presence {
                        peer,
                        status: n.status,
                        text: n.status_text.clone(),
                    });
                }
                // A typing state sent on a connection that was just replaced would be lost.
                if let Some(state) = admitted.typing {
                    session.send_typing(state);
                }
                // Likewise a presence change made after this session's Hello was written.
                let (status, text) = admitted.presence;
                let status = status.on_wire();
                if session.presence() != (status, text.as_str()) {
                    session.send_presence(status, &text);
                }
                self.resume_files(session).await;
                self.rooms_on_session(tx).await;
            }
            SessionEvent::Chat(_) => {}
            SessionEvent::File(frame) => self.file_frame(frame, tx).await,
            SessionEvent::Room(frame) => self.room_frame(frame, tx).await,
            SessionEvent::Acked(seq) => {
                if self.new_ack(seq) {
                    self.acked(seq).await?;
                }
            }
            SessionEvent::Read(seq) => {
                if let Some(seq) = self.receipt(seq) {
                    self.read(seq).await?;
                }
            }
            SessionEvent::Typing(state) => {
                if self.allows(Kind::Typing) && self.talks_now().await {
                    self.emit(Event::Typing { peer, state });
                }
            }
            SessionEvent::Presence(status, text) => {
                if self.allows(Kind::Presence) && self.talks_now().await {
                    self.emit(Event::Presence { peer, status, text });
                }
            }
            SessionEvent::Closed(e) => {
                let _ = me;
                return Err(e.to_string());
            }
        }
        Ok(())
    }

    /// Asks the node's policy whether the peer is an accepted contact now (and whether we
    /// talk with it as with one: the privacy mode `everyone`).
    async fn refresh(&mut self) {
        let peer = self.peer;
        if let Some((contact, talks)) = self
            .inner
            .actor
            .ask(|reply| Msg::IsContact(peer, reply))
            .await
        {
            self.is_contact = contact;
            self.talks = talks;
        }
    }

    /// Whether the peer is a contact. A "no" is asked again: the user may have just accepted
    /// them, and the refresh command can be behind a frame in the queue.
    pub(super) async fn is_contact_now(&mut self) -> bool {
        if !self.is_contact {
            self.refresh().await;
        }
        self.is_contact
    }

    /// Whether we talk with the peer as with a contact (see [`Conn::refresh`]), asked again
    /// like [`Conn::is_contact_now`].
    async fn talks_now(&mut self) -> bool {
        if !self.talks {
            self.refresh().await;
        }
        self.talks
    }

    /// The one-session-per-peer rule, applied by the node's task. `None`: this connection
    /// must yield.
    async fn register(
        &mut self,
        peer_boot: Vec<u8>,
        tx: &Tx,
        (path, remote): (Path, SocketAddr),
    ) -> Option<super::state::Admitted> {
        let dialer = if self.outgoing {
            self.inner.me
        } else {
            self.peer
        };
        let live = Live {
            conn_id: self.id,
            who: session::Live {
                dialer,
                peer_boot,
                relayed: path == Path::Relayed,
            },
            cmds: tx.clone(),
            path,
            remote,
            outgoing: self.outgoing,
        };
        let peer = self.peer;
        let admitted = self
            .inner
            .actor
            .ask(|reply| Msg::Register { peer, live, reply })
            .await
            .flatten();
        tracing::debug!(
            conn = self.id,
            outgoing = self.outgoing,
            kept = admitted.is_some(),
            "registered"
        );
        self.registered = admitted.is_some();
        admitted
    }

    /// Stores the chats the limits let through (a stranger's: as many as its tokens and its
    /// room in the requests inbox allow; the rest are held), then acks them.
    pub(super) async fn receive(
        &mut self,
        session: &mut Session,
        chats: Vec<IncomingChat>,
    ) -> Result<(), String> {
        let mut chats = self.admit_chats(chats);
        if chats.is_empty() {
            return Ok(());
        }
        let (me, peer, is_contact) = (self.inner.me, self.peer, self.is_contact);
        let blocked = self.inner.blocked.clone();
        let result = self
            .inner
            .store
            .call(move |c| {
                // Asked inside the job: a block is written (and listed) by a job of its own,
                // so chats stored after it are none.
                if blocked.contains(&peer) {
                    return Ok(None);
                }
                let mut wait = Vec::new();
                if !is_contact {
                    let room = super::throttle::request_room(c, &me, &peer, chats.len())?;
                    wait = chats.split_off(room);
                    if chats.is_empty() {
                        return Ok(Some((Vec::new(), None, None, wait)));
                    }
                }
                let (outcomes, ack) = store::receive(c, &me, &peer, &chats)?;
                let new_request = match !is_contact && store::add_request(c, &peer)? {
                    true => store::get_contact(c, &peer)?,
                    false => None,
                };
                Ok(Some((outcomes, Some(ack), new_request, wait)))
            })
            .await;
        let (outcomes, ack, new_request, wait) = result
            .map_err(|e| {
                if e.is_disk_full() {
                    self.disk_full();
                }
                format!("could not store messages: {e}")
            })?
            .ok_or_else(|| BLOCKED.to_string())?;
        self.hold_for_acceptance(wait);
        if let Some(request) = new_request {
            self.emit(Event::RequestReceived { peer, request });
        }
        for o in outcomes {
            match o {
                Received::Stored(message) => self.emit(Event::MessageReceived { message }),
                Received::Duplicate => tracing::debug!("duplicate message ignored"),
                Received::OutOfOrder { expected, got } => {
                    tracing::debug!(expected, got, "message out of order ignored")
                }
            }
        }
        // Only after the commit: the ack promises the messages are on disk.
        if let Some(ack) = ack {
            session.send_ack(ack);
        }
        Ok(())
    }

    async fn acked(&mut self, seq: u64) -> Result<(), String> {
        let (me, peer) = (self.inner.me, self.peer);
        let ids = self
            .inner
            .store
            // "Delivered" is the peer's word that the messages are on its disk: it is told
            // before our own record of it is committed. Lost in a crash, it is made again
            // by the peer's next ack (its Hello carries how far it has stored).
            .call_early(move |c| store::apply_ack(c, &me, &peer, seq))
            .await
            .map_err(|e| e.to_string())?;
        if !ids.is_empty() {
            self.emit(Event::MessageDelivered { peer, ids });
        }
        Ok(())
    }

    async fn read(&mut self, seq: u64) -> Result<(), String> {
        let (me, peer) = (self.inner.me, self.peer);
        let ids = self
            .inner
            .store
            .call(move |c| store::apply_read(c, &me, &peer, seq))
            .await
            .map_err(|e| e.to_string())?;
        if !ids.is_empty() {
            self.emit(Event::MessageRead { peer, ids });
        }
        Ok(())
    }

    /// Whether our messages may go out on this session: to a contact (or anyone, in the
    /// privacy mode `everyone`), on the live one.
    fn may_send(&self) -> bool {
        self.talks && self.registered
    }

    /// Does the outbox read the session asks for, if any; returns whether it did one.
    async fn flush(&mut self, session: &mut Session) -> bool {
        let Some(read) = session.poll_outbox() else {
            return false;
        };
        let (me, peer) = (self.inner.me, self.peer);
        let pending = self
            .inner
            .store
            .call(move |c| {
                store::unacked_after(c, &me, &peer, read.after, read.limit, read.max_bytes)
            })
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "outbox not read; it waits for the next send");
                Vec::new()
            });
        let ids: Vec<String> = session
            .handle_outbox(&pending)
            .into_iter()
            .map(|id| uuid::Uuid::from_bytes(id).to_string())
            .collect();
        // "Sent" is reported, not written: it would cost an fsync on every message, and after
        // a crash an unacked message is re-sent anyway. On disk it stays queued until acked.
        if !ids.is_empty() {
            self.emit(Event::MessageSent { peer, ids });
        }
        true
    }

    /// Tells the user the disk is full, at most once a minute: messages cannot be received
    /// (their senders keep them) until there is room.
    fn disk_full(&self) {
        let now = super::rendezvous::now_ms();
        let last = self.inner.disk_full_told.load(Ordering::SeqCst);
        if now.saturating_sub(last) >= 60_000
            && self
                .inner
                .disk_full_told
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            tracing::warn!("the disk is full: messages cannot be stored");
            self.emit(Event::Error {
                message: crate::store::DISK_FULL.to_string(),
            });
        }
    }

    /// Leaves the session table (if this connection is the live one) and reports; a
    /// contact is dialled again.
    pub(super) fn finish(self, reason: String) {
        let redial = self.is_contact && !self.inner.shutdown.load(Ordering::SeqCst);
        super::lock(&self.inner.rooms_fresh).gone(&self.peer, self.id);
        // The node's task reports `Disconnected` if this was the live session (a connection
        // replaced by a newer one leaves quietly: the peer is still connected).
        self.inner.actor.tell(Msg::Leave {
            peer: self.peer,
            conn_id: self.id,
            redial,
            reason: reason.clone(),
        });
        self.conn.close(
            quinn::VarInt::from_u32(super::super::transport::CLOSE_NORMAL),
            b"",
        );
        tracing::debug!(%reason, "session ended");
    }
}

fn session_id_of(conn: &quinn::Connection) -> [u8; 16] {
    crate::transport::session_id(conn).unwrap_or_default()
}

/// One write attempt that does not wait: `None` when flow control has no room now. (The
/// loop's `select!` waits for room with a real waker; quinn's `write` is cancel-safe.)
fn write_now(send: &mut quinn::SendStream, buf: &[u8]) -> Option<Result<usize, quinn::WriteError>> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(send.write(buf)).poll(&mut cx) {
        std::task::Poll::Ready(r) => Some(r),
        std::task::Poll::Pending => None,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

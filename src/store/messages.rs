//! Owns conversations, messages, the outbox and the FTS5 index: the durable half of
//! delivery (outbox before "queued", store before "ack", strict per-sender order, idempotent
//! receive).

use super::{StoreError, now_ms};
use crate::identity::PeerId;
use crate::model::{Message, MessageState};
use crate::session::{Incarnation, IncomingChat, OutgoingChat, conversation_id};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn uuid_text(bytes: &[u8]) -> String {
    <[u8; 16]>::try_from(bytes)
        .map(|b| uuid::Uuid::from_bytes(b).to_string())
        .unwrap_or_default()
}

/// Creates the conversation row with a peer if missing; returns its id.
pub fn ensure_conversation(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
) -> Result<[u8; 16], StoreError> {
    let id = conversation_id(local, peer);
    // A new conversation row is a new incarnation of our side of it (see `Streams`).
    conn.prepare_cached(
        "INSERT OR IGNORE INTO conversations (id, peer_id, out_incarnation) VALUES (?1, ?2, randomblob(16))",
    )?
    .execute(params![&id[..], peer])?;
    Ok(id)
}

/// `read` of the conversation's row, made first if there is none yet (one lookup on every
/// send and receive, rather than an insert that is ignored).
fn existing<T>(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    read: impl Fn(&Connection) -> rusqlite::Result<Option<T>>,
) -> Result<T, StoreError> {
    if let Some(found) = read(conn)? {
        return Ok(found);
    }
    ensure_conversation(conn, local, peer)?;
    read(conn)?.ok_or_else(|| StoreError::Corrupt("the conversation row was not made".into()))
}

/// What a session with a peer starts from: our incarnation and how far we have stored and
/// read the peer's current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Streams {
    /// Our incarnation: our sequence numbers to this peer count in it.
    pub out_incarnation: Incarnation,
    /// The peer's incarnation we last received from (None: nothing received yet).
    pub in_incarnation: Option<Incarnation>,
    /// Highest contiguous seq of the peer's messages stored.
    pub in_seq: u64,
    /// Highest seq of the peer's messages read.
    pub in_read_seq: u64,
}

/// The conversation's [`Streams`], creating the conversation (and our incarnation) if new.
pub fn streams(conn: &Connection, local: &PeerId, peer: &PeerId) -> Result<Streams, StoreError> {
    let conv = ensure_conversation(conn, local, peer)?;
    let (out, inc, in_seq, in_read): (Option<Vec<u8>>, Option<Vec<u8>>, i64, i64) = conn
        .prepare_cached(
            "SELECT out_incarnation, in_incarnation, in_seq, in_read_seq FROM conversations WHERE id = ?1",
        )?
        .query_row([&conv[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let incarnation = |b: Option<Vec<u8>>| b.and_then(|b| Incarnation::try_from(b.as_slice()).ok());
    let out_incarnation = match incarnation(out) {
        Some(i) => i,
        None => {
            return Err(StoreError::Corrupt(
                "a conversation has no incarnation".into(),
            ));
        }
    };
    Ok(Streams {
        out_incarnation,
        in_incarnation: incarnation(inc),
        in_seq: in_seq.max(0) as u64,
        in_read_seq: in_read.max(0) as u64,
    })
}

/// Commits a new outgoing message to the outbox; after this returns it is "queued".
pub fn enqueue(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    text: &str,
) -> Result<Message, StoreError> {
    // A read and a plain update: `RETURNING` costs SQLite ~15-30 µs a statement (an
    // ephemeral table and a trigger program per call), on every send.
    let conv = conversation_id(local, peer);
    let seq: i64 = existing(conn, local, peer, |conn| {
        conn.prepare_cached("SELECT next_out_seq FROM conversations WHERE id = ?1")?
            .query_row([&conv[..]], |r| r.get(0))
            .optional()
    })?;
    conn.prepare_cached("UPDATE conversations SET next_out_seq = ?2 WHERE id = ?1")?
        .execute(params![&conv[..], seq + 1])?;
    let id = uuid::Uuid::now_v7();
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO messages (conversation, msg_id, sender, outgoing, seq, sent_ms, ts_ms, text, state)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5, ?6, 'queued')",
    )?
    .execute(params![&conv[..], &id.as_bytes()[..], local, seq, now, text])?;
    let row = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO outbox (conversation, seq, message) VALUES (?1, ?2, ?3)")?
        .execute(params![&conv[..], seq, row])?;
    Ok(Message {
        id: id.to_string(),
        peer: *peer,
        sender: *local,
        outgoing: true,
        seq: seq as u64,
        sent_ms: now,
        ts_ms: now,
        text: text.into(),
        state: MessageState::Queued,
        mailbox: None,
        stored_until_ms: None,
        expired: false,
    })
}

/// Every unacknowledged outgoing message to a peer, in sequence order.
#[cfg(any(test, feature = "testing"))]
pub fn unacked(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
) -> Result<Vec<OutgoingChat>, StoreError> {
    outbox(conn, local, peer, "", 0, usize::MAX, usize::MAX)
}

/// Unacknowledged outgoing messages to a peer after sequence number `after` (those not yet
/// written to this session), in sequence order: at most `limit`, ending with the one that
/// brings their texts to `max_bytes` (see `session::OutboxRead`).
pub fn unacked_after(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    after: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<OutgoingChat>, StoreError> {
    outbox(conn, local, peer, "", after, limit, max_bytes)
}

/// At most `limit` outbox messages to a peer after sequence number `after`, matching
/// `filter` (a fixed SQL condition on `m`, or empty), ending with the one whose text brings
/// the total to `max_bytes` (the rest is never read). Each carries the lowest seq in the
/// outbox as its `base_seq`: below it there is nothing left to send.
fn outbox(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    filter: &str,
    after: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<OutgoingChat>, StoreError> {
    let conv = conversation_id(local, peer);
    let mut stmt = conn.prepare_cached(&outbox_sql(filter))?;
    let rows = stmt.query_map(params![&conv[..], after as i64], |r| {
        let id: Vec<u8> = r.get(0)?;
        Ok(OutgoingChat {
            msg_id: <[u8; 16]>::try_from(id.as_slice()).unwrap_or([0; 16]),
            seq: r.get::<_, i64>(1)? as u64,
            timestamp_ms: r.get::<_, i64>(2)? as u64,
            text: r.get(3)?,
            base_seq: r.get::<_, Option<i64>>(4)?.unwrap_or(0).max(0) as u64,
        })
    })?;
    let (mut out, mut bytes) = (Vec::new(), 0usize);
    for row in rows.take(limit) {
        let m = row?;
        bytes += m.text.len();
        out.push(m);
        if bytes >= max_bytes {
            break;
        }
    }
    Ok(out)
}

/// What an outbox read would return for a message [`enqueue`] just put in the outbox: the
/// session can write it without reading it back. Its base is the lowest seq in the outbox
/// now (one that only grows as acks come, so it never promises too much).
pub fn as_outgoing(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    message: &Message,
) -> Result<OutgoingChat, StoreError> {
    let conv = conversation_id(local, peer);
    let base: Option<i64> = conn
        .prepare_cached("SELECT min(seq) FROM outbox WHERE conversation = CAST(?1 AS BLOB)")?
        .query_row([&conv[..]], |r| r.get(0))?;
    let id = uuid::Uuid::parse_str(&message.id)
        .map_err(|e| StoreError::Corrupt(format!("message id {}: {e}", message.id)))?;
    Ok(OutgoingChat {
        msg_id: id.into_bytes(),
        seq: message.seq,
        timestamp_ms: message.sent_ms.max(0) as u64,
        text: message.text.clone(),
        base_seq: base.unwrap_or(0).max(0) as u64,
    })
}

/// The outbox read of [`outbox`] with its `filter`. The base is one scalar subquery,
/// evaluated once per statement.
///
/// Read before every send, so it must stay prepared. SQLite 3.54 re-prepares a statement at
/// each call (parse and plan again: half the cost of the read) when a bare parameter is
/// compared with the blob key an `ORDER BY`/`min()` walks, or is the `LIMIT`: the key is
/// `CAST(?1 AS BLOB)`, and the caller stops reading at its limit instead (the rows come in
/// index order, one at a time). `store::tests` checks it is never re-prepared.
pub(super) fn outbox_sql(filter: &str) -> String {
    format!(
        "SELECT m.msg_id, m.seq, m.sent_ms, m.text,
                (SELECT min(seq) FROM outbox WHERE conversation = CAST(?1 AS BLOB))
         FROM outbox o JOIN messages m ON m.id = o.message
         WHERE o.conversation = CAST(?1 AS BLOB) AND o.seq > ?2 {filter} ORDER BY o.seq"
    )
}

/// Marks queued messages up to `seq` as sent; returns the ids that changed.
#[cfg(any(test, feature = "testing"))]
pub fn mark_sent(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    up_to: u64,
) -> Result<Vec<String>, StoreError> {
    advance(
        conn,
        local,
        peer,
        0..=up_to,
        &["queued"],
        MessageState::Sent,
    )
}

/// Moves our messages with a sequence number in `seqs` from one of the states `from` to
/// `to`. The range starts past what an earlier ack or receipt already moved: without a lower
/// bound every ack walked the conversation's whole outgoing history (quadratic over a long
/// conversation).
fn advance(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    seqs: std::ops::RangeInclusive<u64>,
    from: &[&str],
    to: MessageState,
) -> Result<Vec<String>, StoreError> {
    let conv = conversation_id(local, peer);
    let placeholders = from
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(",");
    // The rows are read, then changed by the same condition in the same transaction (a
    // `RETURNING` would cost more than both: see `enqueue`).
    let which = format!(
        "WHERE conversation = ?1 AND outgoing = 1 AND seq BETWEEN ?2 AND ?3
         AND state IN ({placeholders})"
    );
    let (low, high) = (*seqs.start() as i64, *seqs.end() as i64);
    let ids = conn
        .prepare_cached(&format!("SELECT msg_id FROM messages {which}"))?
        .query_map(params![&conv[..], low, high], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if !ids.is_empty() {
        conn.prepare_cached(&format!("UPDATE messages SET state = ?4 {which}"))?
            .execute(params![&conv[..], low, high, to.as_str()])?;
    }
    let mut ids: Vec<String> = ids.iter().map(|b| uuid_text(b)).collect();
    ids.sort();
    Ok(ids)
}

/// Applies a cumulative ack: those messages leave the outbox and become delivered.
pub fn apply_ack(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    up_to: u64,
) -> Result<Vec<String>, StoreError> {
    let conv = conversation_id(local, peer);
    let (before, highest) = previous(conn, &conv, "out_acked_seq")?;
    let up_to = up_to.min(highest);
    conn.prepare_cached("DELETE FROM outbox WHERE conversation = ?1 AND seq <= ?2")?
        .execute(params![&conv[..], up_to as i64])?;
    conn.prepare_cached(
        "UPDATE conversations SET out_acked_seq = max(out_acked_seq, ?2) WHERE id = ?1",
    )?
    .execute(params![&conv[..], up_to as i64])?;
    advance(
        conn,
        local,
        peer,
        before + 1..=up_to,
        &["queued", "sent", "stored"],
        MessageState::Delivered,
    )
}

/// How far an earlier ack or receipt reached in a conversation (`column` of
/// `conversations`; 0 when there is none yet), and the highest seq we have given a message
/// there: no ack or receipt counts past it (a peer's position from another incarnation of
/// ours must not mark new messages). One read: acks are the hottest path after sends.
fn previous(conn: &Connection, conv: &[u8], column: &str) -> Result<(u64, u64), StoreError> {
    let sql = match column {
        "out_acked_seq" => "SELECT out_acked_seq, next_out_seq FROM conversations WHERE id = ?1",
        _ => "SELECT out_read_seq, next_out_seq FROM conversations WHERE id = ?1",
    };
    let v: Option<(i64, i64)> = conn
        .prepare_cached(sql)?
        .query_row([conv], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (before, next) = v.unwrap_or((0, 1));
    Ok((before.max(0) as u64, next.max(1) as u64 - 1))
}

/// Applies a cumulative read receipt.
pub fn apply_read(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    up_to: u64,
) -> Result<Vec<String>, StoreError> {
    let conv = conversation_id(local, peer);
    let (before, highest) = previous(conn, &conv, "out_read_seq")?;
    let up_to = up_to.min(highest);
    conn.prepare_cached(
        "UPDATE conversations SET out_read_seq = max(out_read_seq, ?2) WHERE id = ?1",
    )?
    .execute(params![&conv[..], up_to as i64])?;
    // A read message was delivered: the outbox copy can go too.
    conn.prepare_cached("DELETE FROM outbox WHERE conversation = ?1 AND seq <= ?2")?
        .execute(params![&conv[..], up_to as i64])?;
    advance(
        conn,
        local,
        peer,
        before + 1..=up_to,
        &["queued", "sent", "stored", "delivered"],
        MessageState::Read,
    )
}

/// What became of each received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// New: stored now.
    Stored(Message),
    /// Already stored earlier (a re-send or a replay): not stored twice.
    Duplicate,
    /// Ahead of the next expected sequence number: not stored (the sender re-sends in order).
    OutOfOrder {
        /// The seq that was expected.
        expected: u64,
        /// The seq that came.
        got: u64,
    },
}

/// Stores received messages in order; returns each outcome and the new cumulative ack.
pub fn receive(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    chats: &[IncomingChat],
) -> Result<(Vec<Received>, u64), StoreError> {
    receive_via(conn, local, peer, chats, None)
}

/// [`receive`] for messages that came sealed through the mailbox of `mailbox` (a
/// rendezvous, `HOST:PORT`): stored with it, so its recipient is told of that server.
pub fn receive_via(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    chats: &[IncomingChat],
    mailbox: Option<&str>,
) -> Result<(Vec<Received>, u64), StoreError> {
    let conv = conversation_id(local, peer);
    let (mut in_seq, mut in_read_seq, mut incarnation): (u64, u64, Option<Vec<u8>>) =
        existing(conn, local, peer, |conn| {
            conn.prepare_cached(
                "SELECT in_seq, in_read_seq, in_incarnation FROM conversations WHERE id = ?1",
            )?
            .query_row([&conv[..]], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get(2)?,
                ))
            })
            .optional()
        })?;
    let mut out = Vec::with_capacity(chats.len());
    let now = now_ms();
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO messages (conversation, msg_id, sender, outgoing, seq, sent_ms, ts_ms, text, state, mailbox)
         VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7, 'received', ?8)",
    )?;
    for c in chats {
        // The sender started over (a new database): its new stream counts from scratch.
        // Message ids still keep anything seen before from being stored twice.
        if let Some(inc) = c.incarnation
            && incarnation.as_deref() != Some(&inc[..])
        {
            tracing::debug!(in_seq, "the peer started a new incarnation");
            incarnation = Some(inc.to_vec());
            (in_seq, in_read_seq) = (0, 0);
        }
        // The sender will never send what lies below its base: move past the gap.
        if c.base_seq > in_seq + 1 {
            in_seq = c.base_seq - 1;
        }
        if c.seq <= in_seq {
            out.push(Received::Duplicate);
            continue;
        }
        if c.seq != in_seq + 1 {
            out.push(Received::OutOfOrder {
                expected: in_seq + 1,
                got: c.seq,
            });
            continue;
        }
        let n = insert.execute(params![
            &conv[..],
            &c.msg_id[..],
            peer,
            c.seq as i64,
            c.timestamp_ms as i64,
            now,
            c.text,
            mailbox
        ])?;
        in_seq = c.seq;
        if n == 0 {
            // Same message id under a new seq: a replay. Never a second row.
            out.push(Received::Duplicate);
            continue;
        }
        out.push(Received::Stored(Message {
            id: uuid_text(&c.msg_id),
            peer: *peer,
            sender: *peer,
            outgoing: false,
            seq: c.seq,
            sent_ms: c.timestamp_ms as i64,
            ts_ms: now,
            text: c.text.clone(),
            state: MessageState::Received,
            mailbox: mailbox.map(str::to_string),
            stored_until_ms: None,
            expired: false,
        }));
    }
    let stored = out
        .iter()
        .filter(|r| matches!(r, Received::Stored(_)))
        .count();
    conn.prepare_cached(
        "UPDATE conversations SET in_seq = ?2, in_read_seq = min(?3, ?2), in_incarnation = ?4,
             unread = unread + ?5 WHERE id = ?1",
    )?
    .execute(params![
        &conv[..],
        in_seq as i64,
        in_read_seq as i64,
        incarnation,
        stored as i64
    ])?;
    Ok((out, in_seq))
}

/// Delivery and read positions of a conversation: (in_seq, in_read_seq).
pub fn positions(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
) -> Result<(u64, u64), StoreError> {
    let conv = conversation_id(local, peer);
    let row = conn
        .query_row(
            "SELECT in_seq, in_read_seq FROM conversations WHERE id = ?1",
            [&conv[..]],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .optional()?;
    Ok(row.unwrap_or((0, 0)))
}

/// How many messages from a peer are stored (whatever their incarnation).
pub fn incoming_count(conn: &Connection, local: &PeerId, peer: &PeerId) -> Result<u64, StoreError> {
    let conv = conversation_id(local, peer);
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM messages WHERE conversation = ?1 AND outgoing = 0")?
        .query_row([&conv[..]], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Marks everything received from a peer as read; returns the new read position.
pub fn mark_read(conn: &Connection, local: &PeerId, peer: &PeerId) -> Result<u64, StoreError> {
    let conv = ensure_conversation(conn, local, peer)?;
    conn.prepare_cached("UPDATE conversations SET in_read_seq = in_seq, unread = 0 WHERE id = ?1")?
        .execute([&conv[..]])?;
    Ok(positions(conn, local, peer)?.1)
}

/// Deletes the history with a peer (messages, their search entries and anything unsent);
/// the conversation's sequence numbers are kept, so later messages still order and dedup.
/// Returns how many messages went.
pub fn delete_history(conn: &Connection, local: &PeerId, peer: &PeerId) -> Result<u64, StoreError> {
    let conv = conversation_id(local, peer);
    // The store runs each call inside its own (group-commit) transaction: both deletes
    // commit together.
    conn.execute("DELETE FROM outbox WHERE conversation = ?1", [&conv[..]])?;
    conn.execute(
        "UPDATE conversations SET unread = 0 WHERE id = ?1",
        [&conv[..]],
    )?;
    let n = conn.execute("DELETE FROM messages WHERE conversation = ?1", [&conv[..]])?;
    Ok(n as u64)
}

/// How many times one message is deposited in a rendezvous mailbox at most: each expiry
/// notice (the server's word, which may be a lie) puts it back for one more deposit until
/// then; after that it waits in the outbox for a session.
pub const MAILBOX_DEPOSITS: u32 = 3;

/// Unacknowledged outgoing messages to `peer` not in the mailbox now and deposited fewer
/// than [`MAILBOX_DEPOSITS`] times, in sequence order.
pub fn pending_for_mailbox(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
) -> Result<Vec<OutgoingChat>, StoreError> {
    outbox(
        conn,
        local,
        peer,
        &format!("AND m.state IN ('queued', 'sent') AND m.mailbox_expired < {MAILBOX_DEPOSITS}"),
        0,
        usize::MAX,
        usize::MAX,
    )
}

/// Sets the mailbox state of outgoing messages: `Some(until)`: stored (deposited, kept by
/// the server until then), or `None`: back to `queued` (an expiry notice: `mailbox_expired`
/// counts them). Nothing leaves the outbox: only a session's ack does that. Only messages
/// still waiting change; returns their ids.
pub fn set_mailbox_state(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    ids: &[[u8; 16]],
    stored: Option<i64>,
) -> Result<Vec<String>, StoreError> {
    let conv = conversation_id(local, peer);
    let (from, to, expired) = if stored.is_some() {
        ("('queued', 'sent')", "stored", "mailbox_expired")
    } else {
        ("('stored')", "queued", "mailbox_expired + 1")
    };
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE messages SET state = '{to}', mailbox_expired = {expired}, mailbox_until = ?3
         WHERE conversation = ?1 AND msg_id = ?2 AND outgoing = 1 AND state IN {from}"
    ))?;
    let mut out = Vec::new();
    for id in ids {
        // (conversation, msg_id) is unique: one row changed or none.
        if stmt.execute(params![&conv[..], &id[..], stored])? > 0 {
            out.push(uuid_text(id));
        }
    }
    Ok(out)
}

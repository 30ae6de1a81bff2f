//! The server's SQLite file: accounts (newest signed record + lookup tokens, so lookups and
//! deposits for an offline peer still obey its allow list after a restart) and the mailbox
//! (sealed envelopes, expiry notices). The functions here run as jobs of the database thread
//! (`writer`), each inside its own savepoint, so a multi-statement change is atomic without a
//! transaction of its own; every write is committed (synchronous=FULL) before the request is
//! answered.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::identity::PeerId;
use crate::rendezvous::proto::{AckMail, ExpiredMail, MAX_MESSAGE, Mail, MailItem, SignedRecord};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    peer BLOB PRIMARY KEY,
    record BLOB NOT NULL,
    signature BLOB NOT NULL,
    tokens BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS mail (
    id INTEGER PRIMARY KEY,
    recipient BLOB NOT NULL,
    sender BLOB NOT NULL,
    msg_id BLOB NOT NULL,
    sealed BLOB NOT NULL,
    deposited_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    UNIQUE (recipient, msg_id)
);
CREATE INDEX IF NOT EXISTS mail_expiry ON mail (expires_ms);
CREATE TABLE IF NOT EXISTS handles (
    name TEXT PRIMARY KEY,
    peer BLOB NOT NULL UNIQUE,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS expired (
    sender BLOB NOT NULL,
    recipient BLOB NOT NULL,
    msg_id BLOB NOT NULL,
    PRIMARY KEY (sender, msg_id)
);
";

/// Most items one fetch returns.
const FETCH_LIMIT: i64 = 256;

pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

type AccountRow = (PeerId, SignedRecord, HashSet<[u8; 32]>);

pub(super) fn load_accounts(conn: &Connection) -> rusqlite::Result<Vec<AccountRow>> {
    let mut stmt = conn.prepare("SELECT peer, record, signature, tokens FROM accounts")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (peer, record, signature, tokens) = row?;
        let Some(peer) = <[u8; 32]>::try_from(peer.as_slice())
            .ok()
            .and_then(|b| PeerId::from_bytes(b).ok())
        else {
            continue;
        };
        let tokens = tokens
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect();
        out.push((peer, SignedRecord { record, signature }, tokens));
    }
    Ok(out)
}

pub(super) fn save_account(
    conn: &Connection,
    peer: &PeerId,
    signed: &SignedRecord,
    tokens: &HashSet<[u8; 32]>,
) -> rusqlite::Result<()> {
    let mut flat: Vec<[u8; 32]> = tokens.iter().copied().collect();
    flat.sort();
    let flat: Vec<u8> = flat.concat();
    conn.execute(
        "INSERT INTO accounts (peer, record, signature, tokens) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (peer) DO UPDATE SET record = ?2, signature = ?3, tokens = ?4",
        params![&peer.as_bytes()[..], signed.record, signed.signature, flat],
    )?;
    Ok(())
}

pub(super) struct Deposit<'a> {
    pub to: &'a PeerId,
    pub from: &'a PeerId,
    pub msg_id: &'a [u8; 16],
    pub sealed: &'a [u8],
    pub now: u64,
    pub expires: u64,
    pub quota_items: u32,
    pub quota_bytes: u64,
}

/// Stores a deposit; `None` when the recipient's quota is full. A second deposit of the
/// same message id is the same message (its expiry is returned).
pub(super) fn deposit(conn: &Connection, d: &Deposit<'_>) -> rusqlite::Result<Option<u64>> {
    let to = &d.to.as_bytes()[..];
    let existing: Option<i64> = conn
        .query_row(
            "SELECT expires_ms FROM mail WHERE recipient = ?1 AND msg_id = ?2",
            params![to, &d.msg_id[..]],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(e) = existing {
        return Ok(Some(e as u64));
    }
    let (items, bytes): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(length(sealed)), 0) FROM mail WHERE recipient = ?1",
        [to],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if items as u64 >= u64::from(d.quota_items)
        || bytes as u64 + d.sealed.len() as u64 > d.quota_bytes
    {
        return Ok(None);
    }
    conn.execute(
        "INSERT INTO mail (recipient, sender, msg_id, sealed, deposited_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            to,
            &d.from.as_bytes()[..],
            &d.msg_id[..],
            d.sealed,
            d.now as i64,
            d.expires as i64
        ],
    )?;
    Ok(Some(d.expires))
}

pub(super) fn has_mail(conn: &Connection, peer: &PeerId) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM mail WHERE recipient = ?1)
             OR EXISTS (SELECT 1 FROM expired WHERE sender = ?1)",
        [&peer.as_bytes()[..]],
        |r| r.get(0),
    )
}

/// The waiting mail and expiry notices for `peer`, oldest first: at most `FETCH_LIMIT` of
/// each, and no more items than keep the answer within `proto::MAX_MESSAGE` (a client
/// refuses a longer one), so a mailbox of large messages is fetched over several rounds.
pub(super) fn fetch(conn: &Connection, peer: &PeerId) -> rusqlite::Result<Mail> {
    use prost::Message as _;
    let me = &peer.as_bytes()[..];
    let mut stmt =
        conn.prepare_cached("SELECT recipient, msg_id FROM expired WHERE sender = ?1 LIMIT ?2")?;
    let expired = stmt
        .query_map(params![me, FETCH_LIMIT], |r| {
            Ok(ExpiredMail {
                to: r.get(0)?,
                msg_id: r.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // Each repeated field costs its tag and length (at most 4 bytes below 2 MiB); the
    // Response and Mail wrappers as much again.
    let mut room = (MAX_MESSAGE - 16)
        .saturating_sub(expired.iter().map(|e| e.encoded_len() + 4).sum::<usize>());
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender, msg_id, sealed FROM mail WHERE recipient = ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![me, FETCH_LIMIT])?;
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        let item = MailItem {
            id: r.get::<_, i64>(0)? as u64,
            from: r.get(1)?,
            msg_id: r.get(2)?,
            sealed: r.get(3)?,
        };
        let size = item.encoded_len() + 4;
        if size > room {
            break;
        }
        room -= size;
        items.push(item);
    }
    Ok(Mail { items, expired })
}

pub(super) fn ack(conn: &Connection, peer: &PeerId, a: &AckMail) -> rusqlite::Result<()> {
    let me = &peer.as_bytes()[..];
    for id in &a.ids {
        conn.execute(
            "DELETE FROM mail WHERE id = ?1 AND recipient = ?2",
            params![*id as i64, me],
        )?;
    }
    for m in &a.expired {
        conn.execute(
            "DELETE FROM expired WHERE sender = ?1 AND msg_id = ?2",
            params![me, m],
        )?;
    }
    Ok(())
}

/// Turns mail past its expiry into notices for its senders; returns the senders told.
pub(super) fn expire(conn: &Connection, now: u64) -> rusqlite::Result<Vec<PeerId>> {
    let senders: Vec<Vec<u8>> = conn
        .prepare("SELECT DISTINCT sender FROM mail WHERE expires_ms <= ?1")?
        .query_map([now as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute(
        "INSERT OR IGNORE INTO expired (sender, recipient, msg_id)
         SELECT sender, recipient, msg_id FROM mail WHERE expires_ms <= ?1",
        [now as i64],
    )?;
    conn.execute("DELETE FROM mail WHERE expires_ms <= ?1", [now as i64])?;
    Ok(senders
        .iter()
        .filter_map(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .filter_map(|b| PeerId::from_bytes(b).ok())
        .collect())
}

/// Claims `name` for `peer` (first come; one handle per key: a new claim releases the old).
/// Returns false when another key holds it.
pub(super) fn claim_handle(
    conn: &Connection,
    name: &str,
    peer: &PeerId,
    signature: &[u8],
) -> rusqlite::Result<bool> {
    let me = &peer.as_bytes()[..];
    let holder: Option<Vec<u8>> = conn
        .query_row("SELECT peer FROM handles WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    if holder.as_deref().is_some_and(|h| h != me) {
        return Ok(false);
    }
    conn.execute("DELETE FROM handles WHERE peer = ?1", [me])?;
    conn.execute(
        "INSERT INTO handles (name, peer, signature) VALUES (?1, ?2, ?3)",
        params![name, me, signature],
    )?;
    Ok(true)
}

/// The key holding `name` and its signed claim.
pub(super) fn resolve_handle(
    conn: &Connection,
    name: &str,
) -> rusqlite::Result<Option<(Vec<u8>, Vec<u8>)>> {
    conn.query_row(
        "SELECT peer, signature FROM handles WHERE name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

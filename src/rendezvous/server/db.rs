//! The server's SQLite file: accounts (newest signed record + lookup tokens, so lookups and
//! deposits for an offline peer still obey its allow list after a restart, and when each last
//! registered, so an account nobody uses expires), the mailbox (sealed envelopes, expiry
//! notices, and the bytes stored per sender and in all, kept by triggers) and handles. The
//! functions here run as jobs of the database thread (`writer`), each inside its own
//! savepoint, so a multi-statement change is atomic without a transaction of its own; every
//! write is committed (synchronous=FULL) before the request is answered.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::identity::PeerId;
use crate::rendezvous::proto::{AckMail, ExpiredMail, MAX_MESSAGE, Mail, MailItem, SignedRecord};
use crate::store::migrate::{MigrateError, migrate as run_steps};

/// The first schema: step 1 (`PRAGMA user_version` 1 once applied). Servers before schema
/// versions left it at version 0, hence `IF NOT EXISTS`: on their files it changes nothing.
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

/// What one stored item weighs against the sender's and the server's caps beyond its sealed
/// bytes: its row and two index entries (~200 bytes) and the expiry notice it may become.
/// Without it, a flood of tiny deposits would cost disk the caps do not see.
pub(super) const ITEM_OVERHEAD: u64 = 512;

/// Step 2 (version 2): when each account last registered, each handle was claimed and each
/// notice made (old rows get the time of the migration, so nothing expires at once), and the
/// bytes stored per sender and in all (the row keyed by the empty blob), kept right by
/// triggers on every way mail comes and goes.
fn step_2(now: u64) -> String {
    format!(
        "
ALTER TABLE accounts ADD COLUMN registered_ms INTEGER NOT NULL DEFAULT {now};
CREATE INDEX accounts_registered ON accounts (registered_ms);
ALTER TABLE handles ADD COLUMN claimed_ms INTEGER NOT NULL DEFAULT {now};
CREATE INDEX handles_claimed ON handles (claimed_ms);
ALTER TABLE expired ADD COLUMN noticed_ms INTEGER NOT NULL DEFAULT {now};
CREATE INDEX expired_noticed ON expired (noticed_ms);
CREATE TABLE mail_bytes (sender BLOB PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO mail_bytes (sender, bytes)
    SELECT x'', coalesce(sum(length(sealed) + {o}), 0) FROM mail;
INSERT INTO mail_bytes (sender, bytes)
    SELECT sender, sum(length(sealed) + {o}) FROM mail GROUP BY sender;
CREATE TRIGGER mail_bytes_in AFTER INSERT ON mail BEGIN
    INSERT OR IGNORE INTO mail_bytes (sender, bytes) VALUES (NEW.sender, 0);
    UPDATE mail_bytes SET bytes = bytes + length(NEW.sealed) + {o}
        WHERE sender IN (x'', NEW.sender);
END;
CREATE TRIGGER mail_bytes_out AFTER DELETE ON mail BEGIN
    UPDATE mail_bytes SET bytes = bytes - length(OLD.sealed) - {o}
        WHERE sender IN (x'', OLD.sender);
    DELETE FROM mail_bytes WHERE sender = OLD.sender AND bytes <= 0;
END;
",
        o = ITEM_OVERHEAD
    )
}

/// Opens the file; `migrate` then brings its schema up to date.
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Brings the schema to the newest version (refusing a file a newer Natter made); `now` is
/// what old rows count as their last use. Returns how many steps ran.
pub(super) fn migrate(conn: &mut Connection, now: u64) -> Result<usize, MigrateError> {
    let step_2 = step_2(now);
    run_steps(conn, &[SCHEMA, step_2.as_str()])
}

/// Most items one fetch returns.
const FETCH_LIMIT: i64 = 256;

/// A stored account: its key, newest record, lookup tokens and when it last registered.
pub(super) struct AccountRow {
    pub peer: PeerId,
    pub signed: SignedRecord,
    pub tokens: HashSet<[u8; 32]>,
    pub registered_ms: u64,
}

pub(super) fn load_accounts(conn: &Connection) -> rusqlite::Result<Vec<AccountRow>> {
    let mut stmt =
        conn.prepare("SELECT peer, record, signature, tokens, registered_ms FROM accounts")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (peer, record, signature, tokens, registered_ms) = row?;
        let Some(peer) = peer_of(&peer) else {
            continue;
        };
        let tokens = tokens
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect();
        out.push(AccountRow {
            peer,
            signed: SignedRecord { record, signature },
            tokens,
            registered_ms: registered_ms.max(0) as u64,
        });
    }
    Ok(out)
}

/// Stores `peer`'s newest registration, made at `now`.
pub(super) fn save_account(
    conn: &Connection,
    peer: &PeerId,
    signed: &SignedRecord,
    tokens: &HashSet<[u8; 32]>,
    now: u64,
) -> rusqlite::Result<()> {
    let mut flat: Vec<[u8; 32]> = tokens.iter().copied().collect();
    flat.sort();
    let flat: Vec<u8> = flat.concat();
    conn.execute(
        "INSERT INTO accounts (peer, record, signature, tokens, registered_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (peer) DO UPDATE SET record = ?2, signature = ?3, tokens = ?4,
             registered_ms = ?5",
        params![
            &peer.as_bytes()[..],
            signed.record,
            signed.signature,
            flat,
            now as i64
        ],
    )?;
    Ok(())
}

/// The accounts, mail, notices and handles that went in one round of `expire_accounts`.
#[derive(Debug, Default)]
pub(super) struct Expired {
    /// Accounts deleted (not registered since the cutoff).
    pub accounts: Vec<PeerId>,
    /// Senders whose mail to those accounts became expiry notices.
    pub senders: Vec<PeerId>,
}

/// Deletes every account that has not registered since `cutoff`, with everything the server
/// keeps for it: its lookup tokens and record (the row), its handle, the expiry notices it
/// was owed, and the mail waiting for it (each item becomes an expiry notice for its sender,
/// as mail that expired undelivered does). Then forgets notices made before `cutoff` and
/// handles claimed before it whose key holds no account (a key that never registered).
pub(super) fn expire_accounts(
    conn: &Connection,
    now: u64,
    cutoff: u64,
) -> rusqlite::Result<Expired> {
    let cutoff = cutoff as i64;
    let accounts: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT peer FROM accounts WHERE registered_ms <= ?1")?
        .query_map([cutoff], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut senders: Vec<Vec<u8>> = Vec::new();
    if !accounts.is_empty() {
        tracing::info!(accounts = accounts.len(), "accounts expired unused");
        senders = expire_mail_of_old(conn, now, cutoff)?;
    }
    for sql in [
        "DELETE FROM expired WHERE noticed_ms <= ?1",
        "DELETE FROM handles WHERE claimed_ms <= ?1 AND peer NOT IN (SELECT peer FROM accounts)",
    ] {
        conn.prepare_cached(sql)?.execute([cutoff])?;
    }
    Ok(Expired {
        accounts: accounts.iter().filter_map(|b| peer_of(b)).collect(),
        senders: senders.iter().filter_map(|b| peer_of(b)).collect(),
    })
}

/// The part of `expire_accounts` for accounts registered last at `cutoff` or before: their
/// mail becomes notices for its senders (returned), then it, the notices they were owed,
/// their handles and their rows go.
fn expire_mail_of_old(conn: &Connection, now: u64, cutoff: i64) -> rusqlite::Result<Vec<Vec<u8>>> {
    const OLD: &str = "(SELECT peer FROM accounts WHERE registered_ms <= ?1)";
    let senders: Vec<Vec<u8>> = conn
        .prepare_cached(&format!(
            "SELECT DISTINCT sender FROM mail WHERE recipient IN {OLD}
                 AND sender NOT IN {OLD}"
        ))?
        .query_map([cutoff], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute(
        &format!(
            "INSERT OR IGNORE INTO expired (sender, recipient, msg_id, noticed_ms)
             SELECT sender, recipient, msg_id, ?2 FROM mail WHERE recipient IN {OLD}"
        ),
        params![cutoff, now as i64],
    )?;
    for sql in [
        format!("DELETE FROM mail WHERE recipient IN {OLD}"),
        format!("DELETE FROM expired WHERE sender IN {OLD}"),
        format!("DELETE FROM handles WHERE peer IN {OLD}"),
        "DELETE FROM accounts WHERE registered_ms <= ?1".into(),
    ] {
        conn.execute(&sql, [cutoff])?;
    }
    Ok(senders)
}

fn peer_of(bytes: &[u8]) -> Option<PeerId> {
    <[u8; 32]>::try_from(bytes)
        .ok()
        .and_then(|b| PeerId::from_bytes(b).ok())
}

/// How much mail may wait at the server.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caps {
    /// Most waiting messages per recipient.
    pub recipient_items: u32,
    /// Most waiting sealed bytes per recipient.
    pub recipient_bytes: u64,
    /// Most bytes (sealed + `ITEM_OVERHEAD` each) one sender key has waiting, in all
    /// mailboxes together.
    pub sender_bytes: u64,
    /// Most bytes (sealed + `ITEM_OVERHEAD` each) waiting at the server in all.
    pub total_bytes: u64,
}

pub(super) struct Deposit<'a> {
    pub to: &'a PeerId,
    pub from: &'a PeerId,
    pub msg_id: &'a [u8; 16],
    pub sealed: &'a [u8],
    pub now: u64,
    pub expires: u64,
    pub caps: Caps,
}

/// What became of a deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deposited {
    /// Stored until `expires`; `new` is false for a second deposit of the same message id
    /// (the same message: nothing more was stored).
    Stored { expires: u64, new: bool },
    /// The recipient's mailbox holds its most messages or bytes.
    RecipientFull,
    /// The sender's mail waiting in all mailboxes holds its most bytes.
    SenderFull,
    /// The server holds its most mail in all.
    ServerFull,
}

/// Bytes counted against the caps for `sender` (`None`: the server's total).
pub(super) fn stored_bytes(conn: &Connection, sender: Option<&PeerId>) -> rusqlite::Result<u64> {
    let key = sender.map_or(&[][..], |p| &p.as_bytes()[..]);
    let bytes: Option<i64> = conn
        .prepare_cached("SELECT bytes FROM mail_bytes WHERE sender = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    Ok(bytes.unwrap_or(0).max(0) as u64)
}

/// Stores a deposit unless a cap is full. A second deposit of the same message id is the
/// same message (its expiry is returned).
pub(super) fn deposit(conn: &Connection, d: &Deposit<'_>) -> rusqlite::Result<Deposited> {
    let to = &d.to.as_bytes()[..];
    let existing: Option<i64> = conn
        .prepare_cached("SELECT expires_ms FROM mail WHERE recipient = ?1 AND msg_id = ?2")?
        .query_row(params![to, &d.msg_id[..]], |r| r.get(0))
        .optional()?;
    if let Some(e) = existing {
        return Ok(Deposited::Stored {
            expires: e.max(0) as u64,
            new: false,
        });
    }
    let caps = &d.caps;
    let (items, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(length(sealed)), 0) FROM mail WHERE recipient = ?1",
        )?
        .query_row([to], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if items as u64 >= u64::from(caps.recipient_items)
        || bytes as u64 + d.sealed.len() as u64 > caps.recipient_bytes
    {
        return Ok(Deposited::RecipientFull);
    }
    let weight = d.sealed.len() as u64 + ITEM_OVERHEAD;
    if stored_bytes(conn, Some(d.from))? + weight > caps.sender_bytes {
        return Ok(Deposited::SenderFull);
    }
    if stored_bytes(conn, None)? + weight > caps.total_bytes {
        return Ok(Deposited::ServerFull);
    }
    conn.prepare_cached(
        "INSERT INTO mail (recipient, sender, msg_id, sealed, deposited_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        to,
        &d.from.as_bytes()[..],
        &d.msg_id[..],
        d.sealed,
        d.now as i64,
        d.expires as i64
    ])?;
    Ok(Deposited::Stored {
        expires: d.expires,
        new: true,
    })
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
        "INSERT OR IGNORE INTO expired (sender, recipient, msg_id, noticed_ms)
         SELECT sender, recipient, msg_id, ?1 FROM mail WHERE expires_ms <= ?1",
        [now as i64],
    )?;
    conn.execute("DELETE FROM mail WHERE expires_ms <= ?1", [now as i64])?;
    Ok(senders.iter().filter_map(|b| peer_of(b)).collect())
}

/// Claims `name` for `peer` at `now` (first come; one handle per key: a new claim releases
/// the old; a claim again renews it).
/// Returns false when another key holds it.
pub(super) fn claim_handle(
    conn: &Connection,
    name: &str,
    peer: &PeerId,
    signature: &[u8],
    now: u64,
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
        "INSERT INTO handles (name, peer, signature, claimed_ms) VALUES (?1, ?2, ?3, ?4)",
        params![name, me, signature, now as i64],
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

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;

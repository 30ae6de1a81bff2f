//! Owns contacts, message requests, the allow / block lists and settings.

use super::{StoreError, now_ms};
use crate::identity::PeerId;
use crate::model::{Contact, ContactState, RelayPolicy, Verification};
use rusqlite::{Connection, OptionalExtension, params};

const CONTACT_COLUMNS: &str = "k.peer_id, k.nickname, k.grp, k.verification, k.state, k.addr, k.send_typing, k.send_receipts, k.relay, k.sees_invisible, k.auto_accept_bytes, COALESCE(v.unread, 0)";
/// The same columns from the contacts table alone (the unread count read apart: see
/// `get_contact`).
const CONTACT_COLUMNS_ALONE: &str = "k.peer_id, k.nickname, k.grp, k.verification, k.state, k.addr, k.send_typing, k.send_receipts, k.relay, k.sees_invisible, k.auto_accept_bytes, 0";

/// The contacts table with each one's unread count (conversations are keyed by peer too).
const CONTACTS_WITH_UNREAD: &str = "contacts k LEFT JOIN conversations v ON v.peer_id = k.peer_id";

fn row_to_contact(row: &rusqlite::Row<'_>) -> rusqlite::Result<Contact> {
    let verification: String = row.get(3)?;
    let state: String = row.get(4)?;
    Ok(Contact {
        peer: row.get(0)?,
        nickname: row.get(1)?,
        group: row.get(2)?,
        verification: if verification == "verified" {
            Verification::Verified
        } else {
            Verification::Unverified
        },
        state: if state == "request" {
            ContactState::Request
        } else {
            ContactState::Contact
        },
        addr: row.get(5)?,
        send_typing: row.get(6)?,
        send_receipts: row.get(7)?,
        relay: row
            .get::<_, Option<String>>(8)?
            .and_then(|r| RelayPolicy::parse(&r)),
        sees_invisible: row.get(9)?,
        auto_accept_bytes: row
            .get::<_, Option<i64>>(10)?
            .and_then(|n| u64::try_from(n).ok()),
        unread: row.get::<_, i64>(11)?.max(0) as u64,
    })
}

/// Adds or updates a contact (a request becomes a contact).
pub fn upsert_contact(conn: &Connection, c: &Contact) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO contacts (peer_id, nickname, grp, verification, state, addr, send_typing, send_receipts, added_ms, relay, sees_invisible)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (peer_id) DO UPDATE SET nickname = ?2, grp = ?3, verification = ?4, state = ?5,
             addr = ?6, send_typing = ?7, send_receipts = ?8, relay = ?10, sees_invisible = ?11",
        params![
            c.peer,
            c.nickname,
            c.group,
            match c.verification {
                Verification::Verified => "verified",
                Verification::Unverified => "unverified",
            },
            match c.state {
                ContactState::Contact => "contact",
                ContactState::Request => "request",
            },
            c.addr,
            c.send_typing,
            c.send_receipts,
            now_ms(),
            c.relay.map(RelayPolicy::as_str),
            c.sees_invisible,
        ],
    )?;
    Ok(())
}

/// `get_contact`'s two statements (tests check SQLite never re-prepares them).
pub(super) static GET_CONTACT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {CONTACT_COLUMNS_ALONE} FROM contacts k WHERE k.peer_id = ?1")
});
pub(super) const GET_UNREAD: &str = "SELECT unread FROM conversations WHERE peer_id = ?1";

/// One contact or request.
pub fn get_contact(conn: &Connection, peer: &PeerId) -> Result<Option<Contact>, StoreError> {
    // Read on every send and session event: prepared once per connection, and two plain
    // lookups rather than one join. With the join (`k.peer_id = ?1` carried into the ON
    // clause), SQLite re-prepared the statement at every call: sustained messages/s halved.
    let Some(mut contact) = conn
        .prepare_cached(&GET_CONTACT)?
        .query_row([peer], row_to_contact)
        .optional()?
    else {
        return Ok(None);
    };
    let unread: Option<i64> = conn
        .prepare_cached(GET_UNREAD)?
        .query_row([peer], |row| row.get(0))
        .optional()?;
    contact.unread = unread.unwrap_or(0).max(0) as u64;
    Ok(Some(contact))
}

/// Whether the peer is a contact, a request, or neither: what a send asks, without reading
/// and building the whole entry.
pub fn contact_state(conn: &Connection, peer: &PeerId) -> Result<Option<ContactState>, StoreError> {
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM contacts WHERE peer_id = ?1")?
        .query_row([peer], |r| r.get(0))
        .optional()?;
    // As `row_to_contact` reads it.
    Ok(state.map(|s| match s.as_str() {
        "request" => ContactState::Request,
        _ => ContactState::Contact,
    }))
}

/// All contacts (or all requests), by nickname.
pub fn list_contacts(conn: &Connection, state: ContactState) -> Result<Vec<Contact>, StoreError> {
    let state = match state {
        ContactState::Contact => "contact",
        ContactState::Request => "request",
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {CONTACT_COLUMNS} FROM {CONTACTS_WITH_UNREAD} WHERE k.state = ?1
         ORDER BY k.nickname, k.peer_id"
    ))?;
    let rows = stmt
        .query_map([state], row_to_contact)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Records a stranger in the requests inbox (no-op if already known).
pub fn add_request(conn: &Connection, peer: &PeerId) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO contacts (peer_id, state, added_ms) VALUES (?1, 'request', ?2)",
        )?
        .execute(params![peer, now_ms()])?;
    Ok(n == 1)
}

/// How many strangers wait in the requests inbox.
pub fn count_requests(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM contacts WHERE state = 'request'")?
        .query_row([], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Puts a peer on or off the block list.
pub fn set_blocked(conn: &Connection, peer: &PeerId, blocked: bool) -> Result<(), StoreError> {
    if blocked {
        conn.execute(
            "INSERT OR IGNORE INTO lists (peer_id, list, added_ms) VALUES (?1, 'block', ?2)",
            params![peer, now_ms()],
        )?;
    } else {
        conn.execute(
            "DELETE FROM lists WHERE peer_id = ?1 AND list = 'block'",
            [peer],
        )?;
    }
    Ok(())
}

/// Whether a peer is blocked.
pub fn is_blocked(conn: &Connection, peer: &PeerId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM lists WHERE peer_id = ?1 AND list = 'block'")?
        .query_row([peer], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The block list.
pub fn blocked(conn: &Connection) -> Result<Vec<PeerId>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT peer_id FROM lists WHERE list = 'block' ORDER BY added_ms")?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A setting's value.
pub fn get_setting(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Sets a setting.
pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![key, value],
    )?;
    Ok(())
}

//! Owns the transfers table: every file offered, accepted, resumed and finished, and the
//! resume point (bytes verified on disk) of each incoming one.

use super::{StoreError, now_ms};
use crate::identity::PeerId;
use crate::model::{Transfer, TransferState};
use rusqlite::{Connection, OptionalExtension, params};

const COLUMNS: &str = "file_id, peer_id, outgoing, name, size, sha256, mime, state, path, verified, sent_bytes, reason";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Transfer> {
    let id: Vec<u8> = r.get(0)?;
    let sha: Vec<u8> = r.get(5)?;
    let state: String = r.get(7)?;
    Ok(Transfer {
        file_id: data_encoding::HEXLOWER.encode(&id),
        peer: r.get(1)?,
        outgoing: r.get(2)?,
        name: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        sha256: data_encoding::HEXLOWER.encode(&sha),
        mime: r.get(6)?,
        state: TransferState::parse(&state),
        path: r.get(8)?,
        verified: r.get::<_, i64>(9)? as u64,
        sent_bytes: r.get::<_, i64>(10)? as u64,
        reason: r.get(11)?,
    })
}

/// Records a new transfer; false if one with that id exists already.
pub fn insert_transfer(conn: &Connection, t: &Transfer) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO transfers (file_id, peer_id, outgoing, name, size, sha256, mime, state, path, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            &t.id_bytes()[..],
            t.peer,
            t.outgoing,
            t.name,
            t.size as i64,
            t.sha_bytes(),
            t.mime,
            t.state.as_str(),
            t.path,
            now_ms()
        ],
    )?;
    Ok(n == 1)
}

/// Accepts an offered transfer, saving to `path`; false if it was not in the offered state.
pub fn accept_transfer(conn: &Connection, id: &[u8; 16], path: &str) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE transfers SET state = 'accepted', path = ?2, verified = 0 WHERE file_id = ?1 AND state = 'offered'",
        params![&id[..], path],
    )?;
    Ok(n == 1)
}

/// One transfer by id.
pub fn get_transfer(conn: &Connection, id: &[u8; 16]) -> Result<Option<Transfer>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM transfers WHERE file_id = ?1"),
            [&id[..]],
            row,
        )
        .optional()?)
}

/// Every transfer, newest first.
pub fn list_transfers(conn: &Connection) -> Result<Vec<Transfer>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM transfers ORDER BY created_ms DESC, rowid DESC"
    ))?;
    let rows = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Unfinished transfers with a peer (to resume on a new session).
pub fn open_transfers(conn: &Connection, peer: &PeerId) -> Result<Vec<Transfer>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM transfers WHERE peer_id = ?1 AND state IN ('offered', 'accepted') ORDER BY created_ms"
    ))?;
    let rows = stmt
        .query_map([peer], row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Moves a transfer to a state (with a reason for bad endings).
pub fn set_transfer_state(
    conn: &Connection,
    id: &[u8; 16],
    state: TransferState,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE transfers SET state = ?2, reason = ?3 WHERE file_id = ?1",
        params![&id[..], state.as_str(), reason],
    )?;
    Ok(())
}

/// Sets where an incoming file is saved.
pub fn set_transfer_path(conn: &Connection, id: &[u8; 16], path: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE transfers SET path = ?2 WHERE file_id = ?1",
        params![&id[..], path],
    )?;
    Ok(())
}

/// Records the resume point of an incoming file (bytes fsynced to the part file).
pub fn set_verified(conn: &Connection, id: &[u8; 16], verified: u64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE transfers SET verified = ?2 WHERE file_id = ?1",
        params![&id[..], verified as i64],
    )?;
    Ok(())
}

/// Adds to the bytes an outgoing transfer has written.
pub fn add_sent(conn: &Connection, id: &[u8; 16], bytes: u64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE transfers SET sent_bytes = sent_bytes + ?2 WHERE file_id = ?1",
        params![&id[..], bytes as i64],
    )?;
    Ok(())
}

/// A contact's auto-accept limit in bytes (None: off).
pub fn auto_accept_limit(conn: &Connection, peer: &PeerId) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT auto_accept_bytes FROM contacts WHERE peer_id = ?1 AND state = 'contact'",
            [peer],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten()
        .map(|n| n.max(0) as u64))
}

/// Sets a contact's auto-accept limit (None: off).
pub fn set_auto_accept(
    conn: &Connection,
    peer: &PeerId,
    limit: Option<u64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE contacts SET auto_accept_bytes = ?2 WHERE peer_id = ?1",
        params![peer, limit.map(|n| n as i64)],
    )?;
    Ok(())
}

//! Owns what went to each room member's mailbox from us: the newest state version and our
//! newest sequence number deposited for it (or that it told us it holds, over a session),
//! and which of our key grants were deposited. The node seals and deposits; this file only
//! remembers, so nothing is deposited twice and nothing is left out.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::rooms::rid;
use crate::identity::PeerId;
use crate::room::{KeyId, RoomId, SenderKey};

/// What a member has from us in a room, as far as we know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mailed {
    /// The newest state version it holds or was deposited.
    pub version: u64,
    /// Our newest sequence number it holds or was deposited.
    pub seq: u64,
}

/// What `member` has from us in `room` (nothing yet: zeros).
pub fn mailed(conn: &Connection, room: &RoomId, member: &PeerId) -> Result<Mailed, StoreError> {
    Ok(conn
        .prepare_cached("SELECT version, seq FROM room_mailed WHERE room = ?1 AND member = ?2")?
        .query_row(params![rid(room), member], |r| {
            Ok(Mailed {
                version: r.get::<_, i64>(0)? as u64,
                seq: r.get::<_, i64>(1)? as u64,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// `member` has (or was deposited) states up to `version` and our messages up to `seq`: the
/// marks only move forward.
pub fn raise_mailed(
    conn: &Connection,
    room: &RoomId,
    member: &PeerId,
    to: Mailed,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO room_mailed (room, member, version, seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (room, member) DO UPDATE SET
             version = MAX(version, excluded.version), seq = MAX(seq, excluded.seq)",
    )?
    .execute(params![rid(room), member, to.version as i64, to.seq as i64])?;
    Ok(())
}

/// What waited for `member` expired at the server: everything goes again, in every room.
pub fn forget_mailed(conn: &Connection, member: &PeerId) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM room_mailed WHERE member = ?1")?
        .execute([member])?;
    conn.prepare_cached("UPDATE key_grants SET mailed = 0 WHERE member = ?1")?
        .execute([member])?;
    Ok(())
}

/// Our messages in the room after sequence number `after`, oldest first, up to about
/// `max_bytes` (at least one): (sequence number, signed bytes).
pub fn own_after(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
    after: u64,
    max_bytes: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, bytes FROM room_messages WHERE room = ?1 AND author = ?2 AND seq > ?3
         ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![rid(room), me, after as i64])?;
    let (mut out, mut size) = (Vec::new(), 0);
    while let Some(r) = rows.next()? {
        let bytes: Vec<u8> = r.get(1)?;
        if !out.is_empty() && size + bytes.len() > max_bytes {
            break;
        }
        size += bytes.len();
        out.push((r.get::<_, i64>(0)? as u64, bytes));
    }
    Ok(out)
}

/// Our keys given to `member` that were not deposited for it yet, each at the iteration
/// granted.
pub fn unmailed_grants(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
    member: &PeerId,
) -> Result<Vec<SenderKey>, StoreError> {
    super::room_keys::grants(conn, room, me, member, true)
}

/// Our key `key` was deposited for `member`.
pub fn grant_mailed(
    conn: &Connection,
    room: &RoomId,
    key: &KeyId,
    member: &PeerId,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE key_grants SET mailed = 1 WHERE room = ?1 AND key_id = ?2 AND member = ?3",
    )?
    .execute(params![rid(room), &key[..], member])?;
    Ok(())
}

/// The rooms we are in.
pub fn joined_rooms(conn: &Connection) -> Result<Vec<RoomId>, StoreError> {
    let ids: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT id FROM rooms WHERE status = 'joined' ORDER BY changed_ms")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.iter()
        .map(|id| RoomId::from_slice(id).ok_or_else(|| StoreError::Corrupt("room: room id".into())))
        .collect()
}

#[cfg(test)]
#[path = "room_mail_tests.rs"]
mod tests;

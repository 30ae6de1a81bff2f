//! Owns sender keys on disk: ours (with the next iteration we seal with) and other
//! members', which of ours each member was given from which iteration, and the messages
//! that wait sealed for a key.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::rooms::{corrupt, rid};
use crate::identity::PeerId;
use crate::room::{KeyId, RoomId, SenderKey};
/// Our own current key in the room and the next iteration to seal with it.
pub fn own_key(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
) -> Result<Option<(SenderKey, u32)>, StoreError> {
    conn.prepare_cached(
        "SELECT key_id, chain, iteration, next FROM sender_keys
         WHERE room = ?1 AND author = ?2 AND next IS NOT NULL ORDER BY rowid DESC LIMIT 1",
    )?
    .query_row(params![rid(room), me], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })
    .optional()?
    .map(|(id, chain, it, next)| {
        let key = key_of(&id, &chain, it)?;
        Ok((key, next as u32))
    })
    .transpose()
}

fn key_of(id: &[u8], chain: &[u8], iteration: i64) -> Result<SenderKey, StoreError> {
    let id: KeyId = id.try_into().map_err(|_| corrupt("key id"))?;
    let chain: [u8; 32] = chain.try_into().map_err(|_| corrupt("chain key"))?;
    Ok(SenderKey::from_parts(id, chain, iteration as u32))
}

/// Keeps a key: ours (`next`: the next iteration we seal with) or another member's.
pub fn put_key(
    conn: &Connection,
    room: &RoomId,
    author: &PeerId,
    key: &SenderKey,
    next: Option<u32>,
) -> Result<(), StoreError> {
    // A key given again from an earlier iteration opens more: the earliest is kept.
    conn.prepare_cached(
        "INSERT INTO sender_keys (room, author, key_id, chain, iteration, next)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (room, author, key_id) DO UPDATE SET chain = ?4, iteration = ?5
         WHERE ?5 < iteration",
    )?
    .execute(params![
        rid(room),
        author,
        &key.id()[..],
        &key.chain()[..],
        key.iteration(),
        next
    ])?;
    Ok(())
}

/// Moves our key's next iteration on by one.
pub fn bump_own_key(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
    key: &KeyId,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sender_keys SET next = next + 1 WHERE room = ?1 AND author = ?2 AND key_id = ?3",
    )?
    .execute(params![rid(room), me, &key[..]])?;
    Ok(())
}

/// A member's key by id.
pub fn key(
    conn: &Connection,
    room: &RoomId,
    author: &PeerId,
    id: &KeyId,
) -> Result<Option<SenderKey>, StoreError> {
    conn.prepare_cached(
        "SELECT chain, iteration FROM sender_keys WHERE room = ?1 AND author = ?2 AND key_id = ?3",
    )?
    .query_row(params![rid(room), author, &id[..]], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
    })
    .optional()?
    .map(|(chain, it)| key_of(id, &chain, it))
    .transpose()
}

/// Every key of `author` held for the room (tests read what a member could open).
#[cfg(any(test, feature = "testing"))]
pub fn keys_of(
    conn: &Connection,
    room: &RoomId,
    author: &PeerId,
) -> Result<Vec<SenderKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key_id, chain, iteration FROM sender_keys WHERE room = ?1 AND author = ?2",
    )?;
    let rows = stmt.query_map(params![rid(room), author], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    rows.map(|r| {
        let (id, chain, it) = r?;
        key_of(&id, &chain, it)
    })
    .collect()
}

/// Records that `member` is given our key from `iteration` on (an earlier grant stands).
pub fn grant(
    conn: &Connection,
    room: &RoomId,
    key: &KeyId,
    member: &PeerId,
    iteration: u32,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO key_grants (room, key_id, member, iteration) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![rid(room), &key[..], member, iteration])?;
    Ok(())
}

/// Our keys given to `member`, each at the iteration granted.
pub fn grants_for(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
    member: &PeerId,
) -> Result<Vec<SenderKey>, StoreError> {
    grants(conn, room, me, member, false)
}

/// Our keys given to `member` (`unmailed`: only those not deposited for it yet), each at the
/// iteration granted, oldest first.
pub(super) fn grants(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
    member: &PeerId,
    unmailed: bool,
) -> Result<Vec<SenderKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.key_id, k.chain, k.iteration, g.iteration FROM key_grants g
         JOIN sender_keys k ON k.room = g.room AND k.key_id = g.key_id AND k.author = ?2
         WHERE g.room = ?1 AND g.member = ?3 AND (g.mailed = 0 OR NOT ?4) ORDER BY k.rowid",
    )?;
    let rows = stmt.query_map(params![rid(room), me, member, unmailed], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, chain, it, granted) = row?;
        let key = key_of(&id, &chain, it)?;
        out.push(
            key.at(granted as u32)
                .map_err(|e| corrupt(&e.to_string()))?,
        );
    }
    Ok(out)
}

/// The messages of an author sealed under `key` that have not opened yet.
pub fn sealed_under(
    conn: &Connection,
    room: &RoomId,
    author: &PeerId,
    key: &KeyId,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, bytes FROM room_messages
         WHERE room = ?1 AND author = ?2 AND key_id = ?3 AND text IS NULL",
    )?;
    let rows = stmt.query_map(params![rid(room), author, &key[..]], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

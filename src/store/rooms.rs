//! Owns rooms on disk: where we stand in each, the chain of signed states, each author's
//! position, the messages (signed bytes, and their text once opened); sender keys are in
//! `room_keys.rs`, what went to a member's mailbox in `room_mail.rs`. What is valid is the room core's question (`crate::room`); this file
//! stores what the node decided to keep.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::identity::PeerId;
use crate::model::{Room, RoomMember, RoomPost, RoomStatus};
use crate::room::{Arrival, Policy, RoomId, RoomMessage, SignedState, Vector, arrival};

/// Our place in a room, as stored.
#[derive(Debug, Clone)]
pub struct RoomRow {
    /// Where we stand.
    pub status: RoomStatus,
    /// The newest state version held (0: only an invitation).
    pub version: u64,
    /// The invitation's state (while invited).
    pub invite: Option<Vec<u8>>,
    /// Who invited us.
    pub inviter: Option<PeerId>,
}

/// What became of a room message handed to [`store_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Stored (its row id).
    Stored(i64),
    /// Held already.
    Duplicate,
    /// Messages of its author are missing before it: not stored (catch-up fetches them).
    Gap,
}

pub(super) fn rid(room: &RoomId) -> &[u8] {
    room.as_bytes()
}

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("room: {what}"))
}

/// Our row of a room.
pub fn room_row(conn: &Connection, room: &RoomId) -> Result<Option<RoomRow>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT status, version, invite, inviter FROM rooms WHERE id = ?1")?
        .query_row([rid(room)], |r| {
            Ok(RoomRow {
                status: RoomStatus::parse(&r.get::<_, String>(0)?),
                version: r.get::<_, i64>(1)? as u64,
                invite: r.get(2)?,
                inviter: r.get(3)?,
            })
        })
        .optional()?)
}

/// Records who invited us.
pub fn set_inviter(conn: &Connection, room: &RoomId, inviter: &PeerId) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE rooms SET inviter = ?2 WHERE id = ?1")?
        .execute(params![rid(room), inviter])?;
    Ok(())
}

/// Sets where we stand.
pub fn set_room_status(
    conn: &Connection,
    room: &RoomId,
    status: RoomStatus,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO rooms (id, status, changed_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET status = ?2, changed_ms = ?3",
    )?
    .execute(params![rid(room), status.as_str(), now_ms])?;
    Ok(())
}

/// The newest state held.
pub fn head(conn: &Connection, room: &RoomId) -> Result<Option<SignedState>, StoreError> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT bytes FROM room_states WHERE room = ?1 ORDER BY version DESC LIMIT 1",
        )?
        .query_row([rid(room)], |r| r.get(0))
        .optional()?;
    bytes
        .map(|b| SignedState::decode(&b).map_err(|e| corrupt(&e.to_string())))
        .transpose()
}

/// Appends a version the room core judged the next one.
pub fn append_state(conn: &Connection, state: &SignedState) -> Result<(), StoreError> {
    let room = state.state().id;
    conn.prepare_cached("INSERT INTO room_states (room, version, bytes) VALUES (?1, ?2, ?3)")?
        .execute(params![rid(&room), state.version() as i64, state.bytes()])?;
    conn.prepare_cached("UPDATE rooms SET version = ?2 WHERE id = ?1")?
        .execute(params![rid(&room), state.version() as i64])?;
    Ok(())
}

/// The versions from `from` on, oldest first, up to about `max_bytes` (at least one).
pub fn states_from(
    conn: &Connection,
    room: &RoomId,
    from: u64,
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM room_states WHERE room = ?1 AND version >= ?2 ORDER BY version",
    )?;
    page(stmt.query(params![rid(room), from as i64])?, max_bytes)
}

/// The first column's blobs, in order, up to about `max_bytes` (at least one).
fn page(mut rows: rusqlite::Rows<'_>, max_bytes: usize) -> Result<Vec<Vec<u8>>, StoreError> {
    let (mut out, mut size) = (Vec::new(), 0);
    while let Some(r) = rows.next()? {
        let b: Vec<u8> = r.get(0)?;
        if !out.is_empty() && size + b.len() > max_bytes {
            break;
        }
        size += b.len();
        out.push(b);
    }
    Ok(out)
}

/// Every member who was ever in the room's states we hold (to tell a removed one).
pub fn ever_members(conn: &Connection, room: &RoomId) -> Result<Vec<PeerId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT bytes FROM room_states WHERE room = ?1")?;
    let mut rows = stmt.query([rid(room)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let s =
            SignedState::decode(&r.get::<_, Vec<u8>>(0)?).map_err(|e| corrupt(&e.to_string()))?;
        for m in &s.state().members {
            if !out.contains(&m.key) {
                out.push(m.key);
            }
        }
    }
    Ok(out)
}

/// Each author's position.
pub fn vector(conn: &Connection, room: &RoomId) -> Result<Vector, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT author, seq FROM room_authors WHERE room = ?1")?;
    let rows = stmt.query_map([rid(room)], |r| {
        Ok((r.get::<_, PeerId>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<Vector, _>>()?)
}

/// Stores a message once, in its author's order (see [`Arrival`]); `text` when it opened.
pub fn store_message(
    conn: &Connection,
    m: &RoomMessage,
    text: Option<&str>,
) -> Result<Kept, StoreError> {
    let (room, author) = (m.room(), m.author());
    let held: u64 = conn
        .prepare_cached("SELECT seq FROM room_authors WHERE room = ?1 AND author = ?2")?
        .query_row(params![rid(&room), author], |r| r.get::<_, i64>(0))
        .optional()?
        .map_or(0, |s| s as u64);
    match arrival(held, m.seq()) {
        Arrival::Duplicate => return Ok(Kept::Duplicate),
        Arrival::Gap => return Ok(Kept::Gap),
        Arrival::Store => {}
    }
    conn.prepare_cached(
        "INSERT INTO room_messages (room, author, seq, lamport, sent_ms, bytes, key_id, text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        rid(&room),
        author,
        m.seq() as i64,
        m.lamport() as i64,
        m.timestamp_ms() as i64,
        m.bytes(),
        m.sealed_by().map(|(id, _)| id.to_vec()),
        text,
    ])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO room_authors (room, author, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (room, author) DO UPDATE SET seq = ?3",
    )?
    .execute(params![rid(&room), author, m.seq() as i64])?;
    conn.prepare_cached("UPDATE rooms SET lamport = MAX(lamport, ?2) WHERE id = ?1")?
        .execute(params![rid(&room), m.lamport() as i64])?;
    Ok(Kept::Stored(id))
}

/// An author's messages from `from` to `to`, as signed bytes, up to about `max_bytes`.
pub fn messages_range(
    conn: &Connection,
    room: &RoomId,
    (author, from, to): (&PeerId, u64, u64),
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM room_messages WHERE room = ?1 AND author = ?2 AND seq BETWEEN ?3 AND ?4
         ORDER BY seq",
    )?;
    page(
        stmt.query(params![rid(room), author, from as i64, to as i64])?,
        max_bytes,
    )
}

/// Our next message's sequence number and Lamport clock, taken (the next call gets the
/// ones after).
pub fn take_own_position(conn: &Connection, room: &RoomId) -> Result<(u64, u64), StoreError> {
    let (seq, lamport): (i64, i64) = conn
        .prepare_cached("SELECT next_seq, lamport FROM rooms WHERE id = ?1")?
        .query_row([rid(room)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    conn.prepare_cached(
        "UPDATE rooms SET next_seq = next_seq + 1, lamport = lamport + 1 WHERE id = ?1",
    )?
    .execute([rid(room)])?;
    Ok((seq as u64, lamport as u64 + 1))
}

/// Sets the text of a message that opened.
pub fn set_text(conn: &Connection, id: i64, text: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE room_messages SET text = ?2 WHERE id = ?1 AND text IS NULL")?
        .execute(params![id, text])?;
    Ok(())
}

/// A stored message as the apps see it (`None` while it has not opened).
pub fn post(conn: &Connection, id: i64, me: &PeerId) -> Result<Option<RoomPost>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{POST} WHERE id = ?1 AND text IS NOT NULL"))?
        .query_row([id], |r| row_to_post(r, me))
        .optional()?)
}

const POST: &str = "SELECT room, author, seq, lamport, sent_ms, text, id FROM room_messages";

fn row_to_post(r: &rusqlite::Row<'_>, me: &PeerId) -> rusqlite::Result<RoomPost> {
    let room: Vec<u8> = r.get(0)?;
    let author: PeerId = r.get(1)?;
    Ok(RoomPost {
        room_id: RoomId::from_slice(&room).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Blob,
                "room id".into(),
            )
        })?,
        outgoing: author == *me,
        author,
        seq: r.get::<_, i64>(2)? as u64,
        lamport: r.get::<_, i64>(3)? as u64,
        sent_ms: r.get(4)?,
        text: r.get(5)?,
    })
}

/// The newest `limit` messages that opened, in the shared order (Lamport, author, seq),
/// oldest first; `before`: older than this (lamport, author, seq) place.
pub fn room_history(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
    limit: usize,
    before: Option<(u64, PeerId, u64)>,
) -> Result<Vec<RoomPost>, StoreError> {
    let (lamport, author, seq) = match before {
        Some((l, a, s)) => (l as i64, a.to_string(), s as i64),
        None => (i64::MAX, String::new(), 0),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "{POST} WHERE room = ?1 AND text IS NOT NULL
           AND (lamport < ?2 OR (lamport = ?2 AND (author < ?3 OR (author = ?3 AND seq < ?4))))
         ORDER BY lamport DESC, author DESC, seq DESC LIMIT ?5"
    ))?;
    let rows = stmt.query_map(
        params![rid(room), lamport, author, seq, limit as i64],
        |r| row_to_post(r, me),
    )?;
    let mut out = rows.collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}

/// Every room message that opened, room by room, each room's in the shared order (for an
/// export). Returns how many.
pub fn for_each_room_post(
    conn: &Connection,
    me: &PeerId,
    mut each: impl FnMut(&RoomPost) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "{POST} WHERE text IS NOT NULL ORDER BY room, lamport, author, seq"
    ))?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        each(&row_to_post(row, me)?)?;
        n += 1;
    }
    Ok(n)
}

/// Full-text search over the room messages that opened, newest first.
pub fn search_rooms(
    conn: &Connection,
    text: &str,
    me: &PeerId,
    limit: usize,
) -> Result<Vec<RoomPost>, StoreError> {
    super::schema::index_pending(conn)?;
    // The last word a prefix while it is being typed, as in one-to-one search.
    let Some(mut query) = super::history::fts_words(text) else {
        return Ok(Vec::new());
    };
    if !text.ends_with(char::is_whitespace) {
        query.push('*');
    }
    let mut stmt = conn.prepare_cached(
        "SELECT m.room, m.author, m.seq, m.lamport, m.sent_ms, m.text, m.id
         FROM room_messages_fts f JOIN room_messages m ON m.id = f.rowid
         WHERE room_messages_fts MATCH ?1 ORDER BY m.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![&query, limit as i64], |r| row_to_post(r, me))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a room's messages here (the room and its keys stay: others keep theirs).
pub fn delete_room_history(conn: &Connection, room: &RoomId) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM room_messages WHERE room = ?1")?
        .execute([rid(room)])?;
    Ok(n as u64)
}

/// Marks every message of the room read.
pub fn mark_room_read(conn: &Connection, room: &RoomId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE rooms SET read_id = (SELECT COALESCE(MAX(id), 0) FROM room_messages WHERE room = ?1)
         WHERE id = ?1",
    )?
    .execute([rid(room)])?;
    Ok(())
}

/// Every room we know, as the apps see them, newest change first.
pub fn rooms(conn: &Connection, me: &PeerId) -> Result<Vec<Room>, StoreError> {
    let ids: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT id FROM rooms ORDER BY changed_ms DESC")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids {
        let room = RoomId::from_slice(&id).ok_or_else(|| corrupt("room id"))?;
        if let Some(r) = room_view(conn, &room, me)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// One room as the apps see it: the newest state held (or the invitation's).
pub fn room_view(
    conn: &Connection,
    room: &RoomId,
    me: &PeerId,
) -> Result<Option<Room>, StoreError> {
    let Some(row) = room_row(conn, room)? else {
        return Ok(None);
    };
    let state = match head(conn, room)? {
        Some(s) => s,
        None => match &row.invite {
            Some(b) => SignedState::decode(b).map_err(|e| corrupt(&e.to_string()))?,
            None => return joining_view(conn, room, &row),
        },
    };
    // A chain a contact sent that does not (or no longer) lists us is no invitation.
    if row.status == RoomStatus::Invited && state.state().member(me).is_none() {
        return Ok(None);
    }
    let unread: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM room_messages m JOIN rooms r ON r.id = m.room
             WHERE m.room = ?1 AND m.id > r.read_id AND m.text IS NOT NULL AND m.author != ?2",
        )?
        .query_row(params![rid(room), me], |r| r.get(0))?;
    let s = state.state();
    Ok(Some(Room {
        room_id: *room,
        name: s.name.clone(),
        topic: s.topic.clone(),
        policy: s.policy,
        creator: s.creator,
        secure: s.policy == Policy::Private,
        status: row.status,
        version: row.version,
        members: s
            .members
            .iter()
            .map(|m| RoomMember {
                peer: m.key,
                role: m.role,
            })
            .collect(),
        inviter: row.inviter,
        unread: unread as u64,
        banned: s.banned.clone(),
        published: published(conn, room)?,
    }))
}

/// A room we asked to join and hold no state of yet: what its listing said.
fn joining_view(
    conn: &Connection,
    room: &RoomId,
    row: &RoomRow,
) -> Result<Option<Room>, StoreError> {
    let Some(l) = listing(conn, room)? else {
        return Ok(None);
    };
    let l = l.listing();
    Ok(Some(Room {
        room_id: *room,
        name: l.name.clone(),
        topic: l.topic.clone(),
        policy: Policy::Public,
        creator: l.creator,
        secure: false,
        status: row.status,
        version: 0,
        members: vec![RoomMember {
            peer: l.creator,
            role: crate::room::Role::Admin,
        }],
        inviter: Some(l.creator),
        unread: 0,
        banned: Vec::new(),
        published: false,
    }))
}

/// Keeps the listing a join starts from.
pub fn set_listing(
    conn: &Connection,
    room: &RoomId,
    listing: &crate::room::SignedListing,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE rooms SET listing = ?2 WHERE id = ?1")?
        .execute(params![rid(room), listing.bytes()])?;
    Ok(())
}

/// The listing a join started from.
pub fn listing(
    conn: &Connection,
    room: &RoomId,
) -> Result<Option<crate::room::SignedListing>, StoreError> {
    let bytes: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT listing FROM rooms WHERE id = ?1")?
        .query_row([rid(room)], |r| r.get(0))
        .optional()?;
    bytes
        .flatten()
        .map(|b| crate::room::SignedListing::decode(&b).map_err(|e| corrupt(&e.to_string())))
        .transpose()
}

/// Whether we list a room of ours.
pub fn published(conn: &Connection, room: &RoomId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT published FROM rooms WHERE id = ?1")?
        .query_row([rid(room)], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Lists a room of ours, or stops listing it.
pub fn set_published(conn: &Connection, room: &RoomId, on: bool) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE rooms SET published = ?2 WHERE id = ?1")?
        .execute(params![rid(room), on])?;
    Ok(())
}

/// The rooms we list and are still in, with their newest state.
pub fn published_rooms(conn: &Connection) -> Result<Vec<SignedState>, StoreError> {
    let ids: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT id FROM rooms WHERE published = 1 AND status = 'joined'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids {
        let room = RoomId::from_slice(&id).ok_or_else(|| corrupt("room id"))?;
        out.extend(head(conn, &room)?);
    }
    Ok(out)
}

/// The members of every room we are in (the policy admits them for room traffic, and the
/// rendezvous lets them look us up), ourselves left out.
pub fn room_members(
    conn: &Connection,
    me: &PeerId,
) -> Result<Vec<(RoomId, Vec<PeerId>)>, StoreError> {
    let ids: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT id FROM rooms WHERE status = 'joined'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids {
        let room = RoomId::from_slice(&id).ok_or_else(|| corrupt("room id"))?;
        if let Some(s) = head(conn, &room)? {
            let members = s.state().members.iter().map(|m| m.key).filter(|k| k != me);
            out.push((room, members.collect()));
        }
    }
    // A room we asked to join: its creator, who lets us in, reaches us as a member would.
    let joining: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT id FROM rooms WHERE status = 'joining'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in joining {
        let room = RoomId::from_slice(&id).ok_or_else(|| corrupt("room id"))?;
        if let Some(l) = listing(conn, &room)? {
            out.push((room, vec![l.listing().creator]));
        }
    }
    Ok(out)
}

//! Owns reading history back: a conversation page by page (on time and row, so a burst
//! within one millisecond pages whole), full-text search over everything, and a walk over
//! all messages for export.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::messages::uuid_text;
use crate::identity::PeerId;
use crate::model::{Message, MessageState, PageBefore};
use crate::session::conversation_id;

const MESSAGE_COLUMNS: &str = "c.peer_id, m.msg_id, m.sender, m.outgoing, m.seq, m.sent_ms, m.ts_ms, m.text, m.state, m.mailbox, m.mailbox_until, m.mailbox_expired";

fn row_to_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    let id: Vec<u8> = r.get(1)?;
    let state = MessageState::parse(&r.get::<_, String>(8)?);
    Ok(Message {
        peer: r.get(0)?,
        id: uuid_text(&id),
        sender: r.get(2)?,
        outgoing: r.get(3)?,
        seq: r.get::<_, i64>(4)? as u64,
        sent_ms: r.get(5)?,
        ts_ms: r.get(6)?,
        text: r.get(7)?,
        state,
        mailbox: r.get(9)?,
        stored_until_ms: r
            .get::<_, Option<i64>>(10)?
            .filter(|_| state == MessageState::Stored),
        expired: state == MessageState::Queued && r.get::<_, i64>(11)? > 0,
    })
}

/// The newest `limit` messages with a peer, oldest first; `before` pages back from a
/// message (see [`PageBefore`]).
pub fn history(
    conn: &Connection,
    local: &PeerId,
    peer: &PeerId,
    limit: usize,
    before: Option<&PageBefore>,
) -> Result<Vec<Message>, StoreError> {
    let conv = conversation_id(local, peer);
    // The cursor's row id, found by its message id; a message gone meanwhile (a deleted
    // history) pages from its time alone.
    let (ts, row) = match before {
        None => (i64::MAX, i64::MAX),
        Some(b) => {
            let id = uuid::Uuid::parse_str(&b.id).map(|u| u.into_bytes()).ok();
            let row: Option<i64> = match id {
                Some(id) => conn
                    .prepare_cached(
                        "SELECT id FROM messages WHERE conversation = ?1 AND msg_id = ?2",
                    )?
                    .query_row(params![&conv[..], &id[..]], |r| r.get(0))
                    .optional()?,
                None => None,
            };
            (b.ts_ms, row.unwrap_or(i64::MIN))
        }
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conversation
         WHERE m.conversation = ?1 AND (m.ts_ms, m.id) < (?2, ?3)
         ORDER BY m.ts_ms DESC, m.id DESC LIMIT ?4"
    ))?;
    let mut rows = stmt
        .query_map(params![&conv[..], ts, row, limit as i64], row_to_message)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Full-text search over all history, newest first: every word must appear as a whole word;
/// while the last word is still being typed (no space after it) and whole words give fewer
/// than `limit` messages, the last word also matches as a prefix. Whole words are what make
/// this fast: FTS5 walks one term's doclist backwards and stops at the limit, where a prefix
/// must read every doclist it covers (prefixes of 2–4 characters have indexes of their own).
pub fn search(conn: &Connection, text: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
    super::schema::index_pending(conn)?;
    let Some(words) = fts_words(text) else {
        return Ok(Vec::new());
    };
    let found = search_match(conn, &words, limit)?;
    let typing = !text.ends_with(char::is_whitespace);
    if found.len() >= limit || !typing {
        return Ok(found);
    }
    // The prefix set holds the whole-word set: its newest `limit` are the answer.
    search_match(conn, &(words + "*"), limit)
}

/// The words of a search as an FTS5 expression, each quoted (FTS5 syntax in the text is only
/// text); `None` when there is no word.
pub(super) fn fts_words(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The newest `limit` messages matching an FTS5 expression.
fn search_match(conn: &Connection, query: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
    // Newest first straight from the index (FTS5 walks rowids backwards and stops at the
    // limit); only those rows are joined. Ordering by m.id outside would sort every match.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM (
             SELECT rowid AS hit FROM messages_fts WHERE messages_fts MATCH ?1
             ORDER BY rowid DESC LIMIT ?2
         ) h
         JOIN messages m ON m.id = h.hit
         JOIN conversations c ON c.id = m.conversation
         ORDER BY m.id DESC"
    ))?;
    let rows = stmt
        .query_map(params![query, limit as i64], row_to_message)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Calls `each` on every stored message, conversation by conversation, oldest first.
pub fn for_each_message(
    conn: &Connection,
    only: Option<&PeerId>,
    mut each: impl FnMut(&Message) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conversation
         WHERE ?1 IS NULL OR c.peer_id = ?1
         ORDER BY c.peer_id, m.ts_ms, m.id"
    ))?;
    let mut rows = stmt.query([only])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        each(&row_to_message(row)?)?;
        n += 1;
    }
    Ok(n)
}

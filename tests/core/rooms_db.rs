//! Reading a node's room tables directly (its database, through `natter::internals`), for
//! the checks no command answers: a message's signed bytes, the keys a member holds, a
//! stored state version.

use natter::PeerId;
use natter::internals::store;
use natter::room::{RoomId, SenderKey, SignedState};

use crate::support::TestNode;

fn db(n: &TestNode) -> rusqlite_free::Conn {
    rusqlite_free::Conn(store::open_connection(&n._dir.path().join(store::DB_FILE)).unwrap())
}

/// The connection type, named without depending on rusqlite here.
mod rusqlite_free {
    pub(crate) struct Conn(pub(crate) natter::internals::store::DbConnection);
}

/// The signed bytes of `author`'s message `seq` in the room, as `n` stores them.
pub(crate) fn message_bytes(n: &TestNode, room: RoomId, author: PeerId, seq: u64) -> Vec<u8> {
    let c = db(n);
    store::messages_range(&c.0, &room, (&author, seq, seq), usize::MAX)
        .unwrap()
        .pop()
        .expect("the message is stored")
}

/// Every key of `author` that `n` holds for the room.
pub(crate) fn keys_of(n: &TestNode, room: RoomId, author: PeerId) -> Vec<SenderKey> {
    store::keys_of(&db(n).0, &room, &author).unwrap()
}

/// Version `v` of the room's state as `n` stores it.
pub(crate) fn state(n: &TestNode, room: RoomId, v: u64) -> SignedState {
    let bytes = store::states_from(&db(n).0, &room, v, 1).unwrap();
    SignedState::decode(&bytes[0]).unwrap()
}

/// What `n` knows `member` has from it in the room (held, or deposited in its mailbox).
pub(crate) fn mailed(n: &TestNode, room: RoomId, member: PeerId) -> store::Mailed {
    store::mailed(&db(n).0, &room, &member).unwrap()
}

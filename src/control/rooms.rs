//! Owns the room commands: running them against a node, and their human-readable answers.

use serde_json::Value;

use super::answer::MemberNow;
use super::{Answer, Command, ControlError};
use crate::node::NodeHandle;
use crate::text::printable;

/// Runs a room command.
pub(super) async fn execute(node: &NodeHandle, cmd: &Command) -> Result<Answer, ControlError> {
    Ok(match cmd {
        Command::RoomCreate {
            name,
            topic,
            invite,
            public,
        } => {
            let topic = topic.as_deref().unwrap_or("");
            let mut room = match public {
                true => node.room_create_public(name, topic).await?,
                false => node.room_create(name, topic).await?,
            };
            for peer in invite {
                room = node.room_invite(room.room_id, *peer).await?;
            }
            Answer::Room(room)
        }
        Command::RoomInvite { room, id } => Answer::Room(node.room_invite(*room, *id).await?),
        Command::RoomAccept { room } => Answer::Room(node.room_accept(*room).await?),
        Command::RoomDecline { room } => Answer::Room(node.room_decline(*room).await?),
        Command::RoomSend { room, text } => Answer::RoomPost(node.room_send(*room, text).await?),
        Command::RoomHistory { room, limit } => {
            Answer::RoomPosts(node.room_history(*room, limit.unwrap_or(50)).await?)
        }
        Command::RoomMembers { room } => {
            let r = node.room(*room).await?;
            let me = node.peer_id();
            Answer::RoomMembers {
                room_id: r.room_id,
                members: r
                    .members
                    .iter()
                    .map(|m| MemberNow {
                        peer: m.peer,
                        role: m.role,
                        connected: m.peer == me || node.is_connected(&m.peer),
                    })
                    .collect(),
            }
        }
        Command::RoomLeave { room } => Answer::Room(node.room_leave(*room).await?),
        Command::RoomRemove { room, id } => Answer::Room(node.room_remove(*room, *id).await?),
        Command::RoomList => Answer::Rooms(node.rooms().await?),
        Command::RoomSearch { text, limit } => {
            Answer::RoomPosts(node.room_search(text, limit.unwrap_or(50)).await?)
        }
        Command::RoomDeleteHistory { room } => Answer::RoomHistoryDeleted {
            room_id: *room,
            deleted: node.room_delete_history(*room).await?,
        },
        Command::RoomPublish { room, off } => Answer::Room(node.room_publish(*room, !off).await?),
        Command::RoomNearby => Answer::ListedRooms(node.room_nearby().await),
        Command::RoomDirectory { query, limit } => Answer::ListedRooms(
            node.room_directory(query.as_deref().unwrap_or(""), limit.unwrap_or(20))
                .await?,
        ),
        Command::RoomJoin { room } => Answer::Room(node.room_join(*room).await?),
        Command::RoomBan { room, id } => Answer::Room(node.room_ban(*room, *id).await?),
        Command::RoomUnban { room, id } => Answer::Room(node.room_unban(*room, *id).await?),
        other => {
            return Err(ControlError::Node(crate::node::NodeError::Invalid(
                format!("not a room command: {other:?}"),
            )));
        }
    })
}

fn room_line(r: &Value) -> String {
    let secure = if r["secure"].as_bool().unwrap_or(false) {
        "secure"
    } else {
        "public"
    };
    format!(
        "{}  {}  {}  {} members  {secure}  v{}",
        r["room_id"].as_str().unwrap_or(""),
        printable(r["name"].as_str().unwrap_or("")),
        r["status"].as_str().unwrap_or(""),
        r["members"].as_array().map_or(0, Vec::len),
        r["version"].as_u64().unwrap_or(0)
    )
}

fn listed_line(r: &Value) -> String {
    let topic = printable(r["topic"].as_str().unwrap_or(""));
    format!(
        "{}  {}  {} members  {}{}",
        r["room_id"].as_str().unwrap_or(""),
        printable(r["name"].as_str().unwrap_or("")),
        r["members"].as_u64().unwrap_or(0),
        r["seen"].as_str().unwrap_or(""),
        if topic.is_empty() {
            String::new()
        } else {
            format!("  — {topic}")
        }
    )
}

fn post_line(m: &Value) -> String {
    let author = m["author"].as_str().unwrap_or("");
    let who = if m["outgoing"].as_bool().unwrap_or(false) {
        "me".to_string()
    } else {
        author.get(..10).unwrap_or(author).to_string()
    };
    format!(
        "#{} {who}: {}",
        m["seq"].as_u64().unwrap_or(0),
        printable(m["text"].as_str().unwrap_or(""))
    )
}

/// The text a person reads for a room command's answer (`None`: not one).
pub(super) fn render(cmd: &Command, v: &Value) -> Option<String> {
    let list = |f: &dyn Fn(&Value) -> String| {
        let lines: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(f).collect())
            .unwrap_or_default();
        if lines.is_empty() {
            "(none)".to_string()
        } else {
            lines.join("\n")
        }
    };
    Some(match cmd {
        Command::RoomCreate { .. }
        | Command::RoomInvite { .. }
        | Command::RoomAccept { .. }
        | Command::RoomDecline { .. }
        | Command::RoomLeave { .. }
        | Command::RoomRemove { .. }
        | Command::RoomPublish { .. }
        | Command::RoomBan { .. }
        | Command::RoomUnban { .. } => room_line(v),
        Command::RoomJoin { .. } => match v["status"].as_str() {
            Some("joining") => format!(
                "{}\nasked to join; its creator has not answered yet (the join goes on: `room list` shows it)",
                room_line(v)
            ),
            _ => room_line(v),
        },
        Command::RoomNearby | Command::RoomDirectory { .. } => list(&listed_line),
        Command::RoomList => list(&room_line),
        Command::RoomSend { .. } => format!("sent #{}", v["seq"].as_u64().unwrap_or(0)),
        Command::RoomHistory { .. } => list(&post_line),
        Command::RoomSearch { .. } => list(&|m| {
            let room = m["room_id"].as_str().unwrap_or("");
            format!("{}  {}", room.get(..10).unwrap_or(room), post_line(m))
        }),
        Command::RoomDeleteHistory { .. } => format!(
            "deleted {} messages of the room on this device (the other members keep theirs)",
            v["deleted"].as_u64().unwrap_or(0)
        ),
        Command::RoomMembers { .. } => {
            let members: Vec<String> = v["members"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|m| {
                            format!(
                                "{}  {}  {}",
                                m["peer"].as_str().unwrap_or(""),
                                m["role"].as_str().unwrap_or(""),
                                if m["connected"].as_bool().unwrap_or(false) {
                                    "connected"
                                } else {
                                    "not connected"
                                }
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            members.join("\n")
        }
        _ => return None,
    })
}

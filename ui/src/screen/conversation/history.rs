//! The history of a conversation as a current messenger shows it: day separators, messages
//! grouped by sender and minute under one avatar (drawn from the key), name and time; ours
//! on the right in the accent colour, theirs on the left; a "New messages" marker above what
//! was unread when the conversation opened; links that open in the browser; a message's
//! actions on a right click (copy its text or a link); the message a search hit jumped to,
//! highlighted; and under ours where they are (ticks, a mailbox's date, an expiry).
//! `items` is the layout without iced, tested on its own.

use std::ops::Range;

use iced::widget::{
    Column, button, column, container, image, mouse_area, rich_text, row, span, text,
};
use iced::{Alignment, Element, Length};
use natter::dates::TimeZone;
use natter::model::MessageState;

use super::{Message, tick};
use crate::theme::SMALL;
use crate::{App, links};

/// What the history shows, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The heading of a day ("Today", "Yesterday", a date), for the message at this index.
    Day(usize),
    /// "New messages": what follows was unread when the conversation opened.
    Unread,
    /// Messages of one sender in one minute (indexes into the page).
    Group(Range<usize>),
}

/// The layout of `messages` (oldest first): a day heading where the day changes, the unread
/// marker before the message at `marker`, and groups of one sender's messages within one
/// minute (a heading or the marker also starts a new group).
pub fn items(messages: &[natter::Message], marker: Option<usize>, zone: &TimeZone) -> Vec<Item> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, m) in messages.iter().enumerate() {
        let day = natter::dates::day_in(m.ts_ms, zone);
        let new_day = i == 0 || natter::dates::day_in(messages[i - 1].ts_ms, zone) != day;
        let same_group = i > 0 && !new_day && marker != Some(i) && {
            let p = &messages[i - 1];
            p.outgoing == m.outgoing
                && p.sender == m.sender
                && natter::dates::time_of_day_in(p.ts_ms, zone)
                    == natter::dates::time_of_day_in(m.ts_ms, zone)
        };
        if !same_group {
            if i > start {
                out.push(Item::Group(start..i));
            }
            start = i;
            if new_day {
                out.push(Item::Day(i));
            }
            if marker == Some(i) {
                out.push(Item::Unread);
            }
        }
    }
    if start < messages.len() {
        out.push(Item::Group(start..messages.len()));
    }
    out
}

/// Where the last `unread` messages of theirs start.
pub fn unread_start(messages: &[natter::Message], unread: usize) -> Option<usize> {
    if unread == 0 {
        return None;
    }
    let mut seen = 0;
    for (i, m) in messages.iter().enumerate().rev() {
        if !m.outgoing {
            seen += 1;
            if seen == unread {
                return Some(i);
            }
        }
    }
    // Fewer of theirs loaded than were unread: all of the page is new.
    messages.iter().position(|m| !m.outgoing)
}

/// The state line under a message of ours (empty under theirs, unless a mailbox carried
/// it): its tick, until when a mailbox keeps it, or that it expired there.
pub fn state_line(m: &natter::Message, zone: &TimeZone) -> String {
    let at = |ms: i64| {
        format!(
            "{} {}",
            natter::dates::date_in(ms, zone),
            natter::dates::time_of_day_in(ms, zone)
        )
    };
    match (m.state, m.stored_until_ms, &m.mailbox) {
        (MessageState::Stored, Some(until), _) => format!("✉ stored for them until {}", at(until)),
        (MessageState::Queued, ..) if m.expired => {
            "⌛ expired in the mailbox: goes out when they are online".into()
        }
        // A server that carried it is an intermediary: said where the message came through.
        (MessageState::Received, _, Some(rv)) => format!("via the mailbox of {rv}"),
        (state, ..) => tick(state).into(),
    }
}

/// The history pane's content for the open conversation.
pub(super) fn view<'a>(
    app: &'a App,
    peer: natter::PeerId,
    messages: &'a [natter::Message],
) -> Column<'a, Message> {
    let state = &app.conversation;
    let zone = natter::dates::local_zone();
    let now = natter::dates::now_ms();
    let marker = state
        .marker
        .as_ref()
        .filter(|(p, _)| *p == peer)
        .and_then(|(_, id)| messages.iter().position(|m| m.id == *id));
    let mut list = Column::new().spacing(8);
    for item in items(messages, marker, &zone) {
        list = list.push(match item {
            Item::Day(i) => container(
                text(natter::dates::day_heading_in(messages[i].ts_ms, now, &zone)).size(SMALL),
            )
            .center_x(Length::Fill)
            .into(),
            Item::Unread => container(text(UNREAD_MARKER).size(SMALL).style(text::danger))
                .center_x(Length::Fill)
                .into(),
            Item::Group(range) => group(app, peer, &messages[range], &zone),
        });
    }
    list
}

/// The marker above what was unread.
pub const UNREAD_MARKER: &str = "── New messages ──";

/// One sender's messages in one minute.
fn group<'a>(
    app: &'a App,
    peer: natter::PeerId,
    messages: &'a [natter::Message],
    zone: &TimeZone,
) -> Element<'a, Message> {
    let first = &messages[0];
    let ours = first.outgoing;
    let name = match (ours, app.contact(&peer)) {
        (true, _) => "You".to_string(),
        (false, Some(_)) => app.name_of(&peer),
        (false, None) => crate::screen::widget::stranger(app, &peer),
    };
    let avatar = image(crate::identicon::handle(&first.sender))
        .width(28)
        .height(28);
    let heading = row![
        text(name).size(SMALL),
        text(natter::dates::time_of_day_in(first.ts_ms, zone)).size(SMALL)
    ]
    .spacing(8);
    let mut bubbles = column![heading].spacing(3);
    bubbles = bubbles.align_x(if ours {
        Alignment::End
    } else {
        Alignment::Start
    });
    for m in messages {
        bubbles = bubbles.push(bubble(app, m, zone));
    }
    // Ours against the right edge, theirs against the left.
    let side = if ours {
        iced::alignment::Horizontal::Right
    } else {
        iced::alignment::Horizontal::Left
    };
    let bubbles = container(bubbles)
        .width(Length::FillPortion(4))
        .align_x(side);
    let room = iced::widget::space().width(Length::FillPortion(1));
    if ours {
        row![room, bubbles, avatar].spacing(8).into()
    } else {
        row![avatar, bubbles, room].spacing(8).into()
    }
}

/// The widget id of a message's text (tests find a message's links by it).
pub fn message_id(id: &str) -> iced::widget::Id {
    iced::widget::Id::from(format!("message-{id}"))
}

/// One message: its text (links clickable), the state line, and its actions when picked.
fn bubble<'a>(app: &'a App, m: &'a natter::Message, zone: &TimeZone) -> Element<'a, Message> {
    let pieces = links::split(&m.text);
    let body: Element<'a, Message> = if pieces.iter().all(|p| p.link.is_none()) {
        text(m.text.as_str()).into()
    } else {
        let spans: Vec<_> = pieces
            .into_iter()
            .map(|p| match p.link {
                Some(link) => span(p.text).link(link).underline(true),
                None => span(p.text),
            })
            .collect();
        rich_text(spans).on_link_click(Message::OpenLink).into()
    };
    let state = &app.conversation;
    let highlighted = state.jump.as_ref().is_some_and(|j| j.id == m.id);
    let style = match (highlighted, m.outgoing) {
        (true, _) => container::warning,
        (false, true) => container::primary,
        (false, false) => container::rounded_box,
    };
    let col = column![
        mouse_area(
            container(body)
                .id(message_id(&m.id))
                .padding([4, 10])
                .style(style)
        )
        .on_right_press(Message::Pick(m.id.clone()))
    ]
    .spacing(2);
    let mut col = col.align_x(if m.outgoing {
        Alignment::End
    } else {
        Alignment::Start
    });
    let line = state_line(m, zone);
    if !line.is_empty() {
        col = col.push(text(line).size(11));
    }
    if state.picked.as_deref() == Some(m.id.as_str()) {
        let mut actions = row![
            button(text(COPY).size(SMALL))
                .on_press(Message::Copy(m.text.clone()))
                .style(button::secondary)
        ]
        .spacing(4);
        if let Some(link) = links::all(&m.text).into_iter().next() {
            actions = actions.push(
                button(text(COPY_LINK).size(SMALL))
                    .on_press(Message::Copy(link))
                    .style(button::secondary),
            );
        }
        actions = actions.push(
            button(text("✕").size(SMALL))
                .on_press(Message::Unpick)
                .style(button::text),
        );
        col = col.push(actions);
    }
    col.into()
}

/// The actions a right click on a message shows.
pub const COPY: &str = "Copy text";
/// Copies the message's first link.
pub const COPY_LINK: &str = "Copy link";

#[cfg(test)]
mod tests {
    use super::*;
    use natter::Identity;

    fn msg(sender: natter::PeerId, outgoing: bool, ts_ms: i64) -> natter::Message {
        natter::Message {
            id: format!("{ts_ms}"),
            peer: sender,
            sender,
            outgoing,
            seq: 0,
            sent_ms: ts_ms,
            ts_ms,
            text: "x".into(),
            state: MessageState::Received,
            mailbox: None,
            stored_until_ms: None,
            expired: false,
        }
    }

    #[test]
    fn groups_break_on_sender_minute_day_and_the_unread_marker() {
        let zone = TimeZone::UTC;
        let (me, bob) = (
            Identity::generate().peer_id(),
            Identity::generate().peer_id(),
        );
        let day = 86_400_000;
        let page = [
            msg(bob, false, 10 * day),         // 0 day 10, 00:00
            msg(bob, false, 10 * day + 5_000), // 1 same minute: same group
            msg(me, true, 10 * day + 6_000),   // 2 ours
            msg(me, true, 10 * day + 61_000),  // 3 next minute
            msg(bob, false, 11 * day),         // 4 next day
            msg(bob, false, 11 * day + 1_000), // 5 unread from here
            msg(bob, false, 11 * day + 2_000), // 6
        ];
        assert_eq!(unread_start(&page, 2), Some(5));
        assert_eq!(unread_start(&page, 0), None);
        assert_eq!(
            unread_start(&page, 9),
            Some(0),
            "more than loaded: all of theirs"
        );
        assert_eq!(unread_start(&page[2..4], 1), None, "none of theirs loaded");
        assert_eq!(
            items(&page, Some(5), &zone),
            vec![
                Item::Day(0),
                Item::Group(0..2),
                Item::Group(2..3),
                Item::Group(3..4),
                Item::Day(4),
                Item::Group(4..5),
                Item::Unread,
                Item::Group(5..7),
            ]
        );
        // Nothing unread: no marker, the day's messages in one group.
        assert_eq!(
            items(&page[4..], None, &zone),
            vec![Item::Day(0), Item::Group(0..3)]
        );
        // Ours in two minutes: two groups.
        assert_eq!(
            items(&page[2..4], None, &zone),
            vec![Item::Day(0), Item::Group(0..1), Item::Group(1..2)]
        );
        // The marker breaks a group and follows a day heading.
        assert_eq!(
            items(&page[3..5], Some(1), &zone),
            vec![
                Item::Day(0),
                Item::Group(0..1),
                Item::Day(1),
                Item::Unread,
                Item::Group(1..2)
            ]
        );
    }

    #[test]
    fn the_state_line_says_where_a_message_of_ours_is() {
        let zone = TimeZone::UTC;
        let me = Identity::generate().peer_id();
        let mut m = msg(me, true, 0);
        m.state = MessageState::Stored;
        m.stored_until_ms = Some(1_765_000_000_000);
        assert_eq!(
            state_line(&m, &zone),
            "✉ stored for them until 2025-12-06 05:46"
        );
        m.state = MessageState::Queued;
        m.stored_until_ms = None;
        m.expired = true;
        assert!(state_line(&m, &zone).contains("goes out when they are online"));
        m.expired = false;
        assert_eq!(state_line(&m, &zone), tick(MessageState::Queued));
        let mut theirs = msg(me, false, 0);
        assert_eq!(state_line(&theirs, &zone), "");
        theirs.mailbox = Some("rv.example:4433".into());
        assert_eq!(
            state_line(&theirs, &zone),
            "via the mailbox of rv.example:4433"
        );
    }
}

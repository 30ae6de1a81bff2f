//! Owns the tray item (a freedesktop StatusNotifierItem, through `ksni`): the unread count in
//! its title and tooltip, attention while something is unread, and a menu to open the window,
//! set the status and quit. What the user does with it comes back as [`Event`]s.

use std::fmt;

use iced::futures::{SinkExt, Stream};
use ksni::TrayMethods;
use natter::model::Status;
use tokio::sync::mpsc;

/// What the tray tells the app.
#[derive(Debug, Clone)]
pub enum Event {
    /// The item is up: a host shows it (keep it to update it).
    Ready(Tray),
    /// No tray host on this desktop (or no session bus): closing the window quits.
    Unavailable(String),
    /// Clicked, or "Open Natter" chosen.
    Open,
    /// A status chosen in its menu.
    Status(Status),
    /// "Quit Natter" chosen.
    Quit,
}

/// What the item shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    /// Unread messages.
    pub unread: usize,
    /// Our status.
    pub status: Status,
}

/// A handle on the running tray item.
#[derive(Clone)]
pub struct Tray(ksni::Handle<Item>);

impl fmt::Debug for Tray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tray")
    }
}

impl Tray {
    /// Shows a new count and status.
    pub async fn show(self, shown: Shown) {
        self.0.update(move |item| item.shown = shown).await;
    }
}

/// The StatusNotifierItem's own state.
pub struct Item {
    shown: Shown,
    tx: mpsc::UnboundedSender<Event>,
}

const STATUSES: [(Status, &str); 4] = [
    (Status::Online, "Online"),
    (Status::Away, "Away"),
    (Status::Busy, "Busy"),
    (Status::Invisible, "Invisible"),
];

/// The item's title: "Natter", with the unread count when there is one (as the window's).
pub fn title(unread: usize) -> String {
    match unread {
        0 => "Natter".into(),
        n => format!("Natter ({n})"),
    }
}

impl ksni::Tray for Item {
    fn id(&self) -> String {
        crate::desktop::APP_ID.into()
    }

    fn title(&self) -> String {
        title(self.shown.unread)
    }

    fn icon_name(&self) -> String {
        crate::desktop::APP_ID.into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        // For a run from a checkout, where no icon theme has ours.
        crate::desktop::icon_argb()
            .map(|(width, height, data)| {
                vec![ksni::Icon {
                    width: width as i32,
                    height: height as i32,
                    data,
                }]
            })
            .unwrap_or_default()
    }

    fn status(&self) -> ksni::Status {
        if self.shown.unread > 0 {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        let description = match self.shown.unread {
            0 => "No unread messages".into(),
            1 => "1 unread message".into(),
            n => format!("{n} unread messages"),
        };
        ksni::ToolTip {
            title: title(self.shown.unread),
            description,
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        let _ = self.tx.send(Event::Open);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::{RadioGroup, RadioItem, StandardItem, SubMenu};
        let selected = STATUSES
            .iter()
            .position(|(s, _)| *s == self.shown.status)
            .unwrap_or(0);
        vec![
            StandardItem {
                label: "Open Natter".into(),
                activate: Box::new(|item: &mut Self| {
                    let _ = item.tx.send(Event::Open);
                }),
                ..Default::default()
            }
            .into(),
            SubMenu {
                label: "Status".into(),
                submenu: vec![
                    RadioGroup {
                        selected,
                        select: Box::new(|item: &mut Self, i| {
                            if let Some((status, _)) = STATUSES.get(i) {
                                item.shown.status = *status;
                                let _ = item.tx.send(Event::Status(*status));
                            }
                        }),
                        options: STATUSES
                            .iter()
                            .map(|(_, label)| RadioItem {
                                label: (*label).into(),
                                ..Default::default()
                            })
                            .collect(),
                    }
                    .into(),
                ],
                ..Default::default()
            }
            .into(),
            ksni::MenuItem::Separator,
            StandardItem {
                label: "Quit Natter".into(),
                activate: Box::new(|item: &mut Self| {
                    let _ = item.tx.send(Event::Quit);
                }),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// Puts the item in the tray and streams what the user does with it (first `Ready` or
/// `Unavailable`).
pub fn run() -> impl Stream<Item = Event> {
    iced::stream::channel(16, async move |mut out| {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let item = Item {
            shown: Shown {
                unread: 0,
                status: Status::Online,
            },
            tx,
        };
        match item.spawn().await {
            Ok(handle) => {
                let _ = out.send(Event::Ready(Tray(handle))).await;
            }
            Err(e) => {
                tracing::info!(error = %e, "no tray");
                let _ = out.send(Event::Unavailable(e.to_string())).await;
                return;
            }
        }
        while let Some(e) = rx.recv().await {
            if out.send(e).await.is_err() {
                return;
            }
        }
    })
}

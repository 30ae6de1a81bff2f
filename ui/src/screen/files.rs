//! The files of a conversation: offers to accept or decline, progress with a cancel, and
//! received files to open or show in the file manager; the "Send file…" button that opens
//! the desktop's file chooser (a portal on Wayland, where dropping a file never arrives).
//! Part of the conversation pane: its messages are the conversation's.

use std::path::PathBuf;

use iced::widget::{Column, button, column, progress_bar, row, text};
use iced::{Element, Length};
use natter::PeerId;
use natter::model::TransferState;

use super::Action;
use super::conversation::{Message, human_size};
use crate::theme::SMALL;
use crate::{App, Op};

/// File types that run code when "opened": shown in their folder, never opened from here
/// (a peer chooses a file's name and contents).
const RUNS_CODE: [&str; 24] = [
    "desktop", "sh", "bash", "run", "bin", "appimage", "exe", "msi", "bat", "cmd", "com", "scr",
    "ps1", "vbs", "js", "jar", "py", "pl", "rb", "lnk", "url", "command", "app", "deb",
];

/// Whether opening a file with the desktop's application for it could run its contents.
pub fn runs_code(name: &str) -> bool {
    let ext = std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    ext.is_some_and(|e| RUNS_CODE.contains(&e.as_str()))
}

/// The button beside the composer.
pub fn send_button<'a>() -> Element<'a, Message> {
    button(text("Send file…"))
        .on_press(Message::PickFile)
        .style(button::secondary)
        .into()
}

/// Opens a received file, or shows it in its folder (`reveal`).
pub fn open(app: &mut App, file_id: &str, reveal: bool) -> Action {
    let found = app
        .conversation
        .transfers
        .iter()
        .find(|t| t.file_id == file_id && !t.outgoing && t.state == TransferState::Done);
    let Some(t) = found else {
        return Action::none();
    };
    let Some(path) = t.path.as_deref().map(PathBuf::from) else {
        return Action::none();
    };
    if !reveal && runs_code(&t.name) {
        app.error = Some(format!(
            "{} could run programs if opened: Natter only shows it in its folder. Open it \
             yourself only if you trust it and expected it.",
            t.name
        ));
        return Action::run(Op::Open { path, reveal: true });
    }
    Action::run(Op::Open { path, reveal })
}

/// The conversation's transfers, each with what can be done with it.
pub fn list(app: &App, peer: PeerId) -> Column<'_, Message> {
    let mut col = Column::new().spacing(4);
    for t in app.conversation.transfers.iter().filter(|t| t.peer == peer) {
        let size = human_size(t.size);
        let id = || t.file_id.clone();
        let line: Element<'_, Message> = match (t.state, t.outgoing) {
            (TransferState::Offered, false) => row![
                text(format!("📄 {} ({size}) offered", t.name)).width(Length::Fill),
                button(text("Accept")).on_press(Message::AcceptFile(id())),
                button(text("Decline")).on_press(Message::DeclineFile(id())),
            ]
            .spacing(6)
            .into(),
            (TransferState::Offered | TransferState::Accepted, outgoing) => {
                let (done, total) = app
                    .conversation
                    .progress
                    .get(&t.file_id)
                    .copied()
                    .unwrap_or((0, t.size));
                let verb = if outgoing { "sending" } else { "receiving" };
                column![
                    row![
                        text(format!("📄 {} ({size}) {verb}", t.name))
                            .size(SMALL)
                            .width(Length::Fill),
                        button(text("Cancel").size(SMALL))
                            .on_press(Message::CancelFile(id()))
                            .style(button::text),
                    ],
                    progress_bar(0.0..=total.max(1) as f32, done as f32).girth(6),
                ]
                .into()
            }
            (TransferState::Done, false) => {
                let mut line = row![
                    text(format!(
                        "📄 {} ({size}) saved to {}",
                        t.name,
                        t.path.as_deref().unwrap_or("downloads")
                    ))
                    .size(SMALL)
                    .width(Length::Fill)
                ]
                .spacing(6);
                if !runs_code(&t.name) {
                    line = line.push(
                        button(text("Open").size(SMALL))
                            .on_press(Message::OpenFile(id()))
                            .style(button::text),
                    );
                }
                line.push(
                    button(text("Show in folder").size(SMALL))
                        .on_press(Message::ShowFile(id()))
                        .style(button::text),
                )
                .into()
            }
            (TransferState::Done, true) => text(format!("📄 {} ({size}) sent", t.name))
                .size(SMALL)
                .into(),
            (state, _) => text(format!(
                "📄 {} {}{}",
                t.name,
                format!("{state:?}").to_lowercase(),
                t.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ))
            .size(SMALL)
            .into(),
        };
        col = col.push(line);
    }
    col
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_that_run_code_are_known_by_their_extension() {
        for name in ["setup.EXE", "x.desktop", "run.sh", "a.b.AppImage"] {
            assert!(super::runs_code(name), "{name}");
        }
        for name in ["photo.jpg", "notes.txt", "report.pdf", "exe", "desktop.png"] {
            assert!(!super::runs_code(name), "{name}");
        }
    }
}

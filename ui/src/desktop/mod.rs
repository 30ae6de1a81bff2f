//! Owns the app's place on the desktop: its one window (opened, closed, raised; its identity
//! and remembered size), the tray item, and one running instance per profile. The app keeps
//! running with its window closed while a tray shows it; with no tray, closing quits.

pub mod autostart;
pub mod files;
pub mod instance;
pub mod notices;
pub mod tray;

use std::path::{Path, PathBuf};

use iced::{Size, Task, window};

use crate::screen::Action;
use crate::{App, Op};

/// The app id: the desktop file's name, the Wayland app id and X11 class, the tray item's id
/// and the icon's name in the icon theme.
pub const APP_ID: &str = "org.natter.Natter";

/// The window's size when none was remembered.
pub const DEFAULT_SIZE: Size = Size::new(1024.0, 768.0);

/// The file in the profile folder that remembers the window's size (`WIDTH HEIGHT`).
pub const SIZE_FILE: &str = "window-size";

/// The desktop side of the app's state.
#[derive(Debug, Default)]
pub struct Desktop {
    /// The open window, if one is.
    pub window: Option<window::Id>,
    /// Its size as last reported.
    pub size: Option<Size>,
    /// The tray item, while a host shows it.
    pub tray: Option<tray::Tray>,
    /// What the tray item shows now.
    pub shown: Option<tray::Shown>,
    /// The autostart entry is in place (Settings shows it).
    pub autostart: bool,
    /// The notifications raised lately (newest last, at most [`NOTES_KEPT`]) and what a
    /// click on each opens.
    pub notes: std::collections::VecDeque<(u32, crate::notify::Source)>,
}

/// How many raised notifications a click is followed for.
pub const NOTES_KEPT: usize = 64;

/// What the desktop tells the app.
#[derive(Debug, Clone)]
pub enum Message {
    /// The window opened.
    Opened(window::Id),
    /// The user (or the window manager) asked to close the window.
    CloseRequested(window::Id),
    /// The window is gone.
    Closed(window::Id),
    /// The window has a new size.
    Resized(Size),
    /// The tray item.
    Tray(tray::Event),
    /// `natter-cli stop` asked the app to quit.
    Quit,
    /// A notification was raised (its id at the server) for this conversation.
    Noted(u32, crate::notify::Source),
    /// The user clicked a notification.
    NoteClicked(u32),
}

/// What the app asks of the desktop.
#[derive(Debug, Clone, PartialEq)]
pub enum Do {
    /// Open the window, or raise it if it is open.
    Show,
    /// Close the window; the app keeps running.
    Close,
    /// Stop the node and leave.
    Quit,
    /// Put the autostart entry in place (true) or remove it.
    Autostart(bool),
}

/// Applies a desktop message.
pub fn update(app: &mut App, message: Message) -> Action {
    tracing::debug!(?message, tray = app.desktop.tray.is_some(), "desktop");
    match message {
        Message::Opened(id) => {
            app.desktop.window = Some(id);
            Action::none()
        }
        Message::CloseRequested(_) if app.desktop.tray.is_some() => Action::run(Do::Close),
        // Nowhere to come back from: closing the only way in quits.
        Message::CloseRequested(_) => Action::run(Do::Quit),
        Message::Closed(id) => {
            if app.desktop.window == Some(id) {
                app.desktop.window = None;
            }
            // Nobody is looking: new messages stay unread and raise notifications.
            app.window.background = true;
            Action::none()
        }
        Message::Resized(size) => {
            app.desktop.size = Some(size);
            Action::none()
        }
        Message::Tray(tray::Event::Ready(t)) => {
            app.desktop.tray = Some(t);
            app.desktop.shown = None;
            Action::none()
        }
        Message::Tray(tray::Event::Unavailable(_)) => {
            app.desktop.tray = None;
            // Started hidden (at login) where no tray can show it: the window comes up.
            match app.desktop.window {
                None => Action::run(Do::Show),
                Some(_) => Action::none(),
            }
        }
        Message::Tray(tray::Event::Open) => Action::run(Do::Show),
        Message::Noted(id, source) => {
            if app.desktop.notes.len() == NOTES_KEPT {
                app.desktop.notes.pop_front();
            }
            app.desktop.notes.push_back((id, source));
            Action::none()
        }
        Message::NoteClicked(id) => {
            let Some(&(_, source)) = app.desktop.notes.iter().find(|(n, _)| *n == id) else {
                // Another app's, or one raised before this start.
                return Action::none();
            };
            let opened = match source {
                crate::notify::Source::Peer(p) => {
                    crate::screen::sidebar::update(app, crate::screen::sidebar::Message::Select(p))
                }
                crate::notify::Source::Room(r) => {
                    crate::screen::room::update(app, crate::screen::room::Message::Select(r))
                }
            };
            opened.and(Do::Show)
        }
        Message::Tray(tray::Event::Quit) | Message::Quit => Action::run(Do::Quit),
        Message::Tray(tray::Event::Status(status)) => crate::screen::sidebar::update(
            app,
            crate::screen::sidebar::Message::Status(crate::screen::sidebar::StatusChoice(status)),
        ),
    }
}

impl From<Do> for Op {
    fn from(d: Do) -> Self {
        Op::Desktop(d)
    }
}

/// The folder for the app's log files: `NATTER_LOG_DIR`, else the state folder
/// (`~/.local/state/natter`), else the local data folder's `logs`.
pub fn log_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("NATTER_LOG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let dirs = directories::ProjectDirs::from("org", "Natter", "natter")?;
    Some(match dirs.state_dir() {
        Some(state) => state.to_path_buf(),
        None => dirs.data_local_dir().join("logs"),
    })
}

/// The session bus, connected once for the app's life (`None`: no bus, so no notification
/// server or file manager to reach).
pub(crate) async fn session_bus() -> Option<&'static zbus::Connection> {
    static BUS: tokio::sync::OnceCell<Option<zbus::Connection>> =
        tokio::sync::OnceCell::const_new();
    BUS.get_or_init(|| async {
        zbus::Connection::session()
            .await
            .map_err(|e| tracing::debug!(error = %e, "no session bus"))
            .ok()
    })
    .await
    .as_ref()
}

/// The window's settings: the app id, the icon, the size remembered in `profile`.
pub fn window_settings(profile: &Path) -> window::Settings {
    window::Settings {
        size: remembered_size(profile).unwrap_or(DEFAULT_SIZE),
        min_size: Some(Size::new(480.0, 360.0)),
        icon: icon_rgba().and_then(|(w, h, rgba)| window::icon::from_rgba(rgba, w, h).ok()),
        // The app decides: close, or quit when no tray can bring the window back.
        exit_on_close_request: false,
        #[cfg(target_os = "linux")]
        platform_specific: window::settings::PlatformSpecific {
            application_id: APP_ID.into(),
            ..Default::default()
        },
        ..window::Settings::default()
    }
}

/// The size the window had when it was last closed, if it was saved and is sane.
pub fn remembered_size(profile: &Path) -> Option<Size> {
    let text = std::fs::read_to_string(profile.join(SIZE_FILE)).ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<f32>().ok());
    let (w, h) = (parts.next()??, parts.next()??);
    let sane = |v: f32| v.is_finite() && (200.0..=16384.0).contains(&v);
    (sane(w) && sane(h)).then_some(Size::new(w, h))
}

/// Remembers the window's size for the next start (a failure only costs the default size).
pub fn remember_size(profile: &Path, size: Size) {
    let text = format!("{} {}\n", size.width.round(), size.height.round());
    if let Err(e) = std::fs::write(profile.join(SIZE_FILE), text) {
        tracing::debug!(error = %e, "window size not saved");
    }
}

/// The window and tray icon: the 64 px PNG the packages install, as (width, height, RGBA).
fn icon_rgba() -> Option<(u32, u32, Vec<u8>)> {
    static PNG: &[u8] = include_bytes!("../../../resources/icons/natter-64.png");
    let mut reader = png::Decoder::new(std::io::Cursor::new(PNG))
        .read_info()
        .ok()?;
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    (info.color_type == png::ColorType::Rgba && info.bit_depth == png::BitDepth::Eight)
        .then(|| (info.width, info.height, buf[..info.buffer_size()].to_vec()))
}

/// The icon as the tray wants it: ARGB32 in network byte order.
pub(crate) fn icon_argb() -> Option<(u32, u32, Vec<u8>)> {
    let (w, h, rgba) = icon_rgba()?;
    let argb = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[3], p[0], p[1], p[2]])
        .collect();
    Some((w, h, argb))
}

/// Opens the window (or raises it), at the remembered size.
pub fn show(app: &mut App) -> Task<Message> {
    match app.desktop.window {
        Some(id) => Task::batch([window::minimize(id, false), window::gain_focus(id)]),
        None => {
            let (id, opened) = window::open(window_settings(&profile_of(app)));
            app.desktop.window = Some(id);
            opened.map(Message::Opened)
        }
    }
}

/// Runs what the app asked of the desktop.
pub fn run(app: &mut App, what: Do) -> Task<crate::Message> {
    let profile = profile_of(app);
    match what {
        Do::Show => show(app).map(crate::Message::Desktop),
        Do::Close => {
            if let Some(size) = app.desktop.size {
                remember_size(&profile, size);
            }
            match app.desktop.window.take() {
                Some(id) => {
                    app.window.background = true;
                    window::close(id)
                }
                None => Task::none(),
            }
        }
        Do::Autostart(on) => {
            let written = match (autostart::folder(), std::env::current_exe()) {
                (Some(folder), Ok(exe)) => autostart::set(&folder, on, &exe, &profile)
                    .map_err(|e| format!("{}: {e}", folder.display())),
                (None, _) => Err("no config folder".into()),
                (_, Err(e)) => Err(e.to_string()),
            };
            match written {
                Ok(()) => {
                    app.desktop.autostart = on;
                    Task::none()
                }
                Err(e) => Task::done(crate::Message::Failed(format!(
                    "Could not change starting at login ({e}). Check that the folder is \
                     yours and writable."
                ))),
            }
        }
        Do::Quit => {
            if let Some(size) = app.desktop.size.filter(|_| app.desktop.window.is_some()) {
                remember_size(&profile, size);
            }
            let node = app.node.clone();
            Task::future(async move {
                if let Some(node) = node {
                    node.0.shutdown().await;
                }
                let _ = std::fs::remove_file(profile.join(natter::control::SOCKET_FILE));
            })
            .then(|()| iced::exit())
        }
    }
}

/// Brings the tray item up to date with the unread count and status.
pub fn sync_tray(app: &mut App) -> Task<crate::Message> {
    let Some(tray) = app.desktop.tray.clone() else {
        return Task::none();
    };
    let now = tray::Shown {
        unread: app.roster.unread.values().sum(),
        status: app.sidebar.status.0,
    };
    if app.desktop.shown == Some(now) {
        return Task::none();
    }
    app.desktop.shown = Some(now);
    Task::future(tray.show(now)).discard()
}

/// The profile folder, as the node reports it once loaded (else the one the app resolves).
pub(crate) fn profile_of(app: &App) -> PathBuf {
    match &app.node {
        Some(n) => n.0.profile().to_path_buf(),
        None => crate::profile(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_size_comes_back_and_nonsense_is_not_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(remembered_size(dir.path()), None);
        remember_size(dir.path(), Size::new(900.4, 700.6));
        assert_eq!(remembered_size(dir.path()), Some(Size::new(900.0, 701.0)));
        for bad in [
            "",
            "900",
            "wide tall",
            "NaN 700",
            "10 10",
            "900 99999",
            "-900 700",
        ] {
            std::fs::write(dir.path().join(SIZE_FILE), bad).expect("write");
            assert_eq!(remembered_size(dir.path()), None, "{bad:?}");
        }
    }

    #[test]
    fn the_icon_decodes_to_64_px_for_the_window_and_the_tray() {
        let (w, h, rgba) = icon_rgba().expect("the icon decodes");
        assert_eq!((w, h, rgba.len()), (64, 64, 64 * 64 * 4));
        let (_, _, argb) = icon_argb().expect("argb");
        // The same pixel, its alpha moved to the front.
        let i = rgba.iter().position(|b| *b != 0).unwrap_or(0) / 4 * 4;
        assert_eq!(
            argb[i..i + 4],
            [rgba[i + 3], rgba[i], rgba[i + 1], rgba[i + 2]]
        );
    }
}

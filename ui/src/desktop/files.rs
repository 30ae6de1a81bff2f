//! Owns the desktop's side of files: the file chooser (`rfd`: the XDG portal on Linux, so it
//! works on Wayland and in sandboxes), and opening a received file or showing it in the file
//! manager (`org.freedesktop.FileManager1`, else the folder opened).

use std::path::{Path, PathBuf};

const PORTAL: &str = "org.freedesktop.portal.Desktop";

/// Whether a file chooser can be shown: an XDG desktop portal on the session bus (running,
/// or started on demand), else `zenity`. Without one, a dialog would fail without a word.
pub async fn chooser_available() -> bool {
    if let Some(conn) = super::session_bus().await
        && let Ok(bus) = zbus::fdo::DBusProxy::new(conn).await
        && let Ok(name) = zbus::names::BusName::from_static_str(PORTAL)
    {
        if bus.name_has_owner(name).await.unwrap_or(false) {
            return true;
        }
        if let Ok(names) = bus.list_activatable_names().await
            && names.iter().any(|n| n.as_str() == PORTAL)
        {
            return true;
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join("zenity").is_file())
}

/// Asks the user for a file to send; `None` when they cancel.
pub async fn pick(title: &str) -> Option<PathBuf> {
    rfd::AsyncFileDialog::new()
        .set_title(title)
        .pick_file()
        .await
        .map(|f| f.path().to_path_buf())
}

/// Asks the user where to save a new file, suggesting `name` in `folder`.
pub async fn save_as(title: &str, folder: &Path, name: &str) -> Option<PathBuf> {
    rfd::AsyncFileDialog::new()
        .set_title(title)
        .set_directory(folder)
        .set_file_name(name)
        .save_file()
        .await
        .map(|f| f.path().to_path_buf())
}

/// Opens a file with the desktop's application for it, or shows it selected in the file
/// manager (`reveal`). The error says what failed, in words.
pub async fn open(path: PathBuf, reveal: bool) -> Result<(), String> {
    if reveal && show_items(&path).await {
        return Ok(());
    }
    // Showing it: its folder opened (the file manager has no "show item" here).
    let target = match reveal {
        true => path.parent().map(Path::to_path_buf).unwrap_or(path),
        false => path,
    };
    opener(target.as_os_str()).map_err(|(opener, e)| {
        format!(
            "Could not open {} ({opener}: {e}). Open it from your file manager.",
            target.display()
        )
    })
}

/// Opens a link from a message in the desktop's browser or mail app; only a web or mail
/// address (`links::openable`), so a peer's text never opens a file or another handler.
pub async fn open_link(link: &str) -> Result<(), String> {
    if !crate::links::openable(link) {
        return Err(format!("Natter opens only web and mail links, not {link}."));
    }
    opener(std::ffi::OsStr::new(link)).map_err(|(opener, e)| {
        format!("Could not open the link ({opener}: {e}). Copy it into your browser instead.")
    })
}

/// Hands `target` to the desktop's opener (`xdg-open`), reaped in the background.
fn opener(target: &std::ffi::OsStr) -> Result<(), (&'static str, std::io::Error)> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let spawned = tokio::process::Command::new(opener)
        .arg(target)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped in the background: the opener may outlive the wait a user would accept.
        Ok(mut child) => {
            tokio::spawn(async move { child.wait().await });
            Ok(())
        }
        Err(e) => Err((opener, e)),
    }
}

/// `org.freedesktop.FileManager1.ShowItems`: the file selected in its folder.
async fn show_items(path: &Path) -> bool {
    let Some(conn) = super::session_bus().await else {
        return false;
    };
    let uri = format!("file://{}", path.display());
    let shown = async {
        let proxy = zbus::Proxy::new(
            conn,
            "org.freedesktop.FileManager1",
            "/org/freedesktop/FileManager1",
            "org.freedesktop.FileManager1",
        )
        .await?;
        proxy
            .call::<_, _, ()>("ShowItems", &(vec![uri.as_str()], ""))
            .await
    };
    shown.await.is_ok()
}

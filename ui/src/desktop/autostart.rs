//! Owns "start Natter when I log in": an XDG autostart entry (`org.natter.Natter.desktop` in
//! `~/.config/autostart`) that starts this program on this profile with its window hidden
//! in the tray (`--hidden`; with no tray, the window opens).

use std::path::{Path, PathBuf};

/// The entry's file name.
pub const FILE: &str = "org.natter.Natter.desktop";

/// The autostart folder: `~/.config/autostart` (XDG).
pub fn folder() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.config_dir().join("autostart"))
}

/// Whether the entry is in `folder`.
pub fn is_on(folder: &Path) -> bool {
    folder.join(FILE).is_file()
}

/// Writes the entry (starting `exe` on `profile`) into `folder`, or removes it.
pub fn set(folder: &Path, on: bool, exe: &Path, profile: &Path) -> std::io::Result<()> {
    let file = folder.join(FILE);
    if !on {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(folder)?;
    std::fs::write(file, entry(exe, profile))
}

/// The desktop entry's text.
pub fn entry(exe: &Path, profile: &Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=Natter\n\
         Comment=Keeps Natter running in the tray so messages arrive\n\
         Exec={} --hidden --profile {}\nIcon={}\nTerminal=false\nNoDisplay=true\n\
         X-GNOME-Autostart-enabled=true\n",
        quoted(&exe.to_string_lossy()),
        quoted(&profile.to_string_lossy()),
        super::APP_ID
    )
}

/// An argument of an `Exec` line: in double quotes, with `"`, `` ` ``, `$` and `\` escaped
/// (the Desktop Entry specification), and `%` doubled (field codes).
fn quoted(arg: &str) -> String {
    let mut out = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                // In a desktop file's string value a backslash is itself escaped.
                out.push_str("\\\\");
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_starts_this_program_hidden_on_this_profile_and_goes_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = dir.path().join("autostart");
        let (exe, profile) = (
            Path::new("/opt/nat ter/natter"),
            Path::new("/home/u/my $profile"),
        );
        assert!(!is_on(&folder));
        set(&folder, true, exe, profile).expect("written");
        assert!(is_on(&folder));
        let text = std::fs::read_to_string(folder.join(FILE)).expect("read");
        assert!(
            text.contains(
                "Exec=\"/opt/nat ter/natter\" --hidden --profile \"/home/u/my \\\\$profile\"\n"
            ),
            "{text}"
        );
        // The desktop's own validator accepts it (desktop-file-utils, which ./scripts/test
        // installs).
        let checked = std::process::Command::new("desktop-file-validate")
            .arg(folder.join(FILE))
            .output()
            .expect("desktop-file-validate is missing: ./scripts/test installs desktop-file-utils");
        assert!(
            checked.status.success() && checked.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&checked.stdout)
        );
        set(&folder, false, exe, profile).expect("removed");
        assert!(!is_on(&folder));
        set(&folder, false, exe, profile).expect("removing twice is fine");
    }
}

//! Owns where a profile folder lives: `NATTER_PROFILE` if set, else the platform's data
//! folder (`~/.local/share/natter` on Linux, `~/Library/Application Support/org.Natter.natter`
//! on macOS, `%APPDATA%\Natter\natter\data` on Windows).

use std::path::PathBuf;

/// Makes a profile folder reachable by its user alone (mode 0700 on Unix): it holds the
/// identity key and every message. Creates it if missing; tightens one that others can read.
pub(crate) fn make_private(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::info!(folder = %dir.display(), mode = format!("{:o}", mode & 0o777), "profile folder made private (0700)");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Makes the files given readable by their owner alone (mode 0600 on Unix), creating the
/// first if missing (SQLite gives its `-wal` and `-shm` files the database file's mode).
pub(crate) fn private_files(paths: &[std::path::PathBuf]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(first) = paths.first() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(first)?;
        }
        for p in paths {
            match std::fs::metadata(p) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))?;
                }
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = paths;
    Ok(())
}

/// The user this process runs as (its effective uid): the one who may use the profile.
#[cfg(unix)]
pub(crate) fn own_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// The environment variable that selects the profile folder.
pub const ENV: &str = "NATTER_PROFILE";

/// The platform's default profile folder, ignoring `NATTER_PROFILE`.
pub fn platform_default() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Natter", "natter").map(|d| d.data_dir().to_path_buf())
}

/// The profile folder to use: `NATTER_PROFILE`, else the platform default.
pub fn resolve() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(platform_default)
}

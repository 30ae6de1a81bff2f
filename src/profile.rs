//! Owns where a profile folder lives: `NATTER_PROFILE` if set, else the platform's data
//! folder (`~/.local/share/natter` on Linux, `~/Library/Application Support/org.Natter.natter`
//! on macOS, `%APPDATA%\Natter\natter\data` on Windows).

use std::path::PathBuf;

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

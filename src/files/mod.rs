//! Owns the pure parts of file transfer: safe names inside the download folder, free names
//! on a clash, hashing, MIME types and the header of a data stream.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Longest saved name, in bytes.
pub const MAX_NAME: usize = 200;
/// Data stream header: version (1), file id (16), offset (8).
pub const HEADER_LEN: usize = 25;
/// Data stream header version.
pub const STREAM_VERSION: u8 = 1;

/// Reduces an offered name to a safe basename: the last path component, without separators,
/// `..`, NUL, control, bidi-override or zero-width characters; Windows device names get a
/// `_` prefix; at most [`MAX_NAME`] bytes, keeping the extension; never empty.
pub fn safe_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}')
                && !matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|')
        })
        .collect();
    let mut name = cleaned.trim().trim_matches('.').trim().to_string();
    if name.is_empty() {
        name = "file".into();
    }
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    const RESERVED: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    if RESERVED.contains(&stem.as_str()) {
        name = format!("_{name}");
    }
    cap(&name, MAX_NAME)
}

/// Cuts a name to `max` bytes on a character boundary, keeping a short extension.
fn cap(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if name.len() - i <= 16 && i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// A path in `dir` for `name` that exists neither as itself nor as its `.part`:
/// `name`, then `name (1)`, `name (2)`…
pub fn free_path(dir: &Path, name: &str) -> PathBuf {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let taken = |p: &Path| p.exists() || part_path(p).exists();
    let first = dir.join(name);
    if !taken(&first) {
        return first;
    }
    (1..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !taken(p))
        .unwrap_or(first)
}

/// Where the bytes of `final_path` collect until they are verified.
pub fn part_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// SHA-256 and size of a file (blocking).
pub fn hash_file(path: &Path) -> std::io::Result<(u64, [u8; 32])> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

/// The SHA-256 state after the first `len` bytes of a file (to resume hashing).
pub fn hash_prefix(path: &Path, len: u64) -> std::io::Result<Sha256> {
    let file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut reader = file.take(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher)
}

/// A MIME type from the file name's extension.
pub fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "md" => "text/plain",
        "html" | "htm" => "text/html",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// The header that starts a data stream.
pub fn header(file_id: &[u8; 16], offset: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = STREAM_VERSION;
    h[1..17].copy_from_slice(file_id);
    h[17..].copy_from_slice(&offset.to_be_bytes());
    h
}

/// Reads a data stream header: `(file id, offset)`, or why not.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<([u8; 16], u64), String> {
    if h[0] != STREAM_VERSION {
        return Err(format!("data stream version {} is not supported", h[0]));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&h[1..17]);
    let mut off = [0u8; 8];
    off.copy_from_slice(&h[17..]);
    Ok((id, u64::from_be_bytes(off)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe_basenames() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("a/b"), "b");
        assert_eq!(safe_name("C:\\Windows\\evil.dll"), "evil.dll");
        assert_eq!(safe_name("CON"), "_CON");
        assert_eq!(safe_name("con.txt"), "_con.txt");
        assert_eq!(safe_name("\u{202E}gnp.exe"), "gnp.exe");
        assert_eq!(safe_name("a\0b\nc"), "abc");
        assert_eq!(safe_name(""), "file");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("..."), "file");
        let long = format!("{}.tar.gz", "é".repeat(5000));
        let s = safe_name(&long);
        assert!(s.len() <= MAX_NAME && s.ends_with(".gz"), "{s}");
    }

    #[test]
    fn clashes_get_numbered_names() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_path(dir.path(), "a.txt"), dir.path().join("a.txt"));
        std::fs::write(dir.path().join("a.txt"), b"x").unwrap();
        assert_eq!(free_path(dir.path(), "a.txt"), dir.path().join("a (1).txt"));
        std::fs::write(dir.path().join("a (1).txt.part"), b"x").unwrap();
        assert_eq!(free_path(dir.path(), "a.txt"), dir.path().join("a (2).txt"));
    }

    #[test]
    fn headers_round_trip_and_bad_versions_are_refused() {
        let h = header(&[7; 16], 123_456_789);
        assert_eq!(parse_header(&h), Ok(([7; 16], 123_456_789)));
        let mut bad = h;
        bad[0] = 9;
        assert!(parse_header(&bad).is_err());
    }

    #[test]
    fn prefix_hash_resumes_to_the_full_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![5u8; 3_000_000]).unwrap();
        let mut h = hash_prefix(&p, 1_000_000).unwrap();
        h.update(vec![5u8; 2_000_000]);
        let full: [u8; 32] = h.finalize().into();
        assert_eq!(hash_file(&p).unwrap(), (3_000_000, full));
    }
}

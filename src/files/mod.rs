//! Owns the parts of file transfer that need no node: safe names inside the download folder,
//! free names on a clash, creating files exclusively (part files, exports) and reopening our
//! own part file, hashing, MIME types and the header of a data stream.

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
    // Dots and spaces together, however they alternate: no hidden name, never `..`.
    let mut name = cleaned
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if name.is_empty() {
        name = "file".into();
    }
    // Cut first: a cut can end the name right after a device name ("COM6     .…" → "COM6").
    let name = cap(&name, MAX_NAME);
    if is_device(&name) {
        return cap(&format!("_{name}"), MAX_NAME);
    }
    name
}

/// Whether Windows reads the name as a device: its stem (before the first dot, trailing
/// spaces ignored, as Windows ignores them) is one of the reserved names.
fn is_device(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    RESERVED.contains(&stem.as_str())
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
    // The cut may end on a dot or a space, which Windows drops from a name.
    let stem = stem[..cut].trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{stem}{ext}")
}

/// Where the bytes of `final_path` collect until they are verified.
pub fn part_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// At most this many numbered names are tried for one file.
const MAX_TRIES: usize = 10_000;

/// The names tried for `name` in `dir`, in order: `name`, `name (1)`, `name (2)`…
fn numbered<'a>(dir: &'a Path, name: &'a str) -> impl Iterator<Item = PathBuf> + 'a {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    std::iter::once(dir.join(name))
        .chain((1..MAX_TRIES).map(move |n| dir.join(format!("{stem} ({n}){ext}"))))
}

/// Whether something is at `p` or at its part file, in any form: a symbolic link counts,
/// even one that points nowhere.
fn taken(p: &Path) -> bool {
    p.symlink_metadata().is_ok() || part_path(p).symlink_metadata().is_ok()
}

/// A path in `dir` for `name` that exists neither as itself nor as its `.part`:
/// `name`, then `name (1)`, `name (2)`… `None` if all are taken.
pub fn free_path(dir: &Path, name: &str) -> Option<PathBuf> {
    numbered(dir, name).find(|p| !taken(p))
}

/// Creates a file for writing that only its owner can read (mode 0600 on Unix), and only if
/// nothing is at `path`: never an existing file, never through a symbolic link (`O_EXCL`).
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The first free name for `name` in `dir` (as [`free_path`]) on which `create` succeeds;
/// a name taken between the look and the creation is skipped, never opened.
fn first_free(
    dir: &Path,
    name: &str,
    create: impl Fn(&Path) -> std::io::Result<std::fs::File>,
) -> std::io::Result<(std::fs::File, PathBuf)> {
    for p in numbered(dir, name).filter(|p| !taken(p)) {
        match create(&p) {
            Ok(file) => return Ok((file, p)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("every name like {name} is taken"),
    ))
}

/// Creates a new private file in `dir` for `name`, or `name (1)`, `name (2)`… if taken
/// (see [`create_private`]). Returns it with its path.
pub fn create_free(dir: &Path, name: &str) -> std::io::Result<(std::fs::File, PathBuf)> {
    first_free(dir, name, create_private)
}

/// Reserves a name in `dir` for a file about to arrive: creates the part file of the first
/// free name exclusively (see [`create_private`]) and returns the final path.
pub fn reserve(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    first_free(dir, name, |p| create_private(&part_path(p))).map(|(_, p)| p)
}

/// Opens a part file we made, to write on from a resume point: never through a symbolic link
/// (`O_NOFOLLOW`), and only a regular file with one name, owned by us. Anything else (a link
/// planted at its name, another user's file, a FIFO) is refused before a byte is written.
pub fn open_part(path: &Path) -> std::io::Result<std::fs::File> {
    let not_ours = || {
        std::io::Error::other(
            "it is not the part file Natter made (a symbolic link, another user's file or not a regular file)",
        )
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return not_ours();
        }
        e
    })?;
    let meta = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() != 1 || meta.uid() != crate::profile::own_uid() {
            return Err(not_ours());
        }
    }
    if !meta.is_file() {
        return Err(not_ours());
    }
    Ok(file)
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

/// The SHA-256 state after the first `len` bytes of an open file (to resume hashing); the
/// file is left positioned after them.
pub fn hash_prefix(file: &std::fs::File, len: u64) -> std::io::Result<Sha256> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(0))?;
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

    /// Found by fuzzing (`file_header`): dots and spaces in turn, as in `". .. ."`, left a
    /// leading dot (a hidden file) or the name `..` after trimming each once; a name cut to
    /// the cap right after a dot ended in one (Windows drops it: another name than shown).
    #[test]
    fn dots_and_spaces_in_turn_never_leave_a_hidden_name_or_dot_dot() {
        assert_eq!(safe_name("\u{15}.\0 .wd"), "wd");
        assert_eq!(safe_name(". .. ."), "file");
        assert_eq!(safe_name(" . .bashrc"), "bashrc");
        assert_eq!(safe_name("a . ."), "a");
        // Cut to the cap right after a dot: the cut end is trimmed too.
        let long = format!("{}.{}", "a".repeat(199), "b".repeat(50));
        assert_eq!(safe_name(&long), "a".repeat(199));
        let spaced = format!("{} {}", "a".repeat(199), "b".repeat(50));
        assert_eq!(safe_name(&spaced), "a".repeat(199));
    }

    /// Found by fuzzing (`file_header`): a long name cut at the cap right after a device
    /// name and spaces became the device name itself; a stem with trailing spaces is the
    /// device on Windows too.
    #[test]
    fn a_cut_or_trailing_spaces_never_leave_a_device_name() {
        let cut = format!("COM6{}.{}", " ".repeat(200), "x".repeat(60));
        assert_eq!(safe_name(&cut), "_COM6");
        assert_eq!(safe_name("COM6  .txt"), "_COM6  .txt");
        assert_eq!(safe_name("nul.tar.gz"), "_nul.tar.gz");
        assert_eq!(safe_name("COM10.txt"), "COM10.txt");
        for name in [cut.as_str(), "COM6  .txt"] {
            assert_eq!(safe_name(&safe_name(name)), safe_name(name));
        }
    }

    #[test]
    fn clashes_get_numbered_names() {
        let dir = tempfile::tempdir().unwrap();
        let free = |name| free_path(dir.path(), name).unwrap();
        assert_eq!(free("a.txt"), dir.path().join("a.txt"));
        std::fs::write(dir.path().join("a.txt"), b"x").unwrap();
        assert_eq!(free("a.txt"), dir.path().join("a (1).txt"));
        std::fs::write(dir.path().join("a (1).txt.part"), b"x").unwrap();
        assert_eq!(free("a.txt"), dir.path().join("a (2).txt"));
    }

    #[test]
    fn names_taken_by_planted_files_or_links_are_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let (d, outside) = (dir.path().join("downloads"), dir.path().join("victim"));
        std::fs::create_dir(&d).unwrap();
        // A link that points nowhere yet: following it would create the victim.
        std::os::unix::fs::symlink(&outside, d.join("a.txt.part")).unwrap();
        std::os::unix::fs::symlink(&outside, d.join("b.txt")).unwrap();
        std::fs::write(d.join("c.txt"), b"theirs").unwrap();
        for planted in ["a.txt.part", "b.txt", "c.txt"] {
            let e = create_private(&d.join(planted)).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{planted}");
        }
        assert_eq!(reserve(&d, "a.txt").unwrap(), d.join("a (1).txt"));
        assert!(d.join("a (1).txt.part").is_file());
        let (_, b) = create_free(&d, "b.txt").unwrap();
        assert_eq!(b, d.join("b (1).txt"));
        let (_, c) = create_free(&d, "c.txt").unwrap();
        assert_eq!(c, d.join("c (1).txt"));
        assert!(!outside.exists(), "no link was followed");
        assert_eq!(std::fs::read(d.join("c.txt")).unwrap(), b"theirs");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&c).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn only_our_own_part_file_is_reopened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours.part");
        create_private(&ours).unwrap();
        assert!(open_part(&ours).is_ok());
        // A link planted at a part file's name: refused, its target untouched.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join("link.part");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = open_part(&link).unwrap_err();
        assert!(e.to_string().contains("not the part file"), "{e}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // A second name for someone's file (a hard link), and a directory.
        let hard = dir.path().join("hard.part");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(open_part(&hard).is_err());
        let sub = dir.path().join("dir.part");
        std::fs::create_dir(&sub).unwrap();
        assert!(open_part(&sub).is_err());
        // Another user's file (tests run as root in CI: hand one to nobody).
        if crate::profile::own_uid() == 0 {
            let theirs = dir.path().join("theirs.part");
            std::fs::write(&theirs, b"x").unwrap();
            std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o666)).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let e = open_part(&theirs).unwrap_err();
            assert!(e.to_string().contains("not the part file"), "{e}");
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
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
        let mut h = hash_prefix(&std::fs::File::open(&p).unwrap(), 1_000_000).unwrap();
        h.update(vec![5u8; 2_000_000]);
        let full: [u8; 32] = h.finalize().into();
        assert_eq!(hash_file(&p).unwrap(), (3_000_000, full));
    }
}

//! The soak's faults: loss and cuts on the lab's wire (nftables, bridge family, in the WAN's
//! namespace), a small tmpfs that can be filled, and the integrity check of a database.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use natter_lab::Lab;

fn run(args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    let mut c = Command::new(args[0]);
    c.args(&args[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("{}: {e}", args[0]))?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        input
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The lab's wire: every frame between hosts crosses the WAN bridge, where these rules sit.
pub(crate) struct Wire {
    ns: String,
}

impl Wire {
    pub(crate) fn new(lab: &Lab) -> Result<Wire, String> {
        let ns = format!("{}wan", lab.prefix());
        let rules = "table bridge soak {
            chain loss { type filter hook forward priority 0; }
            chain cut { type filter hook forward priority 1; }
        }";
        run(&["ip", "netns", "exec", &ns, "nft", "-f", "-"], Some(rules))?;
        Ok(Wire { ns })
    }

    fn nft(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", &self.ns, "nft"];
        all.extend_from_slice(args);
        run(&all, None)
    }

    /// Drops `percent` % of all frames (0: none).
    pub(crate) fn lose(&self, percent: u32) -> Result<(), String> {
        self.nft(&["flush", "chain", "bridge", "soak", "loss"])?;
        if percent == 0 {
            return Ok(());
        }
        let rule = format!("numgen random mod 100 < {percent} drop");
        self.nft(&["add", "rule", "bridge", "soak", "loss", &rule])
    }

    /// Nothing passes between `a` and `b`, either way.
    pub(crate) fn cut(&self, a: Ipv4Addr, b: Ipv4Addr) -> Result<(), String> {
        for (s, d) in [(a, b), (b, a)] {
            let rule = format!("ip saddr {s} ip daddr {d} drop");
            self.nft(&["add", "rule", "bridge", "soak", "cut", &rule])?;
        }
        Ok(())
    }

    /// Every cut is gone.
    pub(crate) fn heal(&self) -> Result<(), String> {
        self.nft(&["flush", "chain", "bridge", "soak", "cut"])
    }
}

/// A small tmpfs for one node's profile, which the soak fills and frees.
pub(crate) struct Disk {
    path: PathBuf,
    full: AtomicBool,
}

impl Disk {
    pub(crate) fn mount(path: &Path, mib: u32) -> Result<Disk, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let p = path.to_string_lossy().to_string();
        let opts = format!("size={mib}m,mode=0700");
        run(&["mount", "-t", "tmpfs", "-o", &opts, "tmpfs", &p], None)?;
        Ok(Disk {
            path: path.to_path_buf(),
            full: AtomicBool::new(false),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Writes a file until no byte is left.
    pub(crate) fn fill(&self) -> Result<(), String> {
        use std::io::Write;
        let mut f = std::fs::File::create(self.filler()).map_err(|e| e.to_string())?;
        let block = vec![0u8; 64 * 1024];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => return Err(e.to_string()),
            }
        }
        // The last partial blocks too.
        while f.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
        self.full.store(true, Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn free(&self) -> Result<(), String> {
        std::fs::remove_file(self.filler()).map_err(|e| e.to_string())?;
        self.full.store(false, Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let p = self.path.to_string_lossy().to_string();
        let _ = run(&["umount", "-l", &p], None);
    }
}

/// `PRAGMA integrity_check` says ok.
pub(crate) fn integrity_ok(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok", "{}", db.display());
}

//! Owns packet captures in a lab host: every frame on every interface of its namespace
//! (an `AF_PACKET` socket, what `tcpdump -i any` reads), kept in memory up to a cap, so a
//! test can look for what must never be on the wire there.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::{Host, LabError};

/// Most bytes a capture keeps; frames past it are counted, not kept.
const CAP_BYTES: usize = 64 << 20;

/// A running capture (see [`Host::capture`]).
pub struct Capture {
    stop: Arc<AtomicBool>,
    reader: JoinHandle<Captured>,
}

/// What a capture saw.
#[derive(Debug, Default)]
pub struct Captured {
    /// The frames kept, each as read (link-layer payload: the IP packet onwards).
    pub frames: Vec<Vec<u8>>,
    /// Frames seen past the cap.
    pub dropped: usize,
}

impl Captured {
    /// Whether any frame holds `needle`.
    pub fn contains(&self, needle: &[u8]) -> bool {
        !needle.is_empty()
            && self
                .frames
                .iter()
                .any(|f| f.windows(needle.len()).any(|w| w == needle))
    }
}

impl Capture {
    /// Stops reading and returns every frame seen.
    pub fn finish(self) -> Captured {
        self.stop.store(true, Ordering::SeqCst);
        self.reader.join().unwrap_or_default()
    }
}

impl Host {
    /// Starts capturing every frame on every interface of this host.
    pub fn capture(&self) -> Result<Capture, LabError> {
        let ns = self.ns.clone();
        let opened = self.spawn(open_socket)?.join().map_err(|_| LabError::Io {
            ns: ns.clone(),
            error: std::io::Error::other("the capture thread panicked"),
        })?;
        let fd = opened.map_err(|error| LabError::Io { ns, error })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let reader = std::thread::spawn(move || read_all(&fd, &stopping));
        Ok(Capture { stop, reader })
    }
}

/// A raw packet socket of the current thread's namespace, with a read timeout so its reader
/// notices `stop`.
fn open_socket() -> std::io::Result<OwnedFd> {
    let all = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
    // SAFETY: a plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, all) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new, valid descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: `timeout` lives across the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn read_all(fd: &OwnedFd, stop: &AtomicBool) -> Captured {
    let mut out = Captured::default();
    let mut kept = 0usize;
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: `buf` is valid for `buf.len()` bytes for the whole call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let Ok(n) = usize::try_from(n) else {
            continue; // the read timeout (or an interrupted call): look at `stop`
        };
        if kept + n > CAP_BYTES {
            out.dropped += 1;
            continue;
        }
        kept += n;
        out.frames.push(buf[..n].to_vec());
    }
    out
}

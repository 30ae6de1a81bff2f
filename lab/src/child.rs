//! Owns a program under test that speaks JSON lines (`natter-cli run`, `natter-rendezvous`):
//! its stdout read on a thread of its own, its stdin written line by line, and waits for a
//! line that matches with a bound; killed when dropped.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::LabError;

/// A running program and the JSON lines it printed.
pub struct JsonChild {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
    /// Every line read so far, in order.
    pub seen: Vec<Value>,
}

impl JsonChild {
    /// Starts `command` with its stdin and stdout piped (stderr goes to the test's).
    pub fn spawn(mut command: Command) -> Result<JsonChild, LabError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| LabError::Setup(format!("cannot start {command:?}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LabError::Setup("no stdout".into()))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        Ok(JsonChild {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// The next line matching `f`, within `secs`.
    pub fn wait_for(&mut self, secs: u64, f: impl Fn(&Value) -> bool) -> Result<Value, LabError> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if f(&v) {
                        return Ok(v);
                    }
                }
                Err(_) => {
                    let tail: Vec<String> = self
                        .seen
                        .iter()
                        .rev()
                        .take(15)
                        .rev()
                        .map(|v| v.to_string())
                        .collect();
                    return Err(LabError::Timeout {
                        secs,
                        tail: tail.join("\n"),
                    });
                }
            }
        }
    }

    /// A line matching `f` already read, or else the next one within `secs`.
    pub fn saw_or_wait(
        &mut self,
        secs: u64,
        f: impl Fn(&Value) -> bool,
    ) -> Result<Value, LabError> {
        match self.seen.iter().find(|v| f(v)) {
            Some(v) => Ok(v.clone()),
            None => self.wait_for(secs, f),
        }
    }

    /// Reads lines for `ms` milliseconds into `seen`.
    pub fn drain(&mut self, ms: u64) {
        let deadline = Instant::now() + Duration::from_millis(ms);
        while let Ok(v) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v);
        }
    }

    /// Kills the program at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the program to exit by itself.
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }

    /// Writes one JSON line to the program's stdin.
    pub fn send(&mut self, line: &Value) -> Result<(), LabError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| LabError::Setup("stdin closed".into()))?;
        writeln!(stdin, "{line}").map_err(|e| LabError::Setup(format!("stdin: {e}")))
    }

    /// Sends a `{"cmd":…}` line and returns the result of its answer (the answer's error,
    /// if it failed).
    pub fn ask(&mut self, cmd: &Value) -> Result<Value, LabError> {
        self.send(cmd)?;
        let line = self.wait_for(30, |v| v.get("answer").is_some())?;
        let answer = &line["answer"];
        if answer["ok"] != true {
            return Err(LabError::Refused(format!("{cmd} -> {answer}")));
        }
        Ok(answer["result"].clone())
    }

    /// The program's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for JsonChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Owns the profile's SQLite database: schema migrations, and a dedicated store thread that
//! runs every query off the async runtime. Jobs that arrive together share one transaction
//! (group commit); each job runs in its own savepoint, and its answer is sent only after the
//! commit, so "queued" and "acked" always mean "on disk". The one exception,
//! [`Store::call_early`], is for writes a crash may lose because they are made again (an ack
//! applied): answered before the commit, and committed without waiting for the disk when
//! nothing else in the group needs it.

mod contacts;
#[cfg(test)]
mod delivery_tests;
mod history;
mod messages;
pub mod migrate;
mod room_keys;
mod room_mail;
mod rooms;
mod schema;
#[cfg(test)]
mod tests;
mod transfers;

pub use contacts::*;
pub use history::*;
pub use messages::*;
pub use room_keys::*;
pub use room_mail::*;
pub use rooms::*;
pub use transfers::*;

pub use crate::dates::now_ms;

// What the store keeps, in the apps' terms.
pub use crate::model::{
    Contact, ContactState, Message, PageBefore, Transfer, TransferState, Verification,
};

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rusqlite::Connection;
/// The database connection type (for `natter::internals` users that read a profile).
#[cfg(feature = "testing")]
pub use rusqlite::Connection as DbConnection;

use crate::identity::PeerId;
use tokio::sync::oneshot;

/// File name of the database inside a profile folder.
pub const DB_FILE: &str = "natter.db";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("{}", describe(.0))]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("cannot update the database schema of {path}: {reason}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The profile's database has schema steps this build does not know: a newer Natter
    /// wrote it. Its schema and rows are left as they were.
    #[error(
        "this profile was made by a newer Natter (its database {path} is at schema version {found}; this build knows up to {known}); update Natter to open it"
    )]
    NewerProfile {
        /// The database file.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The newest version this build knows.
        known: usize,
    },
    /// The database could not be opened.
    #[error("cannot open the database {path}: {source}. Check the profile folder is writable")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The store thread has stopped (node shutting down).
    #[error("the database is closed")]
    Closed,
    /// A row holds a value this build cannot read.
    #[error("unreadable value in the database: {0}")]
    Corrupt(String),
    /// The transaction could not be committed.
    #[error("cannot write the database: {0}")]
    Commit(String),
    /// The disk under the database is full.
    #[error("{DISK_FULL}")]
    DiskFull,
}

/// What the user should hear of an SQLite error: a full disk says what to do.
fn describe(e: &rusqlite::Error) -> String {
    if is_disk_full(e) {
        DISK_FULL.to_string()
    } else {
        format!("database error: {e}")
    }
}

/// What a full disk means for the user, and what to do.
pub const DISK_FULL: &str = "the disk holding your Natter profile is full: free some space. \
Nothing is lost: what you send waits until then, and what others send waits on their side";

fn is_disk_full(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DiskFull))
}

impl StoreError {
    /// Whether the disk under the database is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Sqlite(e) | Self::Open { source: e, .. } => is_disk_full(e),
            Self::DiskFull => true,
            _ => false,
        }
    }
}

/// Why a group of jobs was not committed.
#[derive(Clone, Debug)]
enum CommitError {
    DiskFull,
    Other(String),
}

type Reply = Box<dyn FnOnce(Result<(), CommitError>) + Send>;
/// One caller's work on the store thread.
struct Job {
    run: Box<dyn FnOnce(&Connection) -> Reply + Send>,
    /// Its commit must reach the disk before anyone is answered (`synchronous=FULL`); a
    /// group of jobs that were all answered early commits without waiting for the disk.
    durable: bool,
}

/// A handle to the store thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

/// Opens (creating and migrating) a database file and applies the connection settings.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    // FULL: outbox rows and acks must survive power loss, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every hot statement stays prepared (the default cache of 16 is smaller than the set).
    conn.set_prepared_statement_cache_capacity(64);
    schema::migrate(&mut conn).map_err(|e| match e {
        migrate::MigrateError::Newer { found, known } => StoreError::NewerProfile {
            path: path.to_path_buf(),
            found,
            known,
        },
        e => StoreError::Migration {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    })?;
    schema::start_indexing(&conn)?;
    Ok(conn)
}

impl rusqlite::ToSql for PeerId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.to_string().into())
    }
}

impl rusqlite::types::FromSql for PeerId {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        PeerId::from_stored(value.as_str()?)
            .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl Store {
    /// Opens the database of a profile folder and starts the store thread.
    pub fn open(profile: &Path) -> Result<Self, StoreError> {
        let db = profile.join(DB_FILE);
        // Every message is in here: readable by the user alone.
        let journal = |ext: &str| profile.join(format!("{DB_FILE}-{ext}"));
        crate::profile::private_files(&[db.clone(), journal("wal"), journal("shm")]).map_err(
            |e| StoreError::Corrupt(format!("cannot make {} private: {e}", db.display())),
        )?;
        let conn = open_connection(&db)?;
        Ok(Self::spawn(conn))
    }

    /// Starts the store thread on an open connection.
    pub fn spawn(conn: Connection) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("natter-store".into())
            .spawn(move || run(conn, rx))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "store thread did not start"));
        Self { jobs }
    }

    /// Runs `f` on the store thread inside a transaction; answers after the commit.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let run = Box::new(move |conn: &Connection| -> Reply {
            let result = savepoint(conn, f);
            Box::new(move |commit: Result<(), CommitError>| {
                let answer = match commit {
                    Ok(()) => result,
                    Err(CommitError::DiskFull) => Err(StoreError::DiskFull),
                    Err(CommitError::Other(e)) => Err(StoreError::Commit(e)),
                };
                let _ = tx.send(answer);
            })
        });
        let job = Job { run, durable: true };
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the store thread like [`Store::call`], but answers as soon as `f` has
    /// run, before its transaction commits. Only for writes whose loss in a crash or a
    /// failed commit is harmless because they are made again: an ack applied (the peer
    /// acks again on the next session; "delivered" is the peer's word, true either way).
    /// Jobs sent after it still see its changes, and a clean stop waits for its commit
    /// ([`Store::settled`]). A group of such jobs alone commits without an fsync
    /// (`synchronous=NORMAL`: the next durable commit's fsync carries it to the disk), so
    /// it does not hold up the next send for one.
    pub async fn call_early<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let run = Box::new(move |conn: &Connection| -> Reply {
            let _ = tx.send(savepoint(conn, f));
            Box::new(|_: Result<(), CommitError>| {})
        });
        let job = Job {
            run,
            durable: false,
        };
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Waits until every job sent before this one is committed (or its commit failed).
    pub async fn settled(&self) {
        let _ = self.call(|_| Ok(())).await;
    }
}

fn savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match f(conn) {
        Ok(r) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(r)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

/// Sets how commits wait for the disk (`FULL`, the profile's setting, or `NORMAL`).
fn sync(conn: &Connection, level: &str) {
    if let Err(e) = conn.pragma_update(None, "synchronous", level) {
        tracing::warn!(error = %e, "synchronous not set");
    }
}

/// Most jobs one transaction takes before it commits.
const GROUP_MAX: usize = 256;

fn run(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Nobody waits on this group's fsync: it need not wait for the disk.
        let lazy = !batch.iter().any(|job| job.durable);
        if lazy {
            sync(&conn, "NORMAL");
        }
        let began = conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]));
        let replies: Vec<Reply> = batch.into_iter().map(|job| (job.run)(&conn)).collect();
        let commit = began
            .and_then(|_| schema::index_pending(&conn))
            .and_then(|_| {
                conn.prepare_cached("COMMIT")
                    .and_then(|mut s| s.execute([]))
                    .map(|_| ())
            })
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                if is_disk_full(&e) {
                    CommitError::DiskFull
                } else {
                    CommitError::Other(e.to_string())
                }
            });
        if lazy {
            sync(&conn, "FULL");
        }
        if let Err(e) = &commit {
            tracing::error!(error = ?e, "store commit failed");
        }
        for reply in replies {
            reply(commit.clone());
        }
    }
    tracing::debug!("store thread stopped");
}

//! The server's database on a thread of its own, with group commit: the jobs that arrive
//! while one transaction runs are run together in the next one, so a burst of registrations
//! or deposits costs one fsync, not one each. Every job runs inside its own savepoint (a
//! failing job undoes only itself) and is answered only after the transaction that holds it
//! is committed, so nothing is acknowledged before it is on disk.

use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most jobs in one transaction.
const BATCH: usize = 256;

/// Why a database job gave no answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum DbError {
    /// SQLite refused the job.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// The job ran but its transaction did not commit, so it did not happen.
    #[error("the transaction holding this change did not commit")]
    NotCommitted,
    /// The database thread has stopped.
    #[error("the database thread has stopped")]
    Gone,
}

/// What a job hands back after running: called once its transaction ended, with whether it
/// committed.
type Reply = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// The handle the server's tasks use; the thread ends when the last handle is dropped.
pub(super) struct Db {
    jobs: mpsc::Sender<Job>,
}

impl Db {
    /// Moves `conn` onto its own thread.
    pub(super) fn start(conn: Connection) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("rendezvous-db".into())
            .spawn(move || serve(&conn, &queue))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next transaction and answers once that transaction is committed.
    pub(super) async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |committed| {
                let _ = tx.send(match result {
                    Ok(v) if committed => Ok(v),
                    Ok(_) => Err(DbError::NotCommitted),
                    Err(e) => Err(DbError::Sql(e)),
                });
            })
        });
        self.jobs.send(job).map_err(|_| DbError::Gone)?;
        rx.await.map_err(|_| DbError::Gone)?
    }
}

fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    run(conn, "SAVEPOINT job")?;
    match f(conn) {
        Ok(v) => run(conn, "RELEASE job").map(|()| v),
        Err(e) => {
            let _ = run(conn, "ROLLBACK TO job").and_then(|()| run(conn, "RELEASE job"));
            Err(e)
        }
    }
}

fn serve(conn: &Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        // Without an outer transaction each job's savepoint commits on its own: slower, but
        // still one durable, atomic change per job.
        let began = run(conn, "BEGIN IMMEDIATE").is_ok();
        let mut replies = vec![first(conn)];
        while replies.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => replies.push(job(conn)),
                Err(_) => break,
            }
        }
        let committed = !began || run(conn, "COMMIT").is_ok();
        if !committed {
            tracing::warn!(jobs = replies.len(), "rendezvous database commit failed");
            let _ = run(conn, "ROLLBACK");
        }
        for reply in replies {
            reply(committed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &tempfile::TempDir) -> Db {
        let conn = Connection::open(dir.path().join("t.sqlite3")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER UNIQUE);")
            .unwrap();
        Db::start(conn).unwrap()
    }

    #[tokio::test]
    async fn jobs_sent_together_commit_and_a_failing_one_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(db(&dir));
        let mut set = tokio::task::JoinSet::new();
        for n in 0..100i64 {
            let db = db.clone();
            set.spawn(async move {
                db.call(move |c| {
                    c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                    if n == 7 {
                        // A second insert of the same value fails after the first succeeded.
                        c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                    }
                    Ok(n)
                })
                .await
            });
        }
        let mut failed = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Err(e) = r.unwrap() {
                failed.push(e.to_string());
            }
        }
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("UNIQUE"), "{failed:?}");
        drop(db);
        let conn = Connection::open(dir.path().join("t.sqlite3")).unwrap();
        let (count, has7): (i64, bool) = conn
            .query_row(
                "SELECT count(*), EXISTS (SELECT 1 FROM t WHERE n = 7) FROM t",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((count, has7), (99, false));
    }

    #[tokio::test]
    async fn a_read_sees_the_writes_queued_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir);
        db.call(|c| c.execute("INSERT INTO t (n) VALUES (1)", []))
            .await
            .unwrap();
        let n: i64 = db
            .call(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}

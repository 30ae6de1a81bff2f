//! Owns schema versioning for Natter's SQLite files (a profile's database, the rendezvous
//! server's): ordered SQL steps under `PRAGMA user_version`, which counts the steps applied.
//! The numbering is rusqlite_migration 2.6's, which these files used before: 0 is a file no
//! step ran on, N means steps 1..=N ran.

use rusqlite::{Connection, TransactionBehavior};

/// Why a schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The file has steps this build does not know: a newer Natter wrote it.
    #[error(
        "it was made by a newer Natter (schema version {found}; this build knows up to {known}): update Natter"
    )]
    Newer {
        /// The file's `user_version`.
        found: i64,
        /// How many steps this build has.
        known: usize,
    },
    /// `user_version` is negative: nothing Natter writes.
    #[error("its schema version {0} is not one Natter writes")]
    Invalid(i64),
    /// A step failed; nothing of this run was kept.
    #[error("schema step {step} failed: {source}")]
    Step {
        /// The step's number (the version it leads to).
        step: usize,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Reading or setting the version failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// The file's schema version (`PRAGMA user_version`).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies the steps the file has not had yet, in order, in one transaction, and sets
/// `user_version` to `steps.len()`; a failed step leaves the file as it was. A file already
/// up to date is not written to. Returns how many steps ran.
pub fn migrate<S: AsRef<str>>(conn: &mut Connection, steps: &[S]) -> Result<usize, MigrateError> {
    let known = steps.len();
    let check = |found: i64| -> Result<usize, MigrateError> {
        match usize::try_from(found) {
            Err(_) => Err(MigrateError::Invalid(found)),
            Ok(v) if v > known => Err(MigrateError::Newer { found, known }),
            Ok(v) => Ok(v),
        }
    };
    if check(version(conn)?)? == known {
        return Ok(0);
    }
    // IMMEDIATE: the version read below is the one the steps apply to, even if another
    // connection migrated the file since the look above.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = check(version(&tx)?)?;
    for (i, sql) in steps.iter().enumerate().skip(current) {
        tx.execute_batch(sql.as_ref())
            .map_err(|source| MigrateError::Step {
                step: i + 1,
                source,
            })?;
    }
    // `known` fits: SQLite's user_version is 32 bits and no list comes near that.
    tx.pragma_update(None, "user_version", known as i64)?;
    tx.commit()?;
    Ok(known - current)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE a (x INTEGER);",
        "ALTER TABLE a ADD COLUMN y INTEGER;",
        "CREATE TABLE b (z INTEGER);",
    ];

    fn tables(c: &Connection) -> Vec<String> {
        let mut s = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_new_file_gets_every_step_and_the_version_counts_them() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c, STEPS).unwrap(), 3);
        assert_eq!(version(&c).unwrap(), 3);
        assert_eq!(tables(&c), ["a", "b"]);
        // Again: nothing runs (step 2 would fail on a second ADD COLUMN y).
        assert_eq!(migrate(&mut c, STEPS).unwrap(), 0);
    }

    #[test]
    fn a_file_at_version_n_gets_only_the_steps_after_n() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, &STEPS[..1]).unwrap();
        c.execute("INSERT INTO a (x) VALUES (7)", []).unwrap();
        assert_eq!(migrate(&mut c, STEPS).unwrap(), 2);
        let (x, y): (i64, Option<i64>) = c
            .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((x, y), (7, None));
        assert_eq!(version(&c).unwrap(), 3);
    }

    #[test]
    fn a_failing_step_keeps_nothing_of_the_run() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, &STEPS[..1]).unwrap();
        let bad = [STEPS[0], STEPS[1], "CREATE TABLE b (z INTEGER); NOT SQL;"];
        match migrate(&mut c, &bad) {
            Err(MigrateError::Step { step: 3, .. }) => {}
            other => panic!("expected step 3 to fail, got {other:?}"),
        }
        assert_eq!(version(&c).unwrap(), 1);
        assert_eq!(tables(&c), ["a"]);
        // Step 2's column went with the rollback: it can run again.
        assert_eq!(migrate(&mut c, STEPS).unwrap(), 2);
    }

    #[test]
    fn a_file_from_a_newer_build_is_refused_untouched() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, STEPS).unwrap();
        c.pragma_update(None, "user_version", 4).unwrap();
        let e = migrate(&mut c, STEPS).unwrap_err();
        assert!(
            matches!(e, MigrateError::Newer { found: 4, known: 3 }),
            "{e:?}"
        );
        assert!(e.to_string().contains("newer Natter"), "{e}");
        assert_eq!(version(&c).unwrap(), 4);
    }

    #[test]
    fn a_negative_version_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", -1).unwrap();
        assert!(matches!(
            migrate(&mut c, STEPS),
            Err(MigrateError::Invalid(-1))
        ));
        assert!(tables(&c).is_empty());
    }
}

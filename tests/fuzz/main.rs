//! The fuzz smoke of the suite: every fuzz target's committed corpus (`fuzz/corpus/<target>/`)
//! and its seeds replayed through the ordinary test build, each input through the same
//! function the cargo-fuzz target runs (`natter::fuzzing`). Full fuzzing runs outside the
//! suite (`scripts/fuzz`).
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use natter::fuzzing::{self, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The committed corpus of a target: a missing or empty folder is a failure, so the smoke
/// can never test nothing.
fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(name);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: every fuzz target has a committed corpus",
            dir.display()
        )
    });
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no input", dir.display());
    files
}

/// Runs every seed and every corpus input of a target; a broken invariant names the input.
fn replay(name: &str) {
    let target = fuzzing::target(name).unwrap_or_else(|| panic!("no fuzz target {name}"));
    let seeds = fuzzing::seeds(name);
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let inputs = seeds
        .into_iter()
        .enumerate()
        .map(|(i, s)| (PathBuf::from(format!("seed {i}")), s))
        .chain(corpus(name));
    for (path, bytes) in inputs {
        if catch_unwind(AssertUnwindSafe(|| (target.run)(&bytes))).is_err() {
            panic!(
                "{name}: {} broke an invariant (see the panic above)",
                path.display()
            );
        }
    }
}

macro_rules! replayed {
    ($($name:ident),* $(,)?) => {
        /// The targets this file replays, one test each.
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
    };
}

replayed!(
    wire_frame,
    wire_body,
    session,
    rendezvous_request,
    rendezvous_response,
    presence_record,
    handle_claim,
    sealed_envelope,
    sealed_round_trip,
    mdns_txt,
    control_command,
    natter_id,
    file_header,
    tunnel_frame,
    proxy_response,
    room,
);

#[test]
fn every_target_is_replayed_and_is_a_cargo_fuzz_target() {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(
        names, REPLAYED,
        "the replay list and natter::fuzzing::TARGETS differ"
    );
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = names.iter().map(|n| format!("{n}.rs")).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "fuzz/fuzz_targets/ and the target list differ"
    );
    for name in names {
        let target = std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs")));
        assert!(
            target
                .unwrap()
                .contains(&format!("natter::fuzzing::{name}(")),
            "fuzz_targets/{name}.rs does not run natter::fuzzing::{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
}

/// Writes each target's seeds that its corpus folder lacks (`seed-N`; delete one to write
/// it again: sealed seeds differ each time) (`scripts/fuzz seeds`).
#[test]
#[ignore = "writes into fuzz/corpus; run by scripts/fuzz seeds"]
fn write_seeds() {
    for t in TARGETS {
        let dir = fuzz_dir().join("corpus").join(t.name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in fuzzing::seeds(t.name).iter().enumerate() {
            let path = dir.join(format!("seed-{i}"));
            if !path.exists() {
                std::fs::write(path, seed).unwrap();
            }
        }
    }
}

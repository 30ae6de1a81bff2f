//! `natter`: the desktop app. Thin: `--version` / `--help` / `--profile`, handing a link to an
//! app already running on the profile, logging, then the application.

use std::process::ExitCode;

const HELP: &str = "The Natter desktop app.

Usage: natter [--profile DIR] [--config FILE] [--hidden] [natter://add/<ID>]

Closing the window keeps Natter running in the tray (where the desktop has one); quit from
the tray's menu or with `natter-cli stop`. A second start on the same profile hands its link
to the running app, brings its window up and exits.

Options:
  --profile DIR   the profile folder (default: NATTER_PROFILE, else the data folder)
  --hidden        start in the tray, window closed (as at login; with no tray it opens)
  --config FILE   the config file (default: NATTER_CONFIG, else config.toml in the
                  config folder, ~/.config/natter); flags and the environment come first
  -V, --version   print the version
  -h, --help      print this help

Environment: NATTER_PROFILE (profile folder), NATTER_MDNS=off|loopback|lan|all,
NATTER_LISTEN (UDP address), NATTER_RENDEZVOUS + NATTER_RENDEZVOUS_KEY.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut link = None;
    let mut hidden = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--version" | "-V" => {
                println!("natter {}", natter::VERSION);
                return ExitCode::SUCCESS;
            }
            "--help" | "-h" => {
                println!("natter {}\n{HELP}", natter::VERSION);
                return ExitCode::SUCCESS;
            }
            "--hidden" => hidden = true,
            "--config" => match args.next() {
                // SAFETY: as for --profile below.
                Some(file) => unsafe { std::env::set_var(natter::config::ENV, file) },
                None => return usage("--config needs a file: natter --config FILE"),
            },
            "--profile" => match args.next() {
                // SAFETY: still single-threaded: nothing else reads or writes the
                // environment yet. The flag wins over the variable (flag > environment).
                Some(dir) => unsafe { std::env::set_var("NATTER_PROFILE", dir) },
                None => return usage("--profile needs a folder: natter --profile DIR"),
            },
            a if a.starts_with("natter:") => link = Some(arg),
            a => {
                return usage(&format!(
                    "unexpected argument {a:?}; natter --help lists what it takes"
                ));
            }
        }
    }
    natter_ui::startup::mark();
    // With no GPU (no /dev/dri: a VM, a remote desktop, Xvfb) wgpu would render on llvmpipe,
    // which costs ~100 MiB more memory than iced's own software renderer for the same frames.
    if std::env::var_os("ICED_BACKEND").is_none() && !std::path::Path::new("/dev/dri").exists() {
        // SAFETY: still single-threaded: nothing else reads or writes the environment yet.
        unsafe { std::env::set_var("ICED_BACKEND", "tiny-skia") };
    }
    let _log = logs();
    // One instance per profile: a running app takes the link and shows its window.
    let profile = natter_ui::profile();
    let found = match hidden {
        true => natter_ui::desktop::instance::running(&profile),
        false => natter_ui::desktop::instance::hand_over(&profile, link.clone()),
    };
    if found == natter_ui::desktop::instance::Found::HandedOver {
        println!(
            "Natter is already running on {}: its window is up.",
            profile.display()
        );
        return ExitCode::SUCCESS;
    }
    match natter_ui::application_started(link, hidden).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natter: the window could not open: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr (warnings; colours only on a terminal) and to a file in the state folder
/// (`~/.local/state/natter/natter.YYYY-MM-DD.log`, or `NATTER_LOG_DIR`; informational, a new
/// file each day, the last 7 kept). `RUST_LOG` sets both. Never message text or keys (the
/// code logs neither). The guard flushes the file when `main` returns.
fn logs() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into())
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter("warn"));
    let file = natter_ui::desktop::log_dir().and_then(|dir| {
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("natter")
            .filename_suffix("log")
            .max_log_files(7)
            .build(&dir)
            .map_err(|e| eprintln!("natter: no log file in {}: {e}", dir.display()))
            .ok()
    });
    let (file, guard) = match file {
        Some(f) => {
            let (writer, guard) = tracing_appender::non_blocking(f);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter("info"));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    guard
}

fn usage(what: &str) -> ExitCode {
    eprintln!("natter: {what}");
    ExitCode::from(2)
}

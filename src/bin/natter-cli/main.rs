//! natter-cli: the headless Natter client. Argument parsing only; the work is in the library.

mod args;
mod progress;
mod room_args;
mod values;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser};
use natter::Identity;
use natter::config::FileConfig;
use natter::control::{self, Command};
use natter::discovery::{DiscoveryConfig, Interfaces, doctor};
use natter::node::NodeConfig;

use args::{Cli, Cmd, to_command};

fn default_profile() -> Result<PathBuf> {
    natter::profile::platform_default()
        .context("no home folder to keep the profile in; pass --profile DIR")
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    // Under --json a script reads every outcome as JSON on stdout, failures too (the same
    // words still go to stderr, as without it).
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if json && e.use_stderr() => {
            println!("{}", json_error(&e.render().to_string(), "usage"));
            e.exit()
        }
        Err(e) => e.exit(),
    };
    // Exit explicitly: the runtime would otherwise wait for the blocking stdin reader.
    match real_main(cli).await {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            if json {
                println!("{}", json_error(&format!("{e:#}"), "failed"));
            }
            eprintln!("natter-cli: {e:#}");
            std::process::exit(1);
        }
    }
}

/// A failure as `--json` prints it: `{"error": what happened and what to do, "kind":
/// "usage" (the command line is wrong, exit code 2) | "failed" (exit code 1)}`.
fn json_error(message: &str, kind: &str) -> String {
    let value = serde_json::json!({ "error": message.trim_end(), "kind": kind });
    natter::text::terminal_json(&value.to_string())
}

async fn real_main(mut cli: Cli) -> Result<()> {
    let profile = match cli.profile.clone() {
        Some(p) => p,
        None => default_profile()?,
    };
    // Taken out: the rest of `cli` is read below as it is.
    match std::mem::replace(&mut cli.command, Cmd::Id) {
        Cmd::Id => {
            let id = Identity::load_or_create(&profile)?;
            println!("{}", id.peer_id());
            Ok(())
        }
        Cmd::Run {
            listen,
            no_advertise,
            name,
            listing_secs,
        } => {
            let file = config_file(&cli)?;
            let mut config = node_config(&cli, &file, &profile);
            config.listing_ttl = std::time::Duration::from_secs(listing_secs);
            config.listen = match listen.or(file.listen) {
                Some(addr) => addr,
                None => args::DEFAULT_LISTEN.parse()?,
            };
            if let Some(d) = config.discovery.as_mut() {
                d.advertise = !no_advertise;
                d.name = name;
            }
            Ok(control::run(config).await?)
        }
        Cmd::Doctor => doctor(cli.json),
        Cmd::Completions { shell } => {
            // Written whole at the end: the generator panics on a failed write (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "natter-cli", &mut script);
            print_raw(&script)
        }
        Cmd::ManPage => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            print_raw(&page)
        }
        other => {
            let file = config_file(&cli)?;
            let mut config = node_config(&cli, &file, &profile);
            // A node started for one command browses the LAN but does not advertise.
            if let Some(d) = config.discovery.as_mut() {
                d.advertise = false;
            }
            let cmd = to_command(other);
            let bar = progress::start(&cmd, &profile, cli.json);
            let answer = control::one_shot(config, cmd.clone()).await;
            if let Some((stop, drawn)) = bar {
                let _ = stop.send(());
                let _ = drawn.await;
            }
            let answer = answer?;
            print_answer(&cmd, &answer, cli.json)
        }
    }
}

/// The config file: `--config` / `NATTER_CONFIG`, else the one in the config folder.
fn config_file(cli: &Cli) -> Result<FileConfig> {
    Ok(match &cli.config {
        Some(path) => natter::config::load(path)?,
        None => natter::config::load_default()?,
    })
}

/// A node's config in the one order: a flag, else the environment (clap reads both), else
/// the config file, else the default.
fn node_config(cli: &Cli, file: &FileConfig, profile: &std::path::Path) -> NodeConfig {
    let mut config = NodeConfig::new(profile);
    let lan = match (cli.no_mdns, cli.mdns_interfaces, file.lan_discovery) {
        (true, ..) => None,
        (false, Some(flag), _) => Some(flag.into()),
        (false, None, Some(from_file)) => from_file.interfaces(),
        (false, None, None) => Some(Interfaces::Lan),
    };
    config.discovery = lan.map(|interfaces| DiscoveryConfig {
        interfaces,
        ..DiscoveryConfig::default()
    });
    config.downloads = cli.downloads.clone().or_else(|| file.downloads.clone());
    // The deployment's other addresses come from where its first one does.
    let server = match (cli.rendezvous, cli.rendezvous_key) {
        (Some(addr), Some(key)) => Some((addr, key, cli.rendezvous_also.clone())),
        _ => file
            .rendezvous
            .zip(file.rendezvous_key)
            .map(|(a, k)| (a, k, file.rendezvous_also.clone())),
    };
    config.rendezvous = server.map(|(addr, key, also)| {
        let mut c = natter::rendezvous::RendezvousConfig::new(addr, key);
        c.tcp = cli.rendezvous_tcp.or(file.rendezvous_tcp).or(c.tcp);
        c.also = also;
        c
    });
    config.relay_policy = file.relay;
    config
}

/// Bytes to stdout; a reader that went away (`| head`) is no failure.
fn print_raw(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn print_answer(cmd: &Command, answer: &serde_json::Value, json: bool) -> Result<()> {
    if answer.get("ok").and_then(|v| v.as_bool()) != Some(true) {
        let error = answer
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown error");
        // It may carry a peer's words (a transfer's reason): shown, never obeyed.
        bail!("{}", natter::text::printable(error));
    }
    let result = answer.get("result").cloned().unwrap_or_default();
    if json {
        println!("{}", natter::text::terminal_json(&result.to_string()));
    } else {
        println!("{}", control::render(cmd, &result));
    }
    Ok(())
}

/// Prints what the doctor found; an error (exit code 1) when it found a problem, so a
/// script can tell.
fn doctor(json: bool) -> Result<()> {
    let findings = doctor::diagnose(&doctor::interfaces());
    let problems = findings
        .iter()
        .filter(|f| f.level == doctor::Level::Problem)
        .count();
    let verdict = || match problems {
        0 => Ok(()),
        1 => bail!("doctor found a problem (above, with what to try)"),
        n => bail!("doctor found {n} problems (above, with what to try)"),
    };
    if json {
        println!("{}", serde_json::to_string(&findings)?);
        return verdict();
    }
    for f in &findings {
        let mark = match f.level {
            doctor::Level::Ok => "ok     ",
            doctor::Level::Warning => "maybe  ",
            doctor::Level::Problem => "PROBLEM",
        };
        println!("{mark} {}", f.what);
        if f.level != doctor::Level::Ok {
            println!("        try: {}", f.try_next);
        }
    }
    verdict()
}

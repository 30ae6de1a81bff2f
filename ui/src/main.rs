//! `natter`: the desktop app. Thin: `--version` / `--help`, logging, then the application.

fn main() -> iced::Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("natter {}", natter::VERSION);
        return Ok(());
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "natter {}\nThe Natter desktop app.\n\nUsage: natter [natter://add/<ID>]\n\n\
             Environment: NATTER_PROFILE (profile folder), NATTER_MDNS=off|loopback|lan|all,\n\
             NATTER_LISTEN (UDP address), NATTER_RENDEZVOUS + NATTER_RENDEZVOUS_KEY.",
            natter::VERSION
        );
        return Ok(());
    }
    natter_ui::startup::mark();
    // With no GPU (no /dev/dri: a VM, a remote desktop, Xvfb) wgpu would render on llvmpipe,
    // which costs ~100 MiB more memory than iced's own software renderer for the same frames.
    if std::env::var_os("ICED_BACKEND").is_none() && !std::path::Path::new("/dev/dri").exists() {
        // SAFETY: still single-threaded: nothing else reads or writes the environment yet.
        unsafe { std::env::set_var("ICED_BACKEND", "tiny-skia") };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let link = args.into_iter().find(|a| a.starts_with("natter:"));
    natter_ui::application_with(link).run()
}

//! The `xproxy` command as a library function, so that a team's own gateway binary is "depend
//! on `xproxy` and on my protocol crate, call [`main`]".
//!
//! The stock `xproxy` binary is this function and nothing else; it knows the protocols the
//! gateway ships. A binary that also links an outside protocol crate gets the same command
//! (`run`, `validate`, `demo`, same flags, same exit codes) with that protocol known too:
//! protocols register through `inventory`, and [`main`] serves every registered one.
//!
//! # Linking an outside protocol
//!
//! `inventory` only sees a protocol whose crate the linker keeps, and the linker keeps a crate
//! the binary references. Depending on it in `Cargo.toml` is not enough: reference its
//! protocol value once before calling [`main`], as [`link_protocols`] does for the shipped
//! ones:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     // Keeps the echo crate in the link, so that `inventory` registers `echo`.
//!     let _ = &echo_protocol::Echo;
//!     xproxy::main()
//! }
//! ```
//!
//! `examples/echo-gateway` is that binary, with a test that routes echo through it.
//!
//! [`link_protocols`]: crate::gateway::link_protocols

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogLevel};
use crate::gateway::{known_protocols, Gateway};
use crate::signals::StopSignals;

/// Runs the `xproxy` command line (`run`, `validate`, `demo`) from the process's arguments
/// and returns its exit code: call it from a binary's `main`.
///
/// Every protocol registered in the binary is known to it: the shipped ones (this crate links
/// them) and any outside crate the binary references (see the [module docs](self)). `run`
/// blocks until SIGTERM/SIGINT or an admin drain has drained the gateway, then returns
/// success; a configuration that does not validate or cannot be started returns failure
/// after printing why. Bad arguments print clap's usage and exit the process with code 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = match &cli.command {
        Command::Run(args) => args.workers,
        _ => None,
    };
    let runtime = match runtime(workers) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("xproxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Validate(args) => crate::cli::run_validate(&args.config, &known_protocols()),
        Command::Run(args) => {
            init_logging(args.log_level);
            // First, before the configuration is read: from here on SIGHUP no longer ends the
            // process (the handlers need the runtime's context, not a running task).
            let signals = {
                let _context = runtime.enter();
                StopSignals::install()
            };
            let (config, warnings) =
                match crate::config::load_validated(&args.config, &known_protocols()) {
                    Ok(loaded) => loaded,
                    Err(e) => {
                        eprintln!("xproxy: {e}");
                        return ExitCode::FAILURE;
                    }
                };
            let file = args.config.display().to_string();
            for warning in &warnings {
                tracing::warn!("{}", warning.in_file(&file));
            }
            runtime.block_on(async {
                match Gateway::start(&config).await {
                    Ok(gateway) => {
                        gateway.serve_until_stopped(signals).await;
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("xproxy: {e:#}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Demo(args) => {
            init_logging(LogLevel::Warn);
            match runtime.block_on(crate::demo::run(args.requests, args.concurrency as usize)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("xproxy demo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(level: LogLevel) {
    // RUST_LOG, when set, overrides the command-line level.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    // Colour only on a terminal: escape codes in a log file or a journal are noise.
    let ansi = std::io::stdout().is_terminal();
    // A second initialisation (the embedding binary set its own subscriber) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

/// The async runtime: single-threaded for one worker, multi-threaded otherwise.
fn runtime(workers: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let workers =
        workers.or_else(|| std::thread::available_parallelism().ok()).map_or(1, NonZeroUsize::get);
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
}

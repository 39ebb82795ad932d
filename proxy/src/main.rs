//! The `xproxy` command: `run`, `validate` and `demo`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use xproxy::cli::{Cli, Command, LogLevel};
use xproxy::gateway::{known_protocols, Gateway};
use xproxy::signals::StopSignals;

fn init_logging(level: LogLevel) {
    // RUST_LOG, when set, overrides the command-line level.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    // Colour only on a terminal: escape codes in a log file or a journal are noise.
    let ansi = std::io::stdout().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

/// The async runtime: single-threaded for one worker, multi-threaded otherwise.
fn runtime(workers: Option<std::num::NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = workers
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
}

fn main() -> ExitCode {
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
        Command::Validate(args) => xproxy::cli::run_validate(&args.config, &known_protocols()),
        Command::Run(args) => {
            init_logging(args.log_level);
            let (config, warnings) =
                match xproxy::config::load_validated(&args.config, &known_protocols()) {
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
                // First: from here on SIGHUP no longer ends the process.
                let signals = StopSignals::install();
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
            match runtime.block_on(xproxy::demo::run(args.requests, args.concurrency as usize)) {
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

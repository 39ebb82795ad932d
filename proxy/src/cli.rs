//! The command line: `xproxy run`, `xproxy validate`, `xproxy demo`.
//!
//! This module parses arguments and implements `validate`; [`crate::app`] dispatches `run` and
//! `demo`. Printing to standard output is this module's job (the rest of the crate logs with
//! `tracing`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{parse, validate, ConfigError, Format};

/// xproxy: one port for Bolt, Dubbo, Tars and more; every request routed to a healthy backend.
#[derive(Debug, Parser)]
#[command(name = "xproxy", version, propagate_version = true)]
#[command(
    about = "An auto-detecting multi-protocol RPC gateway.",
    long_about = "An auto-detecting multi-protocol RPC gateway: one listening port accepts every \
                  registered RPC protocol (SOFARPC Bolt v1/v2, Dubbo, Tars, …), recognises each \
                  connection's protocol from its first bytes, and routes every request to a \
                  healthy backend, answering failures in the caller's own protocol.\n\n\
                  Start with `xproxy demo` (no setup), then `xproxy validate -c FILE` and \
                  `xproxy run -c FILE`. The configuration is documented in \
                  docs/configuration.md; examples are in examples/configs/."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway with a configuration file.
    #[command(
        long_about = "Run the gateway: validate the configuration (refusing to start on any \
                      error), bind every listener and the admin endpoint, and serve until \
                      interrupted (Ctrl-C / SIGTERM), then drain in-flight requests for at most \
                      limits.drain_timeout."
    )]
    Run(RunArgs),
    /// Check a configuration file and list every problem, with its field and line.
    #[command(long_about = "Check a configuration file without running anything: parse it, then \
                      apply every validation rule. Prints `FILE: ok` (and any warnings) when it \
                      is usable; otherwise prints every error, one per line, as \
                      `FILE:LINE:COLUMN: FIELD: MESSAGE`, and exits with status 1.")]
    Validate(ValidateArgs),
    /// Run a self-contained demonstration: gateway, backends and clients, with no setup.
    #[command(long_about = "Run a self-contained demonstration on 127.0.0.1: start backends for \
                      several protocols and a gateway in front of them on one port, send \
                      requests of every protocol through it, and print what happened (requests, \
                      latencies, errors). Needs no configuration file and no network access.")]
    Demo(DemoArgs),
}

/// Arguments of `xproxy run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (YAML, or JSON when it ends in `.json`).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// How much to log.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Worker threads. Default: the CPUs this process may run on (its affinity mask). With
    /// one, the gateway runs on a single-threaded scheduler, which wakes tasks without any
    /// cross-thread synchronisation: the cheapest way to run pinned to one core.
    #[arg(long, value_name = "N")]
    pub workers: Option<std::num::NonZeroUsize>,
}

/// Arguments of `xproxy validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The configuration file (YAML, or JSON when it ends in `.json`).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}

/// Arguments of `xproxy demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Requests to send in total, spread over the protocols.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
}

/// How much the gateway logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Also lifecycle events (listeners bound, configuration loaded, shutdown).
    #[default]
    Info,
    /// Also per-connection events.
    Debug,
    /// Everything, per request.
    Trace,
}

impl LogLevel {
    /// The level as a `tracing` filter directive (`info`, `debug`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl From<LogLevel> for tracing::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// `xproxy validate -c FILE`: prints the outcome to standard output and returns the exit
/// status (0 usable, 1 unreadable or invalid). `known_protocols` are the registered names.
pub fn run_validate(path: &Path, known_protocols: &[&str]) -> ExitCode {
    let stdout = io::stdout();
    match validate_to(path, known_protocols, &mut stdout.lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) | Err(_) => ExitCode::FAILURE,
    }
}

/// The work of [`run_validate`], writing to `out`: `FILE: ok` and one line per warning, or one
/// line per error (then the warnings). Returns whether the configuration is usable.
pub fn validate_to(path: &Path, known_protocols: &[&str], out: &mut dyn Write) -> io::Result<bool> {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            writeln!(out, "{file}: cannot read: {err}")?;
            return Ok(false);
        }
    };
    let config = match parse(&text, Format::from_path(path)) {
        Ok(config) => config,
        Err(err) => {
            for d in ConfigError::diagnostics(&err) {
                writeln!(out, "{}", d.in_file(&file))?;
            }
            return Ok(false);
        }
    };
    let report = validate(&config, Some(&text), known_protocols);
    for d in &report.errors {
        writeln!(out, "{}", d.in_file(&file))?;
    }
    if report.is_ok() {
        writeln!(out, "{file}: ok")?;
    }
    for d in &report.warnings {
        writeln!(out, "{}", WarningLine(&file, d))?;
    }
    Ok(report.is_ok())
}

/// `FILE:LINE:COLUMN: warning: PATH: MESSAGE`.
struct WarningLine<'a>(&'a str, &'a crate::config::Diagnostic);

impl std::fmt::Display for WarningLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (file, d) = (self.0, self.1);
        match d.location {
            Some(at) => write!(f, "{file}:{}:{}: warning: ", at.line, at.column)?,
            None => write!(f, "{file}: warning: ")?,
        }
        if !d.path.is_empty() {
            write!(f, "{}: ", d.path)?;
        }
        f.write_str(&d.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    const KNOWN: &[&str] = &["bolt", "boltv2", "dubbo", "tars", "echo"];

    fn parse_args(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("xproxy").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_a_config_and_a_log_level() {
        let cli = parse_args(&["run", "-c", "gw.yaml", "--log-level", "debug"]).unwrap();
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!(args.config, PathBuf::from("gw.yaml"));
        assert_eq!(args.log_level, LogLevel::Debug);
        assert_eq!(tracing::Level::from(args.log_level), tracing::Level::DEBUG);
        let cli = parse_args(&["run", "--config", "gw.yaml"]).unwrap();
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!(args.log_level.as_str(), "info");
        assert!(parse_args(&["run"]).is_err(), "the config is required");
        assert!(parse_args(&["run", "-c", "x", "--log-level", "loud"]).is_err());
    }

    #[test]
    fn demo_has_defaults_and_bounds() {
        let Command::Demo(args) = parse_args(&["demo"]).unwrap().command else { panic!() };
        assert_eq!((args.requests, args.concurrency), (1000, 16));
        let cli = parse_args(&["demo", "--requests", "5", "--concurrency", "2"]).unwrap();
        let Command::Demo(args) = cli.command else { panic!() };
        assert_eq!((args.requests, args.concurrency), (5, 2));
        assert!(parse_args(&["demo", "--concurrency", "0"]).is_err());
    }

    #[test]
    fn help_and_version_on_every_subcommand() {
        for sub in
            [&["--help"][..], &["run", "--help"], &["validate", "--help"], &["demo", "--help"]]
        {
            let err = parse_args(sub).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{sub:?}");
        }
        for sub in [&["--version"][..], &["run", "--version"], &["validate", "--version"]] {
            let err = parse_args(sub).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion, "{sub:?}");
        }
        let help = parse_args(&["validate", "--help"]).unwrap_err().to_string();
        assert!(help.contains("FILE:LINE:COLUMN"), "{help}");
    }

    fn validate_text(name: &str, text: &str) -> (bool, String) {
        let dir = std::env::temp_dir().join(format!("xproxy-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        let ok = validate_to(&path, KNOWN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap().replace(&path.display().to_string(), name);
        let _ = std::fs::remove_file(&path);
        (ok, text)
    }

    const GOOD: &str = "listeners: [{name: a, address: 127.0.0.1:1, protocols: [bolt]}]\n\
                        routes: [{protocol: bolt, routes: [{action: {cluster: c}}]}]\n\
                        clusters: [{name: c, endpoints: [{address: 127.0.0.1:2}]}]\n";

    #[test]
    fn validate_prints_ok_with_warnings() {
        assert_eq!(validate_text("a.yaml", GOOD), (true, "a.yaml: ok\n".to_owned()));
        let (ok, out) = validate_text("a.yaml", &GOOD.replace("[bolt]", "[bolt, tars]"));
        assert!(ok);
        assert!(out.starts_with("a.yaml: ok\na.yaml:1:"), "{out}");
        assert!(out.contains(": warning: listeners[0].protocols[1]: protocol `tars`"), "{out}");
    }

    #[test]
    fn validate_prints_every_error_one_per_line() {
        let bad = GOOD.replace("cluster: c}", "cluster: d}").replace("[bolt]", "[smtp]");
        let (ok, out) = validate_text("b.yaml", &bad);
        assert!(!ok);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("b.yaml:1:"), "{out}");
        assert!(lines[0].ends_with("listeners[0].protocols[0]: unknown protocol `smtp` (registered: bolt, boltv2, dubbo, tars, echo)"), "{out}");
        assert!(lines[1].starts_with("b.yaml:2:"), "{out}");
        assert!(lines[1].ends_with("routes[0].routes[0].action.cluster: no cluster named `d`"));
        assert!(!out.contains(": ok"));

        let (ok, out) = validate_text("c.json", "{\"listeners\": 3}");
        assert!(!ok);
        assert_eq!(out, "c.json:1:15: listeners: invalid type: integer `3`, expected a sequence\n");
        let (ok, out) = validate_text("d.yaml", "listeners:\n  - name: a\n    adress: x\n");
        assert!(!ok);
        assert!(
            out.starts_with("d.yaml:3:5: listeners[0].adress: unknown field `adress`"),
            "{out}"
        );
    }

    #[test]
    fn validate_reports_an_unreadable_file() {
        let mut out = Vec::new();
        let missing = Path::new("/nonexistent/xproxy.yaml");
        assert!(!validate_to(missing, KNOWN, &mut out).unwrap());
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("/nonexistent/xproxy.yaml: cannot read:"), "{out}");
    }
}

//! The command line of `xload`, and the parsers of its durations, sizes and rates.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `xload`: a load generator for RPC protocols, in the manner of h2load.
#[derive(Debug, Parser)]
#[command(
    name = "xload",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    about = "Load generator for the RPC protocols xproxy speaks (Bolt, Dubbo, Tars).",
    long_about = "Load generator for the RPC protocols xproxy speaks, in the manner of h2load.\n\n\
                  `xload --protocol P --target HOST:PORT` opens --connections connections, \
                  keeps --concurrency requests in flight on each (multiplexed: replies are \
                  matched by request id), either as fast as replies come back (closed loop, \
                  the default) or at a fixed total --rate, for --warmup and then --duration. \
                  It prints requests/s, latency percentiles (p50, p90, p99, p99.9, from an \
                  HDR histogram of every successful request) and errors by class: timeout \
                  (no reply within --timeout), closed (the connection closed or was reset), \
                  status (a reply whose status is not OK), decode (the peer sent bytes that \
                  are not a frame), other (the client refused or could not encode the call).\n\n\
                  `xload serve --protocol P --listen ADDR` runs a backend that answers every \
                  request with an OK reply of --payload bytes after --delay.\n\n\
                  Protocols: bolt (SOFARPC Bolt v1), dubbo (hessian2), tars. \
                  HTTP/1.1, HTTP/2 and gRPC: not yet.\n\n\
                  Durations take a unit (10s, 500ms, 250us, 2m); sizes take B, KiB, MiB \
                  (or k, M: 1024-based); a rate is a number of requests per second (5000 or \
                  5000/s)."
)]
pub struct Cli {
    /// `serve` runs a backend; without a subcommand, xload generates load.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The load to generate.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a backend that answers every request with an OK reply of a given size.
    #[command(long_about = "Run a backend on the protocol's engine server: every request is \
                      answered, after --delay, with an OK reply whose payload is --payload \
                      bytes (Bolt content, Dubbo return value as hessian2 binary, Tars \
                      sBuffer). Heartbeats are answered. Runs until SIGINT or SIGTERM, then \
                      drains.")]
    Serve(ServeArgs),
}

/// A protocol xload speaks.
///
/// Extension point: HTTP/1.1, HTTP/2 and gRPC will be further variants, each with its own
/// [`Connection`](crate::load::driver::Connection) implementation; the driver, pacing and
/// report do not depend on the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// SOFARPC Bolt v1.
    Bolt,
    /// Dubbo over hessian2.
    Dubbo,
    /// Tars (iVersion 1).
    Tars,
}

impl ProtocolArg {
    /// The name printed in reports (the protocol's registered name).
    pub fn name(self) -> &'static str {
        match self {
            ProtocolArg::Bolt => "bolt",
            ProtocolArg::Dubbo => "dubbo",
            ProtocolArg::Tars => "tars",
        }
    }
}

/// Arguments of a load run.
#[derive(Clone, Debug, Args)]
pub struct LoadArgs {
    /// The protocol to speak.
    #[arg(short, long, value_enum, value_name = "PROTOCOL", required = true)]
    pub protocol: Option<ProtocolArg>,
    /// The server or proxy to load, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", required = true)]
    pub target: Option<String>,
    /// Connections to open.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub connections: u64,
    /// Requests in flight at most on each connection.
    #[arg(short = 'm', long, value_name = "M", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// Send at this total rate (requests/s, spread evenly over the connections) instead of
    /// as fast as replies come back. Latency then counts from when each request was due, so
    /// that a slow server's queueing is not hidden.
    #[arg(short = 'r', long, value_name = "R/s", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// How long to measure, after the warm-up.
    #[arg(short = 'D', long, value_name = "DURATION", default_value = "10s",
          value_parser = parse_duration)]
    pub duration: Duration,
    /// How long to send before measuring (connections open, caches and pools warm).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// The request's application payload: Bolt content, Dubbo `byte[]` argument, Tars
    /// sBuffer.
    #[arg(long, value_name = "SIZE", default_value = "1KiB", value_parser = parse_size)]
    pub payload: usize,
    /// The service addressed [default: com.example.HelloService; for Tars, the servant
    /// Hello.HelloServer.HelloObj].
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// The method called.
    #[arg(long, value_name = "NAME", default_value = "sayHello")]
    pub method: String,
    /// A request with no reply after this long counts as a timeout error.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Runtime worker threads [default: the CPUs this process may run on].
    #[arg(short = 't', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    /// Print one line of JSON (for scripts) instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `xload serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// The protocol to serve.
    #[arg(short, long, value_enum, value_name = "PROTOCOL")]
    pub protocol: ProtocolArg,
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:12201")]
    pub listen: String,
    /// Hold every request this long before replying.
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// The reply's application payload size.
    #[arg(long, value_name = "SIZE", default_value = "1KiB", value_parser = parse_size)]
    pub payload: usize,
    /// Runtime worker threads [default: the CPUs this process may run on].
    #[arg(short = 't', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
}

/// Parses `10s`, `500ms`, `250us` (or `µs`), `2m`, `1.5s`, `0`.
///
/// # Errors
/// A message naming what is wrong, shown by clap.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration"))?;
    let seconds = match unit.trim() {
        "" if value == 0.0 => 0.0,
        "" => return Err(format!("`{text}` needs a unit: s, ms, us, m")),
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown duration unit `{other}` (use s, ms, us, m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// Parses `1024`, `64B`, `1KiB`, `4k`, `1MiB`, `2M` (k and M are 1024-based, as payload sizes
/// usually are).
///
/// # Errors
/// A message naming what is wrong, shown by clap.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: usize = number.parse().map_err(|_| format!("`{text}` is not a size"))?;
    let scale: usize = match unit.trim() {
        "" | "B" | "b" => 1,
        "k" | "K" | "KiB" | "KB" | "kB" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        other => return Err(format!("unknown size unit `{other}` (use B, KiB, MiB)")),
    };
    value.checked_mul(scale).ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a rate in requests per second: `5000`, `5000/s`, `2.5e3`.
///
/// # Errors
/// A message naming what is wrong, shown by clap.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches("/s");
    let rate: f64 = number.parse().map_err(|_| format!("`{text}` is not a rate (e.g. 5000/s)"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(format!("`{text}`: the rate must be a positive number of requests per second"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_and_rates_parse_with_their_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err(), "a non-zero duration needs a unit");
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("fast").is_err());
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("64B"), Ok(64));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert!(parse_size("1GiB").is_err());
        assert!(parse_size("-1").is_err());
        assert_eq!(parse_rate("5000/s"), Ok(5000.0));
        assert_eq!(parse_rate("2.5e3"), Ok(2500.0));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("inf").is_err());
    }

    #[test]
    fn load_command_line_parses_like_the_readme_says() {
        let cli = Cli::try_parse_from([
            "xload",
            "--protocol",
            "dubbo",
            "--target",
            "127.0.0.1:20880",
            "-c",
            "4",
            "-m",
            "16",
            "--duration",
            "5s",
            "--warmup",
            "500ms",
            "--payload",
            "1KiB",
            "--json",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        let load = cli.load;
        assert_eq!(load.protocol, Some(ProtocolArg::Dubbo));
        assert_eq!(load.target.as_deref(), Some("127.0.0.1:20880"));
        assert_eq!((load.connections, load.concurrency), (4, 16));
        assert_eq!(load.duration, Duration::from_secs(5));
        assert_eq!(load.warmup, Duration::from_millis(500));
        assert_eq!((load.payload, load.rate, load.json), (1024, None, true));
        assert_eq!(load.method, "sayHello");
    }

    #[test]
    fn serve_needs_no_target_and_load_needs_one() {
        let cli = Cli::try_parse_from(["xload", "serve", "--protocol", "tars", "--delay", "1ms"])
            .unwrap();
        let Some(Command::Serve(serve)) = cli.command else { panic!("not serve") };
        assert_eq!((serve.protocol, serve.delay), (ProtocolArg::Tars, Duration::from_millis(1)));
        assert_eq!(serve.payload, 1024);
        assert!(Cli::try_parse_from(["xload", "--protocol", "bolt"]).is_err());
        assert!(Cli::try_parse_from(["xload", "--protocol", "http2", "--target", "x:1"]).is_err());
        assert!(Cli::try_parse_from(["xload", "--target", "x:1", "-p", "bolt", "-c", "0"]).is_err());
    }

    #[test]
    fn the_command_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

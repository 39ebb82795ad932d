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
    about = "Load generator for the protocols xproxy speaks (Bolt, Dubbo, Tars, HTTP/1.1, \
             HTTP/2, gRPC).",
    long_about = "Load generator for the protocols xproxy speaks, in the manner of h2load.\n\n\
                  `xload --protocol P --target HOST:PORT` opens --connections connections, \
                  keeps --concurrency requests in flight on each, either as fast as replies \
                  come back (closed loop, the default) or at a fixed total --rate, for \
                  --warmup and then --duration. It prints requests/s, latency percentiles \
                  (p50, p90, p99, p99.9, from an HDR histogram of every successful request) \
                  and errors by class: timeout (no reply within --timeout), connect \
                  (reopening a connection failed), closed (the connection closed before the \
                  reply), reset (TCP reset, or HTTP/2 RST_STREAM from the peer), status (an RPC \
                  reply whose status is not OK), decode (the peer sent bytes that are not a \
                  frame or response, or a gRPC reply without a valid status or message), other \
                  (the client refused or could not encode the call), and, when they occur, \
                  http_1xx to http_5xx and http_other (an HTTP status that is not a success; \
                  for gRPC, not 200) and grpc_<code> (a grpc-status other than 0, e.g. \
                  grpc_unavailable), and, when a request failed, the error window: when the \
                  first and the last failure came (what an outage cost).\n\n\
                  Protocols:\n\
                  - bolt (SOFARPC Bolt v1), dubbo (hessian2), tars: requests multiplexed on \
                  each connection, replies matched by request id; --service and --method name \
                  the call, --payload is its argument.\n\
                  - http1: HTTP/1.1 POST of --payload bytes to --path on keep-alive \
                  connections, one request at a time on each (--concurrency must be 1; use \
                  --connections for more in flight).\n\
                  - http2: HTTP/2 with prior knowledge (cleartext), the same POST on \
                  --concurrency streams per connection.\n\
                  - grpc: gRPC unary calls over HTTP/2 (POST /xproxy.bench.Echo/Unary, \
                  content-type application/grpc, te: trailers, one message of --payload \
                  bytes); success is status 200, grpc-status 0 and one reply message.\n\
                  An HTTP connection the peer closes between requests is reopened by the next \
                  request (its latency includes the reopening).\n\n\
                  `xload serve --protocol P --listen ADDR` runs a backend that answers every \
                  request with an OK reply of --payload bytes after --delay; `--protocol http` \
                  serves HTTP/1.1, HTTP/2 and gRPC on one port.\n\n\
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
    #[command(long_about = "Run a backend. Every request is answered, after --delay, with an \
                      OK reply whose payload is --payload bytes.\n\n\
                      bolt, dubbo, tars: on the protocol's engine server; the payload is the \
                      Bolt content, the Dubbo return value (hessian2 binary), the Tars \
                      sBuffer. Heartbeats are answered.\n\n\
                      http: HTTP/1.1 and HTTP/2 with prior knowledge on the same port (told \
                      apart by the first bytes). Any request is read whole and answered with \
                      200 and a body of --payload bytes; a gRPC request (content-type \
                      application/grpc) with one message of --payload bytes and the trailer \
                      grpc-status: 0.\n\n\
                      Runs until SIGINT or SIGTERM, then drains (at most 5 s).")]
    Serve(ServeArgs),
}

/// A protocol xload generates load for.
///
/// The driver, pacing and report do not depend on the protocol: each protocol is a
/// [`Connection`](crate::load::driver::Connection) implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// SOFARPC Bolt v1.
    Bolt,
    /// Dubbo over hessian2.
    Dubbo,
    /// Tars (iVersion 1).
    Tars,
    /// HTTP/1.1 keep-alive, one request at a time per connection.
    Http1,
    /// HTTP/2 with prior knowledge, --concurrency streams per connection.
    Http2,
    /// gRPC unary calls over HTTP/2.
    Grpc,
}

impl ProtocolArg {
    /// The name printed in reports (the protocol's registered name, or the HTTP workload's).
    pub fn name(self) -> &'static str {
        match self {
            ProtocolArg::Bolt => "bolt",
            ProtocolArg::Dubbo => "dubbo",
            ProtocolArg::Tars => "tars",
            ProtocolArg::Http1 => "http1",
            ProtocolArg::Http2 => "http2",
            ProtocolArg::Grpc => "grpc",
        }
    }
}

/// A protocol `xload serve` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServeProtocol {
    /// SOFARPC Bolt v1.
    Bolt,
    /// Dubbo over hessian2.
    Dubbo,
    /// Tars (iVersion 1).
    Tars,
    /// HTTP/1.1 and HTTP/2 (prior knowledge) on one port, gRPC included.
    Http,
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
    /// Requests in flight at most on each connection: multiplexed calls (RPC), streams
    /// (http2, grpc); http1 takes only 1.
    #[arg(short = 'm', long, value_name = "M", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// Send at this total rate (requests/s, spread evenly over the connections) instead of
    /// as fast as replies come back. A request that came due while its connection's window
    /// was full counts its latency from when it was due, so that a slow server's queueing is
    /// not hidden; one sent late only because the generator's millisecond timer woke late
    /// counts from when it was sent.
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
    /// sBuffer, HTTP request body, gRPC message.
    #[arg(long, value_name = "SIZE", default_value = "1KiB", value_parser = parse_size)]
    pub payload: usize,
    /// RPC: the service addressed [default: com.example.HelloService; for Tars, the servant
    /// Hello.HelloServer.HelloObj].
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// RPC: the method called.
    #[arg(long, value_name = "NAME", default_value = "sayHello")]
    pub method: String,
    /// HTTP: the request path, with any query [default: /echo; for grpc,
    /// /xproxy.bench.Echo/Unary].
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// HTTP: the Host header (HTTP/1.1) or :authority (HTTP/2, gRPC) [default: the
    /// --target].
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
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

impl LoadArgs {
    /// Checks what clap cannot: the options that do not fit the protocol.
    ///
    /// # Errors
    /// A message saying what to change.
    pub fn check(&self) -> Result<(), String> {
        if self.protocol == Some(ProtocolArg::Http1) && self.concurrency > 1 {
            return Err(format!(
                "http1 sends one request at a time on a connection (as h2load does), so \
                 --concurrency must be 1, not {}: ask for more --connections instead",
                self.concurrency
            ));
        }
        let rpc = matches!(
            self.protocol,
            Some(ProtocolArg::Bolt | ProtocolArg::Dubbo | ProtocolArg::Tars)
        );
        if rpc && (self.path.is_some() || self.host.is_some()) {
            return Err("--path and --host apply to http1, http2 and grpc only".to_owned());
        }
        if !rpc && self.service.is_some() {
            return Err("--service applies to bolt, dubbo and tars only".to_owned());
        }
        if let Some(path) = &self.path {
            if !path.starts_with('/') {
                return Err(format!("--path `{path}` must start with /"));
            }
        }
        Ok(())
    }
}

/// Arguments of `xload serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// The protocol to serve.
    #[arg(short, long, value_enum, value_name = "PROTOCOL")]
    pub protocol: ServeProtocol,
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
        assert_eq!((serve.protocol, serve.delay), (ServeProtocol::Tars, Duration::from_millis(1)));
        assert_eq!(serve.payload, 1024);
        let cli =
            Cli::try_parse_from(["xload", "serve", "-p", "http", "--listen", "[::1]:0"]).unwrap();
        let Some(Command::Serve(serve)) = cli.command else { panic!("not serve") };
        assert_eq!((serve.protocol, serve.listen.as_str()), (ServeProtocol::Http, "[::1]:0"));
        assert!(Cli::try_parse_from(["xload", "serve", "-p", "http1"]).is_err());
        assert!(Cli::try_parse_from(["xload", "--protocol", "bolt"]).is_err());
        assert!(Cli::try_parse_from(["xload", "--protocol", "http3", "--target", "x:1"]).is_err());
        assert!(Cli::try_parse_from(["xload", "--target", "x:1", "-p", "bolt", "-c", "0"]).is_err());
    }

    fn load(args: &[&str]) -> LoadArgs {
        let mut argv = vec!["xload", "--target", "127.0.0.1:1"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().load
    }

    #[test]
    fn http_options_parse_and_misfits_are_refused() {
        let h2 = load(&["-p", "http2", "-c", "4", "-m", "64", "--path", "/x?y=1", "--host", "h"]);
        assert_eq!(h2.protocol, Some(ProtocolArg::Http2));
        assert_eq!((h2.path.as_deref(), h2.host.as_deref()), (Some("/x?y=1"), Some("h")));
        assert_eq!(h2.check(), Ok(()));
        assert_eq!(load(&["-p", "grpc", "-m", "64"]).check(), Ok(()));
        assert_eq!(load(&["-p", "http1", "-c", "50"]).check(), Ok(()));
        let err = load(&["-p", "http1", "-m", "2"]).check().unwrap_err();
        assert!(err.contains("--concurrency must be 1") && err.contains("--connections"), "{err}");
        assert!(load(&["-p", "bolt", "--path", "/x"]).check().is_err());
        assert!(load(&["-p", "dubbo", "--host", "x"]).check().is_err());
        assert!(load(&["-p", "grpc", "--service", "x"]).check().is_err());
        assert!(load(&["-p", "http2", "--path", "x"]).check().is_err());
        assert_eq!(load(&["-p", "tars", "--service", "A.B.C"]).check(), Ok(()));
    }

    #[test]
    fn the_command_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

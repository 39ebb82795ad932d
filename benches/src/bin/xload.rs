//! `xload`: load generator and benchmark backend for the RPC and HTTP protocols (see
//! `--help`).

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use futures_util::future::try_join_all;
use xprotocol_bolt::Bolt;
use xprotocol_dubbo::Dubbo;
use xprotocol_tars::Tars;
use xproxy_benches::load::cli::{Cli, Command, LoadArgs, ProtocolArg, ServeProtocol};
use xproxy_benches::load::driver::{self, Connection, Plan};
use xproxy_benches::load::http::serve::serve_http;
use xproxy_benches::load::http::{Exchange, Http1Connection, Http2Connection, HttpWorkload};
use xproxy_benches::load::report::Summary;
use xproxy_benches::load::rpc::{template, RpcConnection, RpcProtocol};
use xproxy_benches::load::serve::serve;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Some(Command::Serve(args)) => args.threads,
        None => cli.load.threads,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(usize::try_from(n).unwrap_or(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("xload: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Some(Command::Serve(args)) => {
                let (listen, delay, payload) = (&args.listen, args.delay, args.payload);
                match args.protocol {
                    ServeProtocol::Bolt => serve::<Bolt>(listen, delay, payload).await,
                    ServeProtocol::Dubbo => serve::<Dubbo>(listen, delay, payload).await,
                    ServeProtocol::Tars => serve::<Tars>(listen, delay, payload).await,
                    ServeProtocol::Http => serve_http(listen, delay, payload).await,
                }
            }
            None => load(cli.load).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xload: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    // clap requires both; the options only exist so that `serve` can go without them.
    let protocol = args.protocol.context("--protocol is required")?;
    let target = args.target.as_deref().context("--target is required")?;
    args.check().map_err(anyhow::Error::msg)?;
    match protocol {
        ProtocolArg::Bolt => load_rpc::<Bolt>(protocol, target, &args).await,
        ProtocolArg::Dubbo => load_rpc::<Dubbo>(protocol, target, &args).await,
        ProtocolArg::Tars => load_rpc::<Tars>(protocol, target, &args).await,
        ProtocolArg::Http1 => load_http(HttpWorkload::Http1, protocol, target, &args).await,
        ProtocolArg::Http2 => load_http(HttpWorkload::Http2, protocol, target, &args).await,
        ProtocolArg::Grpc => load_http(HttpWorkload::Grpc, protocol, target, &args).await,
    }
}

async fn load_rpc<P: RpcProtocol>(
    protocol: ProtocolArg,
    target: &str,
    args: &LoadArgs,
) -> anyhow::Result<()> {
    let request = template::<P>(args.service.as_deref(), Some(&args.method), args.payload)
        .context("building the request")?;
    let connections = connect_all(target, args, || {
        RpcConnection::<P>::connect(target, request.clone(), args.timeout)
    })
    .await?;
    run(connections, protocol, target, args).await
}

async fn load_http(
    workload: HttpWorkload,
    protocol: ProtocolArg,
    target: &str,
    args: &LoadArgs,
) -> anyhow::Result<()> {
    let path = args.path.as_deref().unwrap_or(workload.default_path());
    let authority = args.host.as_deref().unwrap_or(target);
    let exchange = Arc::new(
        Exchange::new(workload, authority, path, args.payload).context("building the request")?,
    );
    // Resolved once: reopened connections go to the same address.
    let addr = tokio::net::lookup_host(target)
        .await
        .with_context(|| format!("resolving {target}"))?
        .next()
        .with_context(|| format!("{target} resolves to no address"))?;
    match workload {
        HttpWorkload::Http1 => {
            let connect = || Http1Connection::connect(addr, exchange.clone());
            run(connect_all(target, args, connect).await?, protocol, target, args).await
        }
        HttpWorkload::Http2 | HttpWorkload::Grpc => {
            let connect = || Http2Connection::connect(addr, exchange.clone());
            run(connect_all(target, args, connect).await?, protocol, target, args).await
        }
    }
}

/// Opens `--connections` connections at once, within `--timeout`; any failure fails the run.
async fn connect_all<C, F, E>(
    target: &str,
    args: &LoadArgs,
    connect: impl Fn() -> F,
) -> anyhow::Result<Vec<Arc<C>>>
where
    F: Future<Output = Result<Arc<C>, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let connects = try_join_all((0..args.connections).map(|_| connect()));
    tokio::time::timeout(args.timeout, connects)
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {target}: timed out"))?
        .with_context(|| format!("connecting to {target}"))
}

async fn run<C: Connection>(
    connections: Vec<Arc<C>>,
    protocol: ProtocolArg,
    target: &str,
    args: &LoadArgs,
) -> anyhow::Result<()> {
    let plan = Plan {
        concurrency: args.concurrency,
        rate: args.rate,
        warmup: args.warmup,
        duration: args.duration,
        timeout: args.timeout,
    };
    let measured = driver::run(connections, plan).await;
    let summary = Summary {
        protocol: protocol.name(),
        target: target.to_owned(),
        connections: args.connections,
        concurrency: args.concurrency,
        rate: args.rate,
        payload: args.payload,
        elapsed: measured.elapsed,
        results: measured.results,
    };
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    Ok(())
}

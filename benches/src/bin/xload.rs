//! `xload`: load generator and benchmark backend for the RPC protocols (see `--help`).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use futures_util::future::try_join_all;
use xprotocol_bolt::Bolt;
use xprotocol_dubbo::Dubbo;
use xprotocol_tars::Tars;
use xproxy_benches::load::cli::{Cli, Command, LoadArgs, ProtocolArg};
use xproxy_benches::load::driver::{self, Plan};
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
            Some(Command::Serve(args)) => match args.protocol {
                ProtocolArg::Bolt => serve::<Bolt>(&args.listen, args.delay, args.payload).await,
                ProtocolArg::Dubbo => serve::<Dubbo>(&args.listen, args.delay, args.payload).await,
                ProtocolArg::Tars => serve::<Tars>(&args.listen, args.delay, args.payload).await,
            },
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
    match protocol {
        ProtocolArg::Bolt => load_rpc::<Bolt>(protocol, &args).await,
        ProtocolArg::Dubbo => load_rpc::<Dubbo>(protocol, &args).await,
        ProtocolArg::Tars => load_rpc::<Tars>(protocol, &args).await,
    }
}

async fn load_rpc<P: RpcProtocol>(protocol: ProtocolArg, args: &LoadArgs) -> anyhow::Result<()> {
    let target = args.target.as_deref().context("--target is required")?;
    let request = template::<P>(args.service.as_deref(), Some(&args.method), args.payload)
        .context("building the request")?;
    let connects = (0..args.connections)
        .map(|_| RpcConnection::<P>::connect(target, request.clone(), args.timeout));
    let connects = tokio::time::timeout(args.timeout, try_join_all(connects));
    let connections: Vec<Arc<RpcConnection<P>>> = connects
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {target}: timed out"))?
        .with_context(|| format!("connecting to {target}"))?;
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

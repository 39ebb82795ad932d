//! The process signals `xproxy run` answers: SIGTERM and SIGINT drain and stop, a second one
//! during the drain stops at once, and SIGHUP is logged and ignored (until configuration
//! reload gives it a meaning) instead of killing the process, its default.

use tracing::info;

/// Why the gateway is stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM.
    Terminate,
    /// SIGINT (Ctrl-C).
    Interrupt,
}

impl Stop {
    /// The signal's name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Terminate => "SIGTERM",
            Stop::Interrupt => "SIGINT",
        }
    }
}

/// The signal handlers, installed once at start-up: from then on SIGHUP no longer has its
/// default action (ending the process).
pub struct StopSignals {
    #[cfg(unix)]
    unix: Option<UnixSignals>,
}

#[cfg(unix)]
struct UnixSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers. Must run inside a tokio runtime. Where they cannot be installed
    /// (a platform without them), Ctrl-C alone stops the gateway.
    pub fn install() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let unix = (|| {
                Some(UnixSignals {
                    terminate: signal(SignalKind::terminate()).ok()?,
                    interrupt: signal(SignalKind::interrupt()).ok()?,
                    hangup: signal(SignalKind::hangup()).ok()?,
                })
            })();
            if unix.is_none() {
                tracing::warn!("cannot install signal handlers; only Ctrl-C stops the gateway");
            }
            StopSignals { unix }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Waits for the next signal that stops the gateway; SIGHUP is logged and ignored.
    pub async fn next(&mut self) -> Stop {
        #[cfg(unix)]
        if let Some(unix) = &mut self.unix {
            loop {
                tokio::select! {
                    Some(()) = unix.terminate.recv() => return Stop::Terminate,
                    Some(()) = unix.interrupt.recv() => return Stop::Interrupt,
                    Some(()) = unix.hangup.recv() => {
                        info!("SIGHUP ignored: configuration reload is not supported yet");
                    }
                    else => break,
                }
            }
        }
        let _ = tokio::signal::ctrl_c().await;
        Stop::Interrupt
    }
}

//! The client connection task: owns the socket halves, the buffers and the pending table.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, warn};

use super::client::{Command, Shared, CLOSED, DRAINING, OPEN};
use super::framed::{ReadBuf, WriteBuf, WRITE_HIGH_WATER};
use super::{CallError, EngineConfig};
use crate::{Frame, Protocol, RequestId, StreamKind};

/// Commands taken per loop turn before the batch is written.
const COMMAND_BATCH: usize = 128;

/// Heartbeat replies are skipped while this much output is unwritten (the peer is not
/// reading, so it is not waiting for them either).
const CONTROL_WRITE_CAP: usize = 4 * WRITE_HIGH_WATER;

/// A far deadline for timers that are not armed yet.
const FAR: Duration = Duration::from_secs(86_400 * 365);

/// Publishes the end of the connection task.
struct EndGuard(Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.state.store(CLOSED, Ordering::Release);
        self.0.registered.store(0, Ordering::Relaxed);
        self.0.done.cancel();
    }
}

type ReplySender<F> = oneshot::Sender<Result<F, CallError>>;

/// Hashes a request id with one multiplication: ids are ours and sequential, so no
/// flooding-resistant hash is needed, but hashbrown wants high bits that vary.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type PendingTable<F> = HashMap<RequestId, ReplySender<F>, BuildHasherDefault<IdHasher>>;

pub(crate) struct ClientConn<P: Protocol, R, W> {
    protocol: &'static P,
    codec: P::Codec,
    reader: R,
    writer: W,
    rbuf: ReadBuf,
    wbuf: WriteBuf,
    commands: mpsc::Receiver<Command<P::Frame>>,
    cancels: mpsc::UnboundedReceiver<RequestId>,
    pending: PendingTable<P::Frame>,
    shared: Arc<Shared>,
    config: EngineConfig,
    /// The heartbeat interval, if heartbeats are on and the protocol has them.
    heartbeat: Option<Duration>,
    last_read: Instant,
    missed: u32,
    heartbeat_timer: Pin<Box<Sleep>>,
    draining: bool,
    drain_timer: Pin<Box<Sleep>>,
    drain_asked: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<P, R, W> ClientConn<P, R, W>
where
    P: Protocol,
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub(crate) fn new(
        protocol: &'static P,
        reader: R,
        writer: W,
        commands: mpsc::Receiver<Command<P::Frame>>,
        cancels: mpsc::UnboundedReceiver<RequestId>,
        shared: Arc<Shared>,
        config: EngineConfig,
    ) -> Self {
        let now = Instant::now();
        let heartbeat = config
            .heartbeat_interval
            .filter(|_| protocol.heartbeat_request(RequestId(1)).is_some());
        let first_beat = heartbeat.map_or(now + FAR, |interval| now + interval);
        ClientConn {
            protocol,
            codec: protocol.codec(config.limits),
            reader,
            writer,
            rbuf: ReadBuf::default(),
            wbuf: WriteBuf::default(),
            commands,
            cancels,
            pending: PendingTable::default(),
            drain_asked: Box::pin(shared.drain.clone().cancelled_owned()),
            shared,
            config,
            heartbeat,
            last_read: now,
            missed: 0,
            heartbeat_timer: Box::pin(tokio::time::sleep_until(first_beat)),
            draining: false,
            drain_timer: Box::pin(tokio::time::sleep_until(now + FAR)),
        }
    }

    /// Runs the connection to its end, then fails whatever is still pending.
    pub(crate) async fn run(mut self) {
        // Marks the connection ended however the task ends, unwinding included, so that
        // `Client::close` and `Client::closed` never wait forever.
        let _ended = EndGuard(Arc::clone(&self.shared));
        let ended = self.drive().await;
        self.shared.state.store(CLOSED, Ordering::Release);
        self.commands.close();
        let reason = match &ended {
            Ok(()) => CallError::Closed,
            Err(e) => e.clone(),
        };
        match &ended {
            Ok(()) => debug!("client connection closed"),
            Err(e) => debug!(error = %e, pending = self.pending.len(), "client connection failed"),
        }
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(reason.clone()));
        }
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Call { reply, .. } = command {
                let _ = reply.send(Err(CallError::Closed));
            }
        }
        if ended.is_ok() {
            let finish = self.wbuf.finish(&mut self.writer);
            match tokio::time::timeout(self.config.drain_timeout, finish).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(error = %e, "client connection: final flush failed"),
                Err(_) => debug!("client connection: final flush timed out"),
            }
        }
    }

    /// The loop. `Ok` is a graceful end (drained, or every handle dropped).
    async fn drive(&mut self) -> Result<(), CallError> {
        let mut commands_open = true;
        let mut cancels_open = true;
        loop {
            if !commands_open
                || (self.draining && self.pending.is_empty() && self.commands.is_empty())
            {
                return Ok(());
            }
            // Biased: every queued call is encoded first (a batch, bounded by the write
            // buffer's high-water mark), then written in one system call, then replies are
            // read. Reading comes last, so a flooding peer cannot stop our writes (both sides
            // would end up blocked on full buffers), and each branch is bounded.
            tokio::select! {
                biased;
                command = self.commands.recv(), if self.wbuf.has_room() => match command {
                    Some(command) => self.on_commands(command),
                    None => commands_open = false,
                },
                written = self.wbuf.drive(&mut self.writer), if self.wbuf.is_pending() => {
                    written.map_err(|e| CallError::from(&e))?;
                }
                id = self.cancels.recv(), if cancels_open => match id {
                    Some(id) => {
                        self.pending.remove(&id);
                    }
                    None => cancels_open = false,
                },
                read = self.rbuf.read_from(&mut self.reader) => {
                    match read {
                        Ok(0) => return Err(CallError::Closed),
                        Ok(_) => self.on_read()?,
                        Err(e) => return Err(CallError::from(&e)),
                    }
                }
                () = &mut self.heartbeat_timer, if self.heartbeat.is_some() => {
                    self.on_heartbeat_timer()?;
                }
                () = &mut self.drain_asked, if !self.draining => self.start_drain(),
                () = &mut self.drain_timer, if self.draining => {
                    debug!(pending = self.pending.len(), "client connection: drain timeout");
                    return Err(CallError::Closed);
                }
            }
            self.shared.registered.store(self.pending.len(), Ordering::Relaxed);
        }
    }

    /// Takes `first` and whatever else is queued, up to a batch, into the write buffer.
    fn on_commands(&mut self, first: Command<P::Frame>) {
        self.on_command(first);
        for _ in 1..COMMAND_BATCH {
            if !self.wbuf.has_room() {
                break;
            }
            match self.commands.try_recv() {
                Ok(command) => self.on_command(command),
                Err(_) => break,
            }
        }
    }

    fn on_command(&mut self, command: Command<P::Frame>) {
        match command {
            Command::Call { id, frame, reply } => {
                if reply.is_closed() {
                    return; // The caller gave up before the call was taken.
                }
                if self.pending.contains_key(&id) {
                    // Only after a full wrap of the id space with a call still pending.
                    debug!(%id, "request id still pending; refusing the call");
                    let _ = reply.send(Err(CallError::Overloaded));
                    return;
                }
                match self.wbuf.encode(&mut self.codec, &frame) {
                    Ok(()) => {
                        self.pending.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(CallError::Encode(e)));
                    }
                }
            }
            Command::OneWay { frame } => {
                if let Err(e) = self.wbuf.encode(&mut self.codec, &frame) {
                    warn!(error = %e, "one-way request could not be encoded; dropped");
                }
            }
        }
    }

    fn on_read(&mut self) -> Result<(), CallError> {
        self.last_read = Instant::now();
        self.missed = 0;
        while let Some(frame) = self.rbuf.decode(&mut self.codec).map_err(CallError::Decode)? {
            match frame.kind() {
                StreamKind::Response => match self.pending.remove(&frame.request_id()) {
                    Some(reply) => {
                        let _ = reply.send(Ok(frame));
                    }
                    None => debug!(id = %frame.request_id(), "reply to no pending call dropped"),
                },
                StreamKind::HeartbeatResponse => {}
                StreamKind::HeartbeatRequest => self.answer_heartbeat(&frame),
                StreamKind::GoAway => {
                    debug!("peer sent go-away; draining");
                    self.start_drain();
                }
                StreamKind::Request | StreamKind::OneWayRequest => {
                    debug!(id = %frame.request_id(), "request sent to a client dropped");
                }
            }
        }
        Ok(())
    }

    fn answer_heartbeat(&mut self, request: &P::Frame) {
        if self.wbuf.len() >= CONTROL_WRITE_CAP {
            debug!("peer is not reading; heartbeat left unanswered");
            return;
        }
        if let Some(reply) = self.protocol.heartbeat_reply(request) {
            if let Err(e) = self.wbuf.encode(&mut self.codec, &reply) {
                warn!(error = %e, "heartbeat reply could not be encoded");
            }
        }
    }

    /// The heartbeat timer is lazy: reads only record their time, and the timer, when it
    /// fires, re-arms itself if something was read meanwhile.
    fn on_heartbeat_timer(&mut self) -> Result<(), CallError> {
        let Some(interval) = self.heartbeat else { return Ok(()) };
        let now = Instant::now();
        let idle_until = self.last_read + interval;
        if idle_until > now {
            self.heartbeat_timer.as_mut().reset(idle_until);
            return Ok(());
        }
        if self.missed >= self.config.max_missed_heartbeats {
            warn!(missed = self.missed, "heartbeats unanswered; closing the connection");
            return Err(CallError::Closed);
        }
        if let Some(probe) = self.protocol.heartbeat_request(self.shared.ids.next_id()) {
            self.wbuf.encode(&mut self.codec, &probe)?;
            self.missed += 1;
        }
        self.heartbeat_timer.as_mut().reset(now + interval);
        Ok(())
    }

    fn start_drain(&mut self) {
        let _ =
            self.shared.state.compare_exchange(OPEN, DRAINING, Ordering::AcqRel, Ordering::Acquire);
        if !self.draining {
            self.draining = true;
            self.drain_timer.as_mut().reset(Instant::now() + self.config.drain_timeout);
        }
    }
}

//! Codec micro-benchmarks of every shipped protocol at 0 B, 1 KiB and 64 KiB bodies:
//!
//! - `decode/<codec>/<size>`: one request frame split off a read buffer, and nothing else
//!   (the buffer is filled, and the decoded frames dropped, outside the timed part);
//! - `encode/<codec>/<size>`: a decoded frame appended to a reused, cleared write buffer;
//! - `relay/<codec>/<size>`: what the gateway does per request: decode, `set_request_id`,
//!   encode into a reused write buffer, drop the frame;
//! - `set_request_id/<codec>/<size>`: the id rewrite alone, on Bolt v2 with and without the
//!   CRC trailer (with it, the rewrite recomputes the CRC over the whole frame).
//!
//! Times are per frame, on the thread's CPU clock (see `xproxy_benches::clock`). Run with
//! `cargo bench -p xproxy-benches --bench codecs`.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use xprotocol::{Codec, Frame, Limits, Protocol, RequestId};
use xproxy_benches::clock::{read_overhead, thread_cpu_time, time_iters};
use xproxy_benches::frames::{BOLT_V1, BOLT_V2, DUBBO, ECHO, TARS};
use xproxy_benches::{Subject, BODY_SIZES};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// How many frames one timed batch decodes: enough to make the clock reads negligible (64 or
/// more), few enough that the batch's buffer stays within a few MiB.
fn batch_len(wire_len: usize) -> usize {
    ((4 << 20) / wire_len.max(1)).clamp(64, 4096)
}

/// Operations between two clock reads in the simple loops (encode, id rewrite).
const LOOP_BATCH: u64 = 10_000;

/// A read buffer holding `n + 1` copies of `wire` whose first frame is already decoded: the
/// buffer is shared, as a connection's is after its first frame (that first split is the one
/// allocation a fresh `BytesMut` makes, and it is not what is measured here).
fn read_buffer<C: Codec>(codec: &mut C, wire: &Bytes, n: usize) -> BytesMut {
    let mut src = BytesMut::with_capacity(wire.len() * (n + 1));
    for _ in 0..=n {
        src.extend_from_slice(wire);
    }
    assert!(matches!(codec.decode(&mut src), Ok(Some(_))), "fixture does not decode");
    src
}

/// Runs `iters` decodes in batches, timing only the decode calls.
fn time_decode<C: Codec>(codec: &mut C, wire: &Bytes, iters: u64) -> Duration {
    let batch = batch_len(wire.len());
    let mut frames = Vec::with_capacity(batch);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch as u64) as usize;
        let mut src = read_buffer(codec, wire, n);
        let start = thread_cpu_time();
        for _ in 0..n {
            if let Ok(Some(frame)) = codec.decode(black_box(&mut src)) {
                frames.push(frame);
            }
        }
        total += thread_cpu_time().saturating_sub(start).saturating_sub(read_overhead());
        assert_eq!(frames.len(), n, "a frame failed to decode");
        frames.clear();
        left -= n as u64;
    }
    total
}

/// Runs `iters` decode → id rewrite → encode rounds in batches into a reused write buffer.
fn time_relay<C: Codec>(codec: &mut C, wire: &Bytes, out: &mut BytesMut, iters: u64) -> Duration {
    let batch = batch_len(wire.len());
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut relayed = 0;
    while left > 0 {
        let n = left.min(batch as u64) as usize;
        let mut src = read_buffer(codec, wire, n);
        out.clear();
        let start = thread_cpu_time();
        for i in 0..n {
            if let Ok(Some(mut frame)) = codec.decode(black_box(&mut src)) {
                // Upstream ids as a gateway hands them out: distinct, four bytes wide.
                let id = RequestId(100_000 + i as u64);
                if frame.set_request_id(id).is_ok() && codec.encode(&frame, out).is_ok() {
                    relayed += 1;
                }
            }
        }
        total += thread_cpu_time().saturating_sub(start).saturating_sub(read_overhead());
        black_box(&*out);
        left -= n as u64;
    }
    assert_eq!(relayed, iters, "a frame failed to relay");
    total
}

fn decode_one<P: Protocol>(protocol: &P, wire: &Bytes) -> P::Frame {
    let mut src = BytesMut::from(&wire[..]);
    match protocol.codec(Limits::DEFAULT).decode(&mut src) {
        Ok(Some(frame)) => frame,
        other => panic!("fixture does not decode: {other:?}"),
    }
}

fn fixture(subject: Subject, size: usize) -> Bytes {
    subject.request(size).unwrap_or_else(|e| panic!("{subject:?} at {size} B: {e}"))
}

/// Registers the decode, encode and relay benchmarks of one codec at every body size.
fn codec_benches<P: Protocol>(c: &mut Criterion, protocol: &P, subject: Subject) {
    let label = subject.label();
    for size in BODY_SIZES {
        let wire = fixture(subject, size);
        let bytes = Throughput::Bytes(wire.len() as u64);

        let mut g = c.benchmark_group("decode");
        g.throughput(bytes.clone());
        let mut codec = protocol.codec(Limits::DEFAULT);
        g.bench_function(format!("{label}/{size}"), |b| {
            b.iter_custom(|iters| time_decode(&mut codec, &wire, iters));
        });
        g.finish();

        let mut g = c.benchmark_group("encode");
        g.throughput(bytes.clone());
        let frame = decode_one(protocol, &wire);
        let mut out = BytesMut::with_capacity(wire.len());
        g.bench_function(format!("{label}/{size}"), |b| {
            b.iter_custom(|iters| {
                time_iters(iters, LOOP_BATCH, || {
                    out.clear();
                    let encoded = codec.encode(black_box(&frame), &mut out);
                    black_box(&out);
                    encoded
                })
            });
        });
        g.finish();

        let mut g = c.benchmark_group("relay");
        g.throughput(bytes);
        let mut out = BytesMut::with_capacity(wire.len() * batch_len(wire.len()));
        g.bench_function(format!("{label}/{size}"), |b| {
            b.iter_custom(|iters| time_relay(&mut codec, &wire, &mut out, iters));
        });
        g.finish();
    }
}

/// The id rewrite alone on Bolt v2, with the CRC trailer (recomputed over the whole frame)
/// and without.
fn set_request_id_benches(g: &mut Group<'_>) {
    for subject in [Subject::BoltV2Crc, Subject::BoltV2] {
        for size in BODY_SIZES {
            let wire = fixture(subject, size);
            g.throughput(Throughput::Bytes(wire.len() as u64));
            let mut frame = decode_one(&BOLT_V2, &wire);
            let mut id = 0u64;
            g.bench_function(format!("{}/{size}", subject.label()), |b| {
                b.iter_custom(|iters| {
                    time_iters(iters, LOOP_BATCH, || {
                        id = (id + 1) & 0xffff_ffff;
                        black_box(&mut frame).set_request_id(RequestId(id))
                    })
                });
            });
        }
    }
}

fn benches(c: &mut Criterion) {
    codec_benches(c, &BOLT_V1, Subject::BoltV1);
    codec_benches(c, &BOLT_V2, Subject::BoltV2Crc);
    codec_benches(c, &DUBBO, Subject::Dubbo);
    codec_benches(c, &TARS, Subject::Tars);
    codec_benches(c, &ECHO, Subject::Echo);
    let mut g = c.benchmark_group("set_request_id");
    set_request_id_benches(&mut g);
    g.finish();
}

criterion_group!(codecs, benches);
criterion_main!(codecs);

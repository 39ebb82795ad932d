//! Detection micro-benchmarks:
//!
//! - `detect_all/<input>`: [`ProtocolSet::detect`] over every registered protocol, on each
//!   protocol's first 24 bytes, on an HTTP/1.1 request and on 24 random bytes (the set is built
//!   once, as the listener does);
//! - `detect_own/<protocol>`: each protocol's own detector on its first 24 bytes;
//! - `protocol_set_all`: building the set itself (collect and sort the registrations).
//!
//! Times are on the thread's CPU clock (see `xproxy_benches::clock`). Run with
//! `cargo bench -p xproxy-benches --bench detect`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Bencher, Criterion};
use xprotocol::registry::Detection;
use xprotocol::ProtocolSet;
use xproxy_benches::clock::time_iters;
use xproxy_benches::prefixes::{first_bytes, garbage, HTTP_REQUEST};
use xproxy_benches::{linked_protocols, Subject};

fn prefix(subject: Subject) -> bytes::Bytes {
    first_bytes(subject).unwrap_or_else(|e| panic!("{subject:?}: {e}"))
}

/// Operations between two clock reads.
const BATCH: u64 = 10_000;

fn run<O>(b: &mut Bencher<'_>, mut op: impl FnMut() -> O) {
    b.iter_custom(|iters| time_iters(iters, BATCH, &mut op));
}

fn detect_all(c: &mut Criterion) {
    // Names every protocol crate, so that all of them are linked and registered.
    let linked = linked_protocols();
    let set = ProtocolSet::all();
    assert_eq!(set.names().len(), linked.len(), "a protocol crate is not registered");

    let mut g = c.benchmark_group("detect_all");
    for subject in Subject::ALL {
        let bytes = prefix(subject);
        assert!(
            matches!(set.detect(&bytes), Detection::Match(p) if p.name() == subject.protocol_name())
        );
        g.bench_function(subject.label(), |b| run(b, || set.detect(black_box(&bytes))));
    }
    assert!(matches!(set.detect(HTTP_REQUEST), Detection::NoMatch));
    g.bench_function("http1", |b| run(b, || set.detect(black_box(HTTP_REQUEST))));
    let noise = garbage();
    assert!(matches!(set.detect(&noise), Detection::NoMatch));
    g.bench_function("garbage", |b| run(b, || set.detect(black_box(&noise))));
    g.finish();

    let mut g = c.benchmark_group("detect_own");
    for subject in Subject::ALL {
        let bytes = prefix(subject);
        let own = set
            .get(subject.protocol_name())
            .unwrap_or_else(|| panic!("{} is not registered", subject.protocol_name()));
        g.bench_function(subject.label(), |b| run(b, || own.detect(black_box(&bytes))));
    }
    g.finish();

    c.bench_function("protocol_set_all", |b| run(b, ProtocolSet::all));
}

criterion_group!(detect, detect_all);
criterion_main!(detect);

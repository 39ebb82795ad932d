//! The hot path allocates nothing: in steady state, decoding a frame from a reused read
//! buffer, rewriting its request id and encoding it into a reused write buffer makes no heap
//! allocation. A counting global allocator (counting only on the measuring thread) proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use xprotocol::{Codec, Frame, Limits, Protocol, RequestId};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: delegates every call to the system allocator unchanged; it only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

/// Runs decode → id rewrite → encode over `wire` many times with reused buffers and returns
/// the allocations made after warm-up.
fn steady_state_allocations<P: Protocol>(protocol: &P, wire: &[u8]) -> u64 {
    let mut codec = protocol.codec(Limits::DEFAULT);
    let mut read_buf = BytesMut::with_capacity(4 * wire.len() + 1024);
    let mut write_buf = BytesMut::with_capacity(4 * wire.len() + 1024);
    let mut relay = |round: u64| {
        read_buf.extend_from_slice(wire);
        let mut frame = codec.decode(&mut read_buf).expect("valid frame").expect("whole frame");
        frame.set_request_id(RequestId(round % 1000 + 1)).expect("id fits");
        codec.encode(&frame, &mut write_buf).expect("encodes");
        drop(frame);
        write_buf.clear();
    };
    for round in 0..16 {
        relay(round);
    }
    allocations_in(|| {
        for round in 16..1016 {
            relay(round);
        }
    })
}

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/../testdata/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    xprotocol::testkit::hex(&std::fs::read_to_string(&path).expect("vector file"))
}

#[test]
fn counting_allocator_sees_allocations() {
    assert!(allocations_in(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
}

#[test]
fn bolt_relay_path_allocates_nothing() {
    for name in ["bolt-v1-request", "bolt-v1-response-error"] {
        assert_eq!(steady_state_allocations(&xprotocol_bolt::BOLT_V1, &vector(name)), 0, "{name}");
    }
    for name in ["bolt-v2-request", "bolt-v2-crc-request", "bolt-v2-crc-response"] {
        assert_eq!(steady_state_allocations(&xprotocol_bolt::BOLT_V2, &vector(name)), 0, "{name}");
    }
}

#[test]
fn echo_relay_path_allocates_nothing() {
    let wire = [0xEC, 0, 1, 0, 0, 0, 7, 0, 0, 4, 0].iter().copied().chain([7u8; 1024]);
    assert_eq!(steady_state_allocations(&echo_protocol::Echo, &wire.collect::<Vec<_>>()), 0);
}

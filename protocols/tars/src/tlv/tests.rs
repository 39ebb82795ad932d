use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

fn int_bytes(tag: u8, v: i64) -> Vec<u8> {
    let mut b = BytesMut::new();
    write_int(&mut b, tag, v);
    b.to_vec()
}

#[test]
fn integers_take_their_smallest_type_and_read_back() {
    let cases: [(i64, TypeCode, usize); 12] = [
        (0, TypeCode::Zero, 1),
        (1, TypeCode::Int8, 2),
        (-1, TypeCode::Int8, 2),
        (127, TypeCode::Int8, 2),
        (-128, TypeCode::Int8, 2),
        (128, TypeCode::Int16, 3),
        (-129, TypeCode::Int16, 3),
        (32767, TypeCode::Int16, 3),
        (32768, TypeCode::Int32, 5),
        (i64::from(i32::MIN), TypeCode::Int32, 5),
        (i64::from(i32::MAX) + 1, TypeCode::Int64, 9),
        (i64::MIN, TypeCode::Int64, 9),
    ];
    for (v, ty, len) in cases {
        let b = int_bytes(4, v);
        assert_eq!(b.len(), len, "{v}");
        assert_eq!(int_len(4, v), len, "{v}");
        let mut r = TlvReader::new(&b);
        let h = r.read_head().unwrap();
        assert_eq!((h.tag, h.ty), (4, ty), "{v}");
        assert_eq!(r.read_int(&h).unwrap(), v);
        assert!(r.is_empty());
    }
    // The examples of the wire documentation.
    assert_eq!(int_bytes(4, 2), [0x40, 0x02]);
    assert_eq!(int_bytes(4, 300), [0x41, 0x01, 0x2c]);
}

#[test]
fn extended_tags_use_a_second_byte() {
    for tag in [15u8, 16, 200, 255] {
        let b = int_bytes(tag, 5);
        assert_eq!(b, [0xf0, tag, 5]);
        let h = TlvReader::new(&b).read_head().unwrap();
        assert_eq!((h.tag, h.ty), (tag, TypeCode::Int8));
    }
    assert_eq!(int_bytes(14, 0), [0xec]);
    // A non-canonical extended head for a small tag reads the same.
    let h = TlvReader::new(&[0xf2, 0x03]).read_head().unwrap();
    assert_eq!((h.tag, h.ty), (3, TypeCode::Int32));
}

#[test]
fn floats_strings_and_byte_lists_round_trip() {
    let mut b = BytesMut::new();
    write_f32(&mut b, 1, 1.5);
    write_f64(&mut b, 2, -2.25);
    write_f64(&mut b, 3, 0.0);
    write_string(&mut b, 4, &[b'x'; 255]).unwrap();
    write_string(&mut b, 5, &[b'y'; 256]).unwrap();
    write_bytes(&mut b, 6, b"abc").unwrap();
    write_bytes(&mut b, 7, b"").unwrap();
    let mut r = TlvReader::new(&b);
    let h = r.read_head().unwrap();
    assert_eq!((h.tag, h.ty, r.read_float(&h).unwrap()), (1, TypeCode::Float, 1.5));
    let h = r.read_head().unwrap();
    assert_eq!((h.ty, r.read_float(&h).unwrap()), (TypeCode::Double, -2.25));
    let h = r.read_head().unwrap();
    assert_eq!((h.ty, r.read_float(&h).unwrap()), (TypeCode::Zero, 0.0));
    let h = r.read_head().unwrap();
    assert_eq!((h.ty, r.read_string(&h).unwrap()), (TypeCode::String1, &[b'x'; 255][..]));
    let h = r.read_head().unwrap();
    assert_eq!((h.ty, r.read_string(&h).unwrap()), (TypeCode::String4, &[b'y'; 256][..]));
    let h = r.read_head().unwrap();
    assert_eq!(r.read_simple_list(&h).unwrap(), b"abc");
    let h = r.read_head().unwrap();
    assert_eq!(r.read_simple_list(&h).unwrap(), b"");
    assert!(r.is_empty());
    // `@tars/stream`'s encoding of an empty byte list: head, element head, zero length.
    assert_eq!(&b[b.len() - 3..], [0x7d, 0x00, 0x0c]);
}

/// A value using every type code, nested: struct { list[map{str:int}], struct{}, bytes, … }.
fn nested_value() -> Vec<u8> {
    let mut b = BytesMut::new();
    write_struct_begin(&mut b, 20);
    write_list_header(&mut b, 0, 2).unwrap();
    for i in 0..2 {
        write_map_header(&mut b, 0, 1).unwrap();
        write_string(&mut b, 0, b"k").unwrap();
        write_int(&mut b, 1, 70000 + i);
    }
    write_struct_begin(&mut b, 1);
    write_struct_end(&mut b);
    write_bytes(&mut b, 2, b"raw").unwrap();
    write_f32(&mut b, 3, 3.0);
    write_f64(&mut b, 4, 4.0);
    write_int(&mut b, 5, -1);
    write_int(&mut b, 6, 1000);
    write_int(&mut b, 7, 1 << 40);
    write_list_header(&mut b, 8, 0).unwrap();
    write_struct_end(&mut b);
    b.to_vec()
}

#[test]
fn skip_walks_a_value_using_every_type_code() {
    let mut v = nested_value();
    v.extend_from_slice(&int_bytes(21, 9));
    let mut r = TlvReader::new(&v);
    let h = r.skip_field(64).unwrap();
    assert_eq!((h.tag, h.ty), (20, TypeCode::StructBegin));
    let h = r.read_head().unwrap();
    assert_eq!((h.tag, r.read_int(&h).unwrap()), (21, 9));
    assert!(r.is_empty());
    assert_eq!(crate::fuzz_tlv(&v, 64), (2, None));
}

#[test]
fn every_truncation_of_a_value_is_reported_as_truncated() {
    let v = nested_value();
    for n in 0..v.len() {
        let err = TlvReader::new(&v[..n]).skip_field(64).unwrap_err();
        assert!(matches!(err, TlvError::Truncated { .. }), "cut at {n}: {err:?}");
    }
}

#[test]
fn nesting_is_bounded_without_recursion() {
    // A million nested one-element lists, then a million nested structs: both end in TooDeep
    // quickly, without overflowing the stack.
    let mut lists = [0x09u8, 0x00, 0x01].repeat(1_000_000);
    lists.push(0x0c);
    let structs = vec![0x0au8; 1_000_000];
    for (data, offset) in [(&lists, 64 * 3), (&structs, 64)] {
        let t = Instant::now();
        let err = TlvReader::new(data).skip_field(64).unwrap_err();
        assert_eq!(err, TlvError::TooDeep { limit: 64, offset });
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    // The cap holds whatever the configured limit.
    let err = TlvReader::new(&structs).skip_field(usize::MAX).unwrap_err();
    assert!(matches!(err, TlvError::TooDeep { limit: MAX_NESTING_CAP, .. }), "{err:?}");
}

#[test]
fn nesting_at_the_limit_passes_and_one_more_fails() {
    let nest = |levels: usize| {
        let mut v = [0x09u8, 0x00, 0x01].repeat(levels);
        v.push(0x0c);
        v
    };
    assert_eq!(crate::fuzz_tlv(&nest(64), 64), (1, None));
    let (_, err) = crate::fuzz_tlv(&nest(65), 64);
    assert!(matches!(err, Some(TlvError::TooDeep { limit: 64, .. })), "{err:?}");
}

#[test]
fn declared_counts_larger_than_the_data_are_refused_before_walking() {
    // List of 2^31-1 items, map of 2^30 entries, 4 GiB string, byte list of 2^31-1 bytes.
    let cases: [&[u8]; 5] = [
        &[0x09, 0x02, 0x7f, 0xff, 0xff, 0xff, 0x0c],
        &[0x08, 0x02, 0x40, 0x00, 0x00, 0x00],
        &[0x09, 0x00, 0xff],
        &[0x0d, 0x00, 0x02, 0x7f, 0xff, 0xff, 0xff, 0x00],
        &[0x07, 0xff, 0xff, 0xff, 0xff, 0x00],
    ];
    for (i, data) in cases.iter().enumerate() {
        let (_, err) = crate::fuzz_tlv(data, 64);
        assert!(
            matches!(err, Some(TlvError::BadLength { .. } | TlvError::Truncated { .. })),
            "case {i}: {err:?}"
        );
    }
}

#[test]
fn structural_errors_are_typed() {
    let (_, e) = crate::fuzz_tlv(&[0x0e], 64);
    assert_eq!(e, Some(TlvError::BadType { offset: 0, code: 14 }));
    let (_, e) = crate::fuzz_tlv(&[0x1c, 0x0f], 64);
    assert_eq!(e, Some(TlvError::BadType { offset: 1, code: 15 }));
    let (_, e) = crate::fuzz_tlv(&[0x0b], 64);
    assert_eq!(e, Some(TlvError::UnexpectedStructEnd { offset: 0 }));
    // A struct end as a list item.
    let (_, e) = crate::fuzz_tlv(&[0x09, 0x00, 0x01, 0x0b], 64);
    assert_eq!(e, Some(TlvError::UnexpectedStructEnd { offset: 3 }));
    // A list count that is a string, a simple list with a wrong element head.
    let (_, e) = crate::fuzz_tlv(&[0x09, 0x06, 0x00], 64);
    assert_eq!(e, Some(TlvError::BadContainer { offset: 1 }));
    let (_, e) = crate::fuzz_tlv(&[0x0d, 0x01, 0x0c], 64);
    assert_eq!(e, Some(TlvError::BadContainer { offset: 1 }));
    // Negative count.
    let (_, e) = crate::fuzz_tlv(&[0x09, 0x00, 0xff], 64);
    assert_eq!(e, Some(TlvError::BadLength { offset: 1 }));
    // Reading a string as an integer.
    let mut r = TlvReader::new(&[0x06, 0x00]);
    let h = r.read_head().unwrap();
    assert!(matches!(r.read_int(&h), Err(TlvError::TypeMismatch { offset: 0, .. })));
}

proptest! {
    #[test]
    fn the_reader_never_panics_and_always_advances(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (n, err) = crate::fuzz_tlv(&data, 8);
        prop_assert!(n <= data.len());
        if err.is_none() {
            prop_assert!(n > 0 || data.is_empty());
        }
    }

    #[test]
    fn written_integers_read_back(tag in any::<u8>(), v in any::<i64>()) {
        let b = int_bytes(tag, v);
        prop_assert_eq!(b.len(), int_len(tag, v));
        let mut r = TlvReader::new(&b);
        let h = r.read_head().unwrap();
        prop_assert_eq!(h.tag, tag);
        prop_assert_eq!(r.read_int(&h).unwrap(), v);
        prop_assert!(r.is_empty());
    }
}

#[test]
fn walks_deeper_than_the_inline_levels_end_where_the_value_ends() {
    // 40 nested structs, each holding an int before the next level and a two-item list
    // after it, so that the walk crosses the inline levels going in and coming back out.
    for levels in [1usize, 15, 16, 17, 40] {
        let mut v = Vec::new();
        for _ in 0..levels {
            v.extend_from_slice(&[0x0a, 0x10, 0x07]);
        }
        for _ in 0..levels {
            v.extend_from_slice(&[0x29, 0x00, 0x02, 0x0c, 0x00, 0x05, 0x0b]);
        }
        v.extend_from_slice(&[0x50, 0x09]);
        let mut r = TlvReader::new(&v);
        let head = r.skip_field(64).unwrap();
        assert_eq!(head.ty, TypeCode::StructBegin, "{levels} levels");
        let h = r.read_head().unwrap();
        assert_eq!((h.tag, r.read_int(&h).unwrap()), (5, 9), "{levels} levels");
        assert!(r.is_empty());
    }
}

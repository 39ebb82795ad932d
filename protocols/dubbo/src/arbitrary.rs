//! Proptest strategies of Dubbo frames and hessian2 values (feature `arbitrary`), for the
//! testkit's property tests, fuzz seeds and benchmarks.
//!
//! Values are generated as a tree and written by one [`Writer`] per body, so that class
//! definitions, type references and value references are numbered as a real encoder numbers
//! them across a whole body.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::header::{serialization, Header, FLAG_EVENT, FLAG_REQUEST, FLAG_TWO_WAY};
use crate::hessian2::Writer;
use crate::{response_flag, DubboFrame, RequestBuilder, Status};

/// A hessian2 value to write.
#[derive(Clone, Debug)]
pub enum Value {
    /// `N`.
    Null,
    /// `T`/`F`.
    Bool(bool),
    /// An int.
    Int(i32),
    /// A long.
    Long(i64),
    /// A double.
    Double(f64),
    /// A date.
    Date(i64),
    /// A string (long ones are chunked).
    Str(String),
    /// A binary (long ones are chunked).
    Binary(Vec<u8>),
    /// A list: typed or not, fixed-length or not.
    List {
        /// Element type name, if typed.
        typed: Option<&'static str>,
        /// Whether the length is written up front.
        fixed: bool,
        /// The items.
        items: Vec<Value>,
    },
    /// A map, typed or not.
    Map {
        /// Map type name, if typed.
        typed: Option<&'static str>,
        /// The entries.
        entries: Vec<(Value, Value)>,
    },
    /// An object of a class with one field per value (defined on first use).
    Object {
        /// Which of a few class names.
        class: u8,
        /// Field values.
        fields: Vec<Value>,
    },
    /// A reference to an earlier list, map or object (index taken modulo those written;
    /// null when none was).
    Ref(u32),
}

/// Numbering state of one hessian2 body.
#[derive(Debug, Default)]
pub struct BodyState {
    classes: Vec<(u8, usize)>,
    types: Vec<&'static str>,
    refs: u32,
}

impl BodyState {
    fn write_type(&mut self, w: &mut Writer<'_>, name: &'static str) {
        match self.types.iter().position(|t| *t == name) {
            Some(i) => {
                w.int(i as i32);
            }
            None => {
                self.types.push(name);
                w.string(name);
            }
        }
    }

    /// Writes `value`, numbering class definitions, types and references across the body.
    pub fn write(&mut self, w: &mut Writer<'_>, value: &Value) {
        match value {
            Value::Null => {
                w.null();
            }
            Value::Bool(b) => {
                w.bool(*b);
            }
            Value::Int(v) => {
                w.int(*v);
            }
            Value::Long(v) => {
                w.long(*v);
            }
            Value::Double(v) => {
                w.double(*v);
            }
            Value::Date(v) => {
                w.date(*v);
            }
            Value::Str(s) => {
                w.string(s);
            }
            Value::Binary(b) => {
                w.binary(b);
            }
            Value::List { typed, fixed, items } => {
                self.refs += 1;
                match (typed, fixed) {
                    (Some(t), true) => {
                        if items.len() <= 7 {
                            w.raw(&[0x70 + items.len() as u8]);
                        } else {
                            w.raw(b"V");
                        }
                        self.write_type(w, t);
                        if items.len() > 7 {
                            w.int(items.len() as i32);
                        }
                    }
                    (Some(t), false) => {
                        w.raw(b"U");
                        self.write_type(w, t);
                    }
                    (None, true) => {
                        w.fixed_list_begin(items.len() as u32);
                    }
                    (None, false) => {
                        w.list_begin();
                    }
                }
                for item in items {
                    self.write(w, item);
                }
                if !fixed {
                    w.end();
                }
            }
            Value::Map { typed, entries } => {
                self.refs += 1;
                match typed {
                    Some(t) => {
                        w.raw(b"M");
                        self.write_type(w, t);
                    }
                    None => {
                        w.map_begin();
                    }
                }
                for (k, v) in entries {
                    self.write(w, k);
                    self.write(w, v);
                }
                w.end();
            }
            Value::Object { class, fields } => {
                let key = (*class, fields.len());
                let index = match self.classes.iter().position(|c| *c == key) {
                    Some(i) => i,
                    None => {
                        let names: Vec<String> =
                            (0..fields.len()).map(|i| format!("f{i}")).collect();
                        let names: Vec<&str> = names.iter().map(String::as_str).collect();
                        w.class_definition(&format!("com.example.C{class}"), &names);
                        self.classes.push(key);
                        self.classes.len() - 1
                    }
                };
                self.refs += 1;
                w.object_begin(index as u32);
                for f in fields {
                    self.write(w, f);
                }
            }
            Value::Ref(i) => {
                if self.refs == 0 {
                    w.null();
                } else {
                    w.reference(i % self.refs);
                }
            }
        }
    }
}

/// Strings for routing fields and attachments: short ASCII and Unicode, sometimes long
/// enough for the medium and `S` forms, never chunked (so they stay within header limits).
pub fn short_string() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => "[a-zA-Z0-9._/-]{0,40}",
        5 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
        1 => (500usize..700).prop_map(|n| "é".repeat(n)),
    ]
}

/// Strings: mostly short, rarely long enough to be chunked.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => short_string(),
        1 => (0x8000usize..0x8010).prop_map(|n| "z".repeat(n)),
    ]
}

/// Any hessian2 value, nested up to a few levels, with chunked strings and binaries now and
/// then.
pub fn value() -> impl Strategy<Value = Value> {
    value_of(string().boxed(), true)
}

/// Hessian2 values small enough for an attachments map.
pub fn small_value() -> impl Strategy<Value = Value> {
    value_of(short_string().boxed(), false)
}

fn value_of(strings: BoxedStrategy<String>, big: bool) -> impl Strategy<Value = Value> {
    let binary_len = if big { 0x8000usize..0x8004 } else { 0usize..4 };
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::Int),
        prop_oneof![any::<i64>(), -300_000i64..300_000].prop_map(Value::Long),
        prop_oneof![any::<f64>(), (-40_000i32..40_000).prop_map(|i| f64::from(i) / 4.0)]
            .prop_map(Value::Double),
        any::<i64>().prop_map(Value::Date),
        strings.prop_map(Value::Str),
        prop_oneof![vec(any::<u8>(), 0..64), binary_len.prop_map(|n| vec![1u8; n])]
            .prop_map(Value::Binary),
        any::<u32>().prop_map(Value::Ref),
    ];
    let types = prop_oneof![Just(None), Just(Some("[int")), Just(Some("java.util.HashMap"))];
    leaf.prop_recursive(4, 48, 10, move |inner| {
        prop_oneof![
            (types.clone(), any::<bool>(), vec(inner.clone(), 0..10))
                .prop_map(|(typed, fixed, items)| Value::List { typed, fixed, items }),
            (types.clone(), vec((inner.clone(), inner.clone()), 0..5))
                .prop_map(|(typed, entries)| Value::Map { typed, entries }),
            (0u8..3, vec(inner, 0..4)).prop_map(|(class, fields)| Value::Object { class, fields }),
        ]
    })
}

/// Encodes `values` as one hessian2 stream.
pub fn encode_values(values: &[Value]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let mut state = BodyState::default();
    let mut w = Writer::new(&mut out);
    for v in values {
        state.write(&mut w, v);
    }
    out.to_vec()
}

/// Hessian2 requests (two-way and one-way) with arbitrary routing fields, arguments and
/// attachments (some not strings).
pub fn request() -> impl Strategy<Value = DubboFrame> {
    (
        any::<u64>(),
        any::<bool>(),
        (short_string(), short_string(), short_string(), short_string()),
        vec(value(), 0..4),
        vec(
            (
                short_string(),
                prop_oneof![4 => short_string().prop_map(Value::Str), 1 => small_value()],
            ),
            0..20,
        ),
    )
        .prop_filter_map(
            "unbuildable",
            |(id, two_way, (dv, service, version, method), args, atts)| {
                // Write arguments and attachments through one state so numbering is shared.
                let mut body = BytesMut::new();
                let mut state = BodyState::default();
                let mut w = Writer::new(&mut body);
                w.string(&dv).string(&service).string(&version).string(&method);
                w.string(&"Ljava/lang/Object;".repeat(args.len()));
                for a in &args {
                    state.write(&mut w, a);
                }
                w.map_begin();
                for (k, v) in &atts {
                    w.string(k);
                    state.write(&mut w, v);
                }
                w.end();
                let flags =
                    FLAG_REQUEST | if two_way { FLAG_TWO_WAY } else { 0 } | serialization::HESSIAN2;
                let header = Header { flags, status: 0, id, body_len: 0 };
                DubboFrame::from_parts(header, body.freeze(), &crate::builder::BUILD_LIMITS).ok()
            },
        )
}

/// Responses with any status: a value, null or exception-like body for OK, a message string
/// otherwise.
pub fn response() -> impl Strategy<Value = DubboFrame> {
    (any::<u64>(), proptest::sample::select(Status::ALL.to_vec()), value(), string()).prop_map(
        |(id, status, v, message)| {
            if status == Status::Ok {
                let mut body = BytesMut::new();
                let mut w = Writer::new(&mut body);
                w.int(response_flag::VALUE);
                BodyState::default().write(&mut w, &v);
                DubboFrame::trusted(
                    Header { flags: serialization::HESSIAN2, status: 20, id, body_len: 0 },
                    body.freeze(),
                )
            } else {
                DubboFrame::error_response(id, status, &message)
            }
        },
    )
}

/// Frames in other serializations: opaque bodies, routed on header fields only.
pub fn opaque() -> impl Strategy<Value = DubboFrame> {
    let ids = proptest::sample::select(vec![3u8, 4, 6, 7, 8, 9, 10, 11, 12, 16, 21, 22, 23, 25]);
    (any::<u64>(), ids, 0u8..3, vec(any::<u8>(), 0..200)).prop_map(|(id, ser, shape, body)| {
        let (flags, status) = match shape {
            0 => (FLAG_REQUEST | FLAG_TWO_WAY | ser, 0),
            1 => (FLAG_REQUEST | ser, 0),
            _ => (ser, 20),
        };
        DubboFrame::trusted(Header { flags, status, id, body_len: 0 }, Bytes::from(body))
    })
}

/// Heartbeats, their replies and read-only (go-away) events.
pub fn event() -> impl Strategy<Value = DubboFrame> {
    (any::<u64>(), 0u8..3).prop_map(|(id, which)| match which {
        0 => DubboFrame::heartbeat_request(id),
        1 => DubboFrame::heartbeat_response(&DubboFrame::heartbeat_request(id)),
        _ => DubboFrame::trusted(
            Header {
                flags: FLAG_REQUEST | FLAG_EVENT | serialization::HESSIAN2,
                status: 0,
                id,
                body_len: 0,
            },
            Bytes::from_static(b"\x01R"),
        ),
    })
}

/// Any Dubbo frame.
pub fn frame() -> impl Strategy<Value = DubboFrame> {
    prop_oneof![4 => request(), 2 => response(), 1 => opaque(), 1 => event()]
}

/// A request the builder writes, for tests that want the builder in the loop.
pub fn built_request() -> impl Strategy<Value = DubboFrame> {
    (short_string(), short_string(), vec((short_string(), short_string()), 0..5)).prop_filter_map(
        "unbuildable",
        |(service, method, atts)| {
            let atts: Vec<(&str, &str)> =
                atts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            RequestBuilder { attachments: &atts, ..RequestBuilder::new(&service, &method) }
                .build()
                .ok()
        },
    )
}

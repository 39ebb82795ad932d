//! A small TLV writer producing the bytes `@tars/stream` and the C++ TARS runtime produce:
//! integers in their smallest type (0 as [`TypeCode::Zero`]), strings of up to 255 bytes as
//! [`TypeCode::String1`], longer ones as [`TypeCode::String4`].

use bytes::BufMut;
use xprotocol::EncodeError;

use super::TypeCode;

/// Writes a head: one byte for tags below 15, else `0xf0 | type` and the tag byte.
pub fn write_head(dst: &mut impl BufMut, tag: u8, ty: TypeCode) {
    if tag < 15 {
        dst.put_u8(tag << 4 | ty as u8);
    } else {
        dst.put_u8(0xf0 | ty as u8);
        dst.put_u8(tag);
    }
}

fn head_len(tag: u8) -> usize {
    if tag < 15 {
        1
    } else {
        2
    }
}

/// Bytes [`write_int`] takes for `value` under `tag`.
pub fn int_len(tag: u8, value: i64) -> usize {
    head_len(tag)
        + if value == 0 {
            0
        } else if i8::try_from(value).is_ok() {
            1
        } else if i16::try_from(value).is_ok() {
            2
        } else if i32::try_from(value).is_ok() {
            4
        } else {
            8
        }
}

/// Writes an integer in the smallest type that holds it.
pub fn write_int(dst: &mut impl BufMut, tag: u8, value: i64) {
    if value == 0 {
        write_head(dst, tag, TypeCode::Zero);
    } else if let Ok(v) = i8::try_from(value) {
        write_head(dst, tag, TypeCode::Int8);
        dst.put_i8(v);
    } else if let Ok(v) = i16::try_from(value) {
        write_head(dst, tag, TypeCode::Int16);
        dst.put_i16(v);
    } else if let Ok(v) = i32::try_from(value) {
        write_head(dst, tag, TypeCode::Int32);
        dst.put_i32(v);
    } else {
        write_head(dst, tag, TypeCode::Int64);
        dst.put_i64(value);
    }
}

/// Writes a float (0.0 as [`TypeCode::Zero`], as `@tars/stream` does).
pub fn write_f32(dst: &mut impl BufMut, tag: u8, value: f32) {
    if value == 0.0 {
        write_head(dst, tag, TypeCode::Zero);
    } else {
        write_head(dst, tag, TypeCode::Float);
        dst.put_f32(value);
    }
}

/// Writes a double (0.0 as [`TypeCode::Zero`]).
pub fn write_f64(dst: &mut impl BufMut, tag: u8, value: f64) {
    if value == 0.0 {
        write_head(dst, tag, TypeCode::Zero);
    } else {
        write_head(dst, tag, TypeCode::Double);
        dst.put_f64(value);
    }
}

/// Writes a string: 1-byte length up to 255 bytes, else 4-byte length.
///
/// # Errors
/// [`EncodeError::TooLong`] over `u32::MAX` bytes.
pub fn write_string(dst: &mut impl BufMut, tag: u8, value: &[u8]) -> Result<(), EncodeError> {
    if let Ok(len) = u8::try_from(value.len()) {
        write_head(dst, tag, TypeCode::String1);
        dst.put_u8(len);
    } else {
        let len = u32::try_from(value.len()).map_err(|_| EncodeError::TooLong {
            field: "string",
            len: value.len(),
            max: u32::MAX as usize,
        })?;
        write_head(dst, tag, TypeCode::String4);
        dst.put_u32(len);
    }
    dst.put_slice(value);
    Ok(())
}

fn count(field: &'static str, n: usize) -> Result<i64, EncodeError> {
    i32::try_from(n).map(i64::from).map_err(|_| EncodeError::TooLong {
        field,
        len: n,
        max: i32::MAX as usize,
    })
}

/// Writes a simple list (`vector<byte>`): head, element head `0x00`, length, bytes.
///
/// # Errors
/// [`EncodeError::TooLong`] over `i32::MAX` bytes.
pub fn write_bytes(dst: &mut impl BufMut, tag: u8, value: &[u8]) -> Result<(), EncodeError> {
    let n = count("byte list", value.len())?;
    write_head(dst, tag, TypeCode::SimpleList);
    write_head(dst, 0, TypeCode::Int8);
    write_int(dst, 0, n);
    dst.put_slice(value);
    Ok(())
}

/// Writes a map's head and entry count; the caller writes `entries` key (tag 0) / value
/// (tag 1) pairs next.
///
/// # Errors
/// [`EncodeError::TooLong`] over `i32::MAX` entries.
pub fn write_map_header(dst: &mut impl BufMut, tag: u8, entries: usize) -> Result<(), EncodeError> {
    let n = count("map", entries)?;
    write_head(dst, tag, TypeCode::Map);
    write_int(dst, 0, n);
    Ok(())
}

/// Writes a list's head and item count; the caller writes the items (tag 0) next.
///
/// # Errors
/// [`EncodeError::TooLong`] over `i32::MAX` items.
pub fn write_list_header(dst: &mut impl BufMut, tag: u8, items: usize) -> Result<(), EncodeError> {
    let n = count("list", items)?;
    write_head(dst, tag, TypeCode::List);
    write_int(dst, 0, n);
    Ok(())
}

/// Opens a nested struct under `tag`; close it with [`write_struct_end`].
pub fn write_struct_begin(dst: &mut impl BufMut, tag: u8) {
    write_head(dst, tag, TypeCode::StructBegin);
}

/// Closes a nested struct (head `0x0b`).
pub fn write_struct_end(dst: &mut impl BufMut) {
    write_head(dst, 0, TypeCode::StructEnd);
}

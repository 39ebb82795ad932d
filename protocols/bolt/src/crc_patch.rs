//! Updating a CRC32 after bytes inside the data changed, without reading the data again.
//!
//! CRC32 (the IEEE polynomial, as `crc32fast` computes it) is affine in the data: for two
//! messages `a` and `b` of the same length, `crc(a) ^ crc(b)` is the CRC register, started at
//! zero, after feeding `a ^ b`, with no final inversion. When `a ^ b` is zero except for a few
//! bytes `d` that sit `n` bytes before the end, that register is `d` (as the reflected
//! polynomial `u32::from_le_bytes(d)`, for a 4-byte `d`) multiplied by `x^(8n)` modulo the
//! CRC polynomial. This is the technique behind zlib's `crc32_combine`.
//!
//! `x^(8n)` comes from four 256-entry tables (one per byte of `n`, built at compile time, 4 KiB
//! in all), so an update costs at most four multiplications in GF(2)[x] modulo the polynomial,
//! each a 16-entry table walk over the nibbles of one operand: constant time, whatever the
//! frame length, where recomputing the CRC reads every byte of the frame.

/// The CRC32 (IEEE) polynomial, reflected: bit 31 is the coefficient of `x^0`.
const POLY: u32 = 0xedb8_8320;

/// `x^0` in the reflected representation.
const ONE: u32 = 0x8000_0000;

/// `a(x) * b(x)` modulo the polynomial, one bit at a time (used at compile time and as the
/// reference in tests).
const fn mul_bitwise(a: u32, mut b: u32) -> u32 {
    let mut p = 0u32;
    let mut i = 0;
    while i < 32 {
        p ^= b & ((a >> (31 - i)) & 1).wrapping_neg();
        b = (b >> 1) ^ ((b & 1).wrapping_neg() & POLY);
        i += 1;
    }
    p
}

/// `POWERS[k][i]` is `x^(8 * i * 256^k)` modulo the polynomial: the factor that moves a CRC
/// register past `i * 256^k` zero bytes.
static POWERS: [[u32; 256]; 4] = powers();

const fn powers() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    // x^8: one zero byte.
    let mut step = ONE >> 8;
    let mut k = 0;
    while k < 4 {
        let mut acc = ONE;
        let mut i = 0;
        while i < 256 {
            t[k][i] = acc;
            acc = mul_bitwise(acc, step);
            i += 1;
        }
        // After the loop `acc` is step^256: the next table's step.
        step = acc;
        k += 1;
    }
    t
}

/// `R[v]`: what the four low bits `v` (the coefficients of `x^28..x^31`) become when the
/// register is multiplied by `x^4`, reduced.
static REDUCE4: [u32; 16] = reduce4();

const fn reduce4() -> [u32; 16] {
    let mut t = [0u32; 16];
    let mut v = 0;
    while v < 16 {
        let mut r = v as u32;
        let mut i = 0;
        while i < 4 {
            r = (r >> 1) ^ ((r & 1).wrapping_neg() & POLY);
            i += 1;
        }
        t[v] = r;
        v += 1;
    }
    t
}

/// One multiplication by `x`.
fn mul_x(b: u32) -> u32 {
    (b >> 1) ^ ((b & 1).wrapping_neg() & POLY)
}

/// `a(x) * b(x)` modulo the polynomial, four bits of `a` at a time (Horner's rule from the
/// highest-degree nibble of `a`, with a table of the sixteen multiples of `b`).
fn mul(a: u32, b: u32) -> u32 {
    // The nibble `n` of `a` holds, from its bit 3 down to bit 0, the coefficients of
    // x^0..x^3 (relative to the nibble's place), so `n = 8` stands for 1 and `n = 1` for x^3.
    let b1 = mul_x(b);
    let b2 = mul_x(b1);
    let b3 = mul_x(b2);
    let mut multiples = [0u32; 16];
    for (n, slot) in multiples.iter_mut().enumerate() {
        let mask = |bit: usize| ((n >> bit) as u32 & 1).wrapping_neg();
        *slot = (b & mask(3)) ^ (b1 & mask(2)) ^ (b2 & mask(1)) ^ (b3 & mask(0));
    }
    let mut p = 0u32;
    // The lowest nibble of `a` holds the highest degrees (x^28..x^31): start there.
    for j in 0..8 {
        let nibble = (a >> (4 * j)) & 0xf;
        let reduced = REDUCE4.get((p & 0xf) as usize).copied().unwrap_or(0);
        p = (p >> 4) ^ reduced ^ multiples.get(nibble as usize).copied().unwrap_or(0);
    }
    p
}

/// The CRC32 of data whose 4 bytes `old`, followed by `after` more bytes up to the end of the
/// data, were replaced by `new`, given the data's CRC32 `crc` before the change.
///
/// `after` counts the bytes that follow the changed ones (not the changed ones themselves).
pub(crate) fn replace4(crc: u32, old: [u8; 4], new: [u8; 4], after: u64) -> u32 {
    let diff = u32::from_le_bytes(old) ^ u32::from_le_bytes(new);
    if diff == 0 {
        return crc;
    }
    // The register after feeding the 4-byte difference is diff * x^32; moving it past the
    // bytes that follow multiplies it by x^(8 * after): together x^(8 * (after + 4)).
    let mut n = after.saturating_add(4);
    let mut delta = diff;
    for table in &POWERS {
        let byte = (n & 0xff) as usize;
        if byte != 0 {
            delta = mul(delta, table.get(byte).copied().unwrap_or(ONE));
        }
        n >>= 8;
    }
    // Lengths of 2^32 bytes and more (never a Bolt frame): finish one byte-power at a time.
    let top = POWERS.get(3).and_then(|t| t.get(1)).copied().unwrap_or(ONE);
    let mut top_step = mul(top, POWERS.get(3).and_then(|t| t.get(255)).copied().unwrap_or(ONE));
    while n != 0 {
        if n & 1 != 0 {
            delta = mul(delta, top_step);
        }
        top_step = mul(top_step, top_step);
        n >>= 1;
    }
    crc ^ delta
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `x^(8n)` by square-and-multiply with the bitwise multiplication.
    fn x8n_reference(mut n: u64) -> u32 {
        let (mut power, mut square) = (ONE, ONE >> 8);
        while n != 0 {
            if n & 1 != 0 {
                power = mul_bitwise(power, square);
            }
            square = mul_bitwise(square, square);
            n >>= 1;
        }
        power
    }

    #[test]
    fn tables_hold_the_powers_they_name() {
        assert_eq!(POWERS[0][1], ONE >> 8, "x^8");
        assert_eq!(POWERS[0][2], ONE >> 16, "x^16");
        for (k, table) in POWERS.iter().enumerate() {
            for i in [0usize, 1, 2, 17, 128, 255] {
                assert_eq!(table[i], x8n_reference((i as u64) << (8 * k)), "table {k}, {i}");
            }
        }
        // Multiplying a finalized CRC's register by x^8 appends a zero byte, as crc32fast
        // computes it: the representation and the polynomial are the ones it uses.
        let crc = crc32fast::hash(b"abc");
        assert_eq!(crc32fast::hash(b"abc\0"), !mul_bitwise(!crc, ONE >> 8));
    }

    #[test]
    fn changes_at_the_ends_of_the_data() {
        let mut data = vec![0x5au8; 300];
        let old: [u8; 4] = [1, 2, 3, 4];
        let new: [u8; 4] = [9, 8, 7, 6];
        for at in [0usize, 1, 255, 296] {
            data[at..at + 4].copy_from_slice(&old);
            let before = crc32fast::hash(&data);
            data[at..at + 4].copy_from_slice(&new);
            let after = (data.len() - at - 4) as u64;
            assert_eq!(replace4(before, old, new, after), crc32fast::hash(&data), "at {at}");
            data[at..at + 4].copy_from_slice(&[0x5a; 4]);
        }
        assert_eq!(replace4(7, old, old, 1 << 40), 7, "no change, no update");
    }

    #[test]
    fn lengths_past_every_table_use_the_same_powers() {
        let new = [0x12, 0x34, 0x56, 0x78];
        let diff = u32::from_le_bytes(new);
        for after in [0u64, 251, 65_532, (1 << 32) - 4, (1 << 33) + 12_345, u64::MAX - 4] {
            let expected = mul_bitwise(diff, x8n_reference(after + 4));
            assert_eq!(replace4(0, [0; 4], new, after), expected, "after {after}");
        }
    }

    proptest! {
        #[test]
        fn nibble_multiplication_matches_the_bitwise_one(a: u32, b: u32) {
            prop_assert_eq!(mul(a, b), mul_bitwise(a, b));
        }

        #[test]
        fn update_matches_a_full_recomputation(
            data in proptest::collection::vec(any::<u8>(), 4..3000),
            at in any::<prop::sample::Index>(),
            new: [u8; 4],
        ) {
            let mut data = data;
            let at = at.index(data.len() - 3);
            let before = crc32fast::hash(&data);
            let mut old = [0u8; 4];
            old.copy_from_slice(&data[at..at + 4]);
            data[at..at + 4].copy_from_slice(&new);
            let after = (data.len() - at - 4) as u64;
            prop_assert_eq!(replace4(before, old, new, after), crc32fast::hash(&data));
        }
    }
}

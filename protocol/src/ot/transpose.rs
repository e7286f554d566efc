//! Bit-matrix transpose for OT extension: 128 rows of bits in, one [`Block`] per column out.
//!
//! IKNP builds its matrix column by column (one PRG stream per base OT) and uses it row by
//! row (one 128-bit row per extended OT). [`transpose_128`] turns the first into the
//! second, one 128 × 128 tile at a time. A tile is transposed by the recursive block swap
//! (Eklundh's method, as in ALSZ §3.2): at width w = 64, 32, …, 1, every pair of rows
//! (i, i + w) exchanges its off-diagonal w × w sub-blocks with one shift, XOR and mask per
//! word. Seven levels of 64 row pairs cost about 2,700 word operations per tile, about 20
//! per extended OT; below width 64 the two 64-bit halves of a row are independent lanes,
//! which the compiler keeps in one SSE2 register.

use crate::block::Block;

/// Rows of the matrix: the security parameter κ of IKNP.
pub const ROWS: usize = 128;

/// A 128 × 128 tile: row i is `[bits 0..64, bits 64..128]`.
type Tile = [[u64; 2]; ROWS];

/// Transposes a 128-row bit matrix stored row-major, `row_bytes` bytes per row (bit j of
/// a row is bit j % 8 of its byte j / 8), into `8 · row_bytes` blocks: bit i of `out[j]` is
/// bit j of row i. A last partial tile is padded with zeros.
///
/// # Panics
/// If `input.len() != 128 · row_bytes` or `out.len() != 8 · row_bytes` (a caller bug;
/// peer data never reaches this function unchecked).
pub fn transpose_128(input: &[u8], row_bytes: usize, out: &mut [Block]) {
    assert_eq!(input.len(), ROWS * row_bytes, "transpose_128: input size");
    assert_eq!(out.len(), 8 * row_bytes, "transpose_128: output size");
    let mut tile: Tile = [[0; 2]; ROWS];
    for (k, out) in out.chunks_mut(ROWS).enumerate() {
        load_tile(input, row_bytes, 16 * k, &mut tile);
        transpose_tile(&mut tile);
        for (o, row) in out.iter_mut().zip(tile.iter()) {
            *o = Block(u128::from(row[0]) | (u128::from(row[1]) << 64));
        }
    }
}

/// Loads bytes `[offset, offset + 16)` of every row (zeros past the end of a row).
fn load_tile(input: &[u8], row_bytes: usize, offset: usize, tile: &mut Tile) {
    let width = row_bytes.saturating_sub(offset).min(16);
    let rows = input.chunks_exact(row_bytes.max(1));
    if width == 16 {
        for (row, bytes) in tile.iter_mut().zip(rows) {
            let b = &bytes[offset..offset + 16];
            *row = [le_u64(&b[..8]), le_u64(&b[8..])];
        }
        return;
    }
    for (row, bytes) in tile.iter_mut().zip(rows) {
        let mut b = [0u8; 16];
        b[..width].copy_from_slice(&bytes[offset..offset + width]);
        *row = [le_u64(&b[..8]), le_u64(&b[8..])];
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

/// Transposes one tile in place.
fn transpose_tile(t: &mut Tile) {
    // Width 64: the top-right 64 × 64 quarter (rows 0..64, high halves) trades places
    // with the bottom-left one (rows 64..128, low halves).
    let (top, bottom) = t.split_at_mut(64);
    for (a, b) in top.iter_mut().zip(bottom.iter_mut()) {
        std::mem::swap(&mut a[1], &mut b[0]);
    }
    swap_level::<32>(t, 0x0000_0000_FFFF_FFFF);
    swap_level::<16>(t, 0x0000_FFFF_0000_FFFF);
    swap_level::<8>(t, 0x00FF_00FF_00FF_00FF);
    swap_level::<4>(t, 0x0F0F_0F0F_0F0F_0F0F);
    swap_level::<2>(t, 0x3333_3333_3333_3333);
    swap_level::<1>(t, 0x5555_5555_5555_5555);
}

/// One level of the block swap at width `W` < 64: for rows a = i, b = i + W (bit W of i
/// clear), bits at columns c + W of a (bit W of c clear) trade with bits at columns c of
/// b. `mask` selects the columns with bit W clear.
#[inline(always)]
fn swap_level<const W: usize>(t: &mut Tile, mask: u64) {
    for group in t.chunks_exact_mut(2 * W) {
        let (top, bottom) = group.split_at_mut(W);
        for (a, b) in top.iter_mut().zip(bottom.iter_mut()) {
            for lane in 0..2 {
                let x = ((a[lane] >> W) ^ b[lane]) & mask;
                b[lane] ^= x;
                a[lane] ^= x << W;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(input: &[u8], row_bytes: usize) -> Vec<Block> {
        (0..8 * row_bytes)
            .map(|j| {
                let mut v = 0u128;
                for i in 0..ROWS {
                    let bit = (input[i * row_bytes + j / 8] >> (j % 8)) & 1;
                    v |= u128::from(bit) << i;
                }
                Block(v)
            })
            .collect()
    }

    #[test]
    fn a_single_bit_lands_where_it_should() {
        for (i, j) in [(0, 0), (0, 127), (127, 0), (5, 77), (100, 3), (127, 127)] {
            let mut m = vec![0u8; ROWS * 16];
            m[i * 16 + j / 8] |= 1 << (j % 8);
            let mut out = vec![Block::ZERO; 128];
            transpose_128(&m, 16, &mut out);
            for (k, o) in out.iter().enumerate() {
                let want = if k == j { 1u128 << i } else { 0 };
                assert_eq!(o.0, want, "bit ({i}, {j}) in column {k}");
            }
        }
    }

    #[test]
    fn a_tile_transposed_twice_is_itself() {
        let mut t: Tile = [[0; 2]; ROWS];
        for (i, r) in t.iter_mut().enumerate() {
            *r = [
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                !(i as u64) << 3,
            ];
        }
        let orig = t;
        transpose_tile(&mut t);
        assert_ne!(t, orig);
        transpose_tile(&mut t);
        assert_eq!(t, orig);
    }

    proptest! {
        #[test]
        fn matches_the_naive_transpose(row_bytes in 0usize..70, seed in any::<u64>()) {
            let mut x = seed | 1;
            let input: Vec<u8> = (0..ROWS * row_bytes)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut out = vec![Block::ZERO; 8 * row_bytes];
            transpose_128(&input, row_bytes, &mut out);
            prop_assert_eq!(out, naive(&input, row_bytes));
        }
    }
}

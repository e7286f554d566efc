//! The x86-64 paths: AES-NI one block per instruction, VAES four per instruction.
//!
//! Every function with `#[target_feature]` here is `unsafe` to call, and is called only
//! from [`super::Aes`] on a path that detection chose.

use core::arch::x86_64::*;

use super::{Cipher, Kernel, Lane, WIDTH};
use crate::block::Block;

/// Whether this CPU has VAES and the AVX-512F registers it works on (and AES-NI for the
/// key schedule).
pub(super) fn has_vaes() -> bool {
    is_x86_feature_detected!("vaes") && is_x86_feature_detected!("avx512f") && has_aes_ni()
}

/// Whether this CPU has AES-NI.
pub(super) fn has_aes_ni() -> bool {
    is_x86_feature_detected!("aes") && is_x86_feature_detected!("sse2")
}

/// The AES-128 key schedule (FIPS-197 §5.2) by `aeskeygenassist`.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes,sse2")]
pub(super) unsafe fn expand(key: Block) -> [Block; 11] {
    /// One round key from the previous one and `aeskeygenassist`'s output.
    #[target_feature(enable = "aes,sse2")]
    unsafe fn next(prev: __m128i, assist: __m128i) -> __m128i {
        let mut k = prev;
        k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
        k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
        k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
        _mm_xor_si128(k, _mm_shuffle_epi32::<0xff>(assist))
    }
    let mut keys = [_mm_setzero_si128(); 11];
    keys[0] = Lane::from(key).vector();
    macro_rules! round {
        ($($r:literal: $rcon:literal),*) => {$(
            keys[$r] = next(keys[$r - 1], _mm_aeskeygenassist_si128::<$rcon>(keys[$r - 1]));
        )*};
    }
    round!(1: 0x01, 2: 0x02, 3: 0x04, 4: 0x08, 5: 0x10, 6: 0x20, 7: 0x40, 8: 0x80, 9: 0x1b, 10: 0x36);
    keys.map(|k| Block::from(Lane::from_vector(k)))
}

/// Runs `kernel` with VAES in hand.
///
/// # Safety
/// The CPU must have VAES, AVX-512F and AES-NI ([`has_vaes`]).
#[target_feature(enable = "aes,sse2,avx512f,vaes")]
pub(super) unsafe fn run_vaes<K: Kernel>(round_keys: &[Block; 11], kernel: K) {
    let mut keys = [_mm512_setzero_si512(); 11];
    for (k, r) in keys.iter_mut().zip(round_keys) {
        *k = _mm512_broadcast_i32x4(Lane::from(*r).vector());
    }
    kernel.run(&Vaes(keys));
}

/// Runs `kernel` with AES-NI in hand.
///
/// # Safety
/// The CPU must have AES-NI ([`has_aes_ni`]).
#[target_feature(enable = "aes,sse2")]
pub(super) unsafe fn run_aes_ni<K: Kernel>(round_keys: &[Block; 11], kernel: K) {
    let mut keys = [_mm_setzero_si128(); 11];
    for (k, r) in keys.iter_mut().zip(round_keys) {
        *k = Lane::from(*r).vector();
    }
    kernel.run(&AesNi(keys));
}

/// Round keys broadcast to the four lanes of a 512-bit vector. Exists only inside
/// [`run_vaes`].
struct Vaes([__m512i; 11]);

/// Blocks per 512-bit vector.
const LANES: usize = 4;

impl Cipher for Vaes {
    #[inline(always)]
    fn encrypt(&self, blocks: &mut [Lane; WIDTH]) {
        // SAFETY: a `Vaes` is built only in `run_vaes`, on a CPU with VAES and AVX-512F.
        unsafe { encrypt_vaes(&self.0, blocks) }
    }
}

/// [`WIDTH`] blocks as `WIDTH / 4` vectors, each round applied to all before the next.
#[inline]
#[target_feature(enable = "aes,sse2,avx512f,vaes")]
unsafe fn encrypt_vaes(keys: &[__m512i; 11], blocks: &mut [Lane; WIDTH]) {
    let mut v = [_mm512_setzero_si512(); WIDTH / LANES];
    for (v, b) in v.iter_mut().zip(blocks.chunks_exact(LANES)) {
        // SAFETY: `b` is four consecutive lanes (`repr(transparent)` vectors), 64 bytes.
        *v = _mm512_xor_si512(_mm512_loadu_si512(b.as_ptr().cast()), keys[0]);
    }
    for k in &keys[1..10] {
        for v in v.iter_mut() {
            *v = _mm512_aesenc_epi128(*v, *k);
        }
    }
    for (v, b) in v.iter().zip(blocks.chunks_exact_mut(LANES)) {
        // SAFETY: `b` is four consecutive lanes, 64 writable bytes.
        _mm512_storeu_si512(
            b.as_mut_ptr().cast(),
            _mm512_aesenclast_epi128(*v, keys[10]),
        );
    }
}

/// Round keys in 128-bit vectors. Exists only inside [`run_aes_ni`].
struct AesNi([__m128i; 11]);

/// Blocks in flight at once on AES-NI: as many as the 16 vector registers hold beside a
/// round key.
const PIPELINE: usize = 8;

impl Cipher for AesNi {
    #[inline(always)]
    fn encrypt(&self, blocks: &mut [Lane; WIDTH]) {
        for part in blocks.chunks_exact_mut(PIPELINE) {
            // SAFETY: an `AesNi` is built only in `run_aes_ni`, on a CPU with AES-NI.
            unsafe { encrypt_aes_ni(&self.0, part) }
        }
    }
}

/// [`PIPELINE`] blocks (exactly), each round applied to all before the next.
#[inline]
#[target_feature(enable = "aes,sse2")]
unsafe fn encrypt_aes_ni(keys: &[__m128i; 11], blocks: &mut [Lane]) {
    let mut v = [_mm_setzero_si128(); PIPELINE];
    for (v, b) in v.iter_mut().zip(blocks.iter()) {
        *v = _mm_xor_si128(b.vector(), keys[0]);
    }
    for k in &keys[1..10] {
        for v in v.iter_mut() {
            *v = _mm_aesenc_si128(*v, *k);
        }
    }
    for (v, b) in v.iter().zip(blocks.iter_mut()) {
        *b = Lane::from_vector(_mm_aesenclast_si128(*v, keys[10]));
    }
}

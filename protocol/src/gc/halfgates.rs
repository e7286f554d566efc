//! The pure kernels of half-gates (Zahur–Rosulek–Evans, EUROCRYPT 2015, fig. 2): one AND's
//! ciphertexts and output label from hashes computed elsewhere (batched), and the tweaks.
//!
//! Notation of the paper, in snake_case: `A₀ = a0`, `A₁ = a0 ⊕ Δ`, `p_a = lsb(A₀)`; the
//! AND with global index `j` hashes the `a` side with tweak `2j` and the `b` side with
//! tweak `2j + 1`. Distinct tweaks for the two halves matter: with one tweak, `and(x, x)`
//! gives `T_G ⊕ T_E = p_a·Δ ⊕ A₀`, and an evaluator holding `A₀` or `A₁` reads off `Δ`.

#[cfg(test)]
use crate::block::Block;
use crate::simd::Lane;

/// Bytes of one AND's table: `T_G` then `T_E`, 16 little-endian bytes each.
pub const AND_TABLE_BYTES: usize = 32;

/// The top tweak bit marks the output-share domain; AND tweaks stay below `2^65`.
const OUTPUT_DOMAIN: u128 = 1 << 127;

/// The tweak of half `half` (0: garbler half, hashing the `a` labels; 1: evaluator half,
/// hashing the `b` labels) of the AND with global index `j`: `2j + half`.
#[inline(always)]
pub(crate) fn and_tweak(j: u64, half: u64) -> Lane {
    Lane::tweak(j, half & 1)
}

/// Both tweaks `(2j, 2j + 1)` of the AND with global index `j`, as blocks.
#[cfg(test)]
pub(crate) fn and_tweaks(j: u64) -> (Block, Block) {
    (Block::from(and_tweak(j, 0)), Block::from(and_tweak(j, 1)))
}

/// The tweak of the output-share ciphertext with global index `c`, disjoint from every
/// AND tweak.
#[inline(always)]
pub(crate) fn output_tweak(c: u64) -> u128 {
    OUTPUT_DOMAIN | u128::from(c)
}

/// Garbles one AND from its four hashes
/// `h = [H(A₀, 2j), H(A₁, 2j), H(B₀, 2j + 1), H(B₁, 2j + 1)]`.
/// Returns the output 0-label `C₀` and the table `[T_G, T_E]`.
#[inline(always)]
pub(crate) fn garble_and(a0: Lane, b0: Lane, delta: Lane, h: &[Lane; 4]) -> (Lane, [Lane; 2]) {
    // Garbler half: T_G = H(A₀) ⊕ H(A₁) ⊕ p_b·Δ, W_G₀ = H(A₀) ⊕ p_a·T_G.
    let t_g = h[0] ^ h[1] ^ delta.select_by(b0);
    let w_g = h[0] ^ t_g.select_by(a0);
    // Evaluator half: T_E = H(B₀) ⊕ H(B₁) ⊕ A₀, W_E₀ = H(B₀) ⊕ p_b·(T_E ⊕ A₀).
    let t_e = h[2] ^ h[3] ^ a0;
    let w_e = h[2] ^ (t_e ^ a0).select_by(b0);
    (w_g ^ w_e, [t_g, t_e])
}

/// Evaluates one AND from the active labels `a`, `b`, their hashes
/// `h = [H(A, 2j), H(B, 2j + 1)]` and the table `[T_G, T_E]`: returns the active output label.
#[inline(always)]
pub(crate) fn evaluate_and(a: Lane, b: Lane, h: &[Lane; 2], table: &[Lane; 2]) -> Lane {
    // W_G = H(A) ⊕ s_a·T_G, W_E = H(B) ⊕ s_b·(T_E ⊕ A).
    let w_g = h[0] ^ table[0].select_by(a);
    let w_e = h[1] ^ (table[1] ^ a).select_by(b);
    w_g ^ w_e
}

/// [`garble_and`] on blocks, for tests that rebuild tables.
#[cfg(test)]
pub(crate) fn garble_and_blocks(
    a0: Block,
    b0: Block,
    delta: Block,
    h: &[Block; 4],
) -> (Block, [Block; 2]) {
    let (c0, t) = garble_and(a0.into(), b0.into(), delta.into(), &h.map(Lane::from));
    (c0.into(), t.map(Block::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::hash::{HashKey, Tccr};
    use crate::prg::{Prg, Seed};
    use rand_core::RngCore;

    fn block(rng: &mut Prg) -> Block {
        Block(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()))
    }

    #[test]
    fn every_input_pair_decodes_to_the_and() {
        let mut rng = Prg::new(Seed([5; 16]));
        let hash = Tccr::new(&HashKey::random(&mut rng));
        for j in 0..64u64 {
            let delta = Block(block(&mut rng).0 | 1);
            let (a0, b0) = (block(&mut rng), block(&mut rng));
            let (ta, tb) = and_tweaks(j);
            let h = [
                hash.hash(a0, ta),
                hash.hash(a0 ^ delta, ta),
                hash.hash(b0, tb),
                hash.hash(b0 ^ delta, tb),
            ];
            let (c0, table) = garble_and(a0.into(), b0.into(), delta.into(), &h.map(Lane::from));
            for (x, y) in [(false, false), (false, true), (true, false), (true, true)] {
                let (a, b) = (a0 ^ delta.select(x), b0 ^ delta.select(y));
                let hv = [hash.hash(a, ta), hash.hash(b, tb)].map(Lane::from);
                let c = evaluate_and(a.into(), b.into(), &hv, &table);
                assert_eq!(Block::from(c), Block::from(c0) ^ delta.select(x & y));
            }
        }
    }

    #[test]
    fn tweaks_are_distinct_and_domains_disjoint() {
        let mut seen = std::collections::HashSet::new();
        for j in [0u64, 1, 2, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            let (a, b) = and_tweaks(j);
            assert_eq!(b.0, a.0 + 1);
            assert!(seen.insert(a.0) && seen.insert(b.0));
            assert!(a.0 < 1 << 65 && b.0 < 1 << 65);
        }
        for c in [0u64, 1, u64::MAX] {
            assert!(seen.insert(output_tweak(c)));
        }
    }
}

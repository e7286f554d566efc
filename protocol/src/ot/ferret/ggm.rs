//! Single-point correlated OT from a GGM tree (Ferret's SPCOT, semi-honest).
//!
//! The sender grows a tree of 2^h leaves from one random seed and tells the receiver, level
//! by level, the XOR of all left children and of all right children, each masked by one
//! correlated OT. The receiver's choice bit at level ℓ picks the side it learns, and so the
//! sibling of the path to its hidden leaf α; it rebuilds every leaf but α. With the
//! sender's ψ = Δ ⊕ (XOR of all leaves) it also gets leaf α ⊕ Δ. So the sender holds s and
//! the receiver s ⊕ e_α·Δ: a COT whose choice vector is the unit vector at α, for h COTs
//! and 32h + 16 bytes.
//!
//! Layout: a level of m nodes lives in `nodes[..m]`; node i's children are `2m`-level nodes
//! i (left) and m + i (right), so a leaf's index holds the path's choices from the root
//! in its bits, low bit first. Every leaf's low bit is cleared, so that a receiver's block
//! carries its choice bit in its own low bit (Δ has low bit 1).

use crate::block::Block;
use crate::simd::Aes;

/// Low bit cleared.
pub(crate) const NO_LSB: Block = Block(!1);

/// The two fixed-key AES permutations of the tree's PRG: child_b(x) = π_b(x) ⊕ x.
pub(super) struct TreePrg {
    aes: [Aes; 2],
    scratch: Vec<Block>,
}

impl TreePrg {
    /// The PRG under two public keys (nothing-up-my-sleeve: the digits of e).
    pub(super) fn new() -> Self {
        TreePrg {
            aes: [
                Aes::new(Block(0x2B7E_1516_28AE_D2A6_ABF7_1588_09CF_4F3C)),
                Aes::new(Block(0xB7E1_5162_8AED_2A6A_BF71_5880_9CF4_F3C7)),
            ],
            scratch: Vec::new(),
        }
    }

    /// Grows level `nodes[..m]` into `nodes[..2m]` and returns the XOR of the left and of
    /// the right children.
    fn grow(&mut self, nodes: &mut [Block], m: usize) -> [Block; 2] {
        self.scratch.clear();
        self.scratch.extend_from_slice(&nodes[..m]);
        let (left, right) = nodes[..2 * m].split_at_mut(m);
        right.copy_from_slice(&self.scratch);
        self.aes[0].encrypt_blocks(left);
        self.aes[1].encrypt_blocks(right);
        let mut sums = [Block::ZERO; 2];
        for ((l, r), p) in left.iter_mut().zip(right.iter_mut()).zip(&self.scratch) {
            *l ^= *p;
            *r ^= *p;
            sums[0] ^= *l;
            sums[1] ^= *r;
        }
        sums
    }

    /// The sender's tree from `seed`: writes the 2^h leaves into `leaves` (low bits
    /// cleared) and returns the per-level sums [K0_ℓ, K1_ℓ], root first, and the XOR of the
    /// leaves.
    pub(super) fn sender_tree(
        &mut self,
        seed: Block,
        leaves: &mut [Block],
        sums: &mut Vec<[Block; 2]>,
    ) -> Block {
        sums.clear();
        leaves[0] = seed;
        let mut m = 1;
        while m < leaves.len() {
            sums.push(self.grow(leaves, m));
            m *= 2;
        }
        let mut all = Block::ZERO;
        for l in leaves.iter_mut() {
            *l = *l & NO_LSB;
            all ^= *l;
        }
        all
    }

    /// The receiver's tree: `learned[ℓ]` is the sum of the side `side[ℓ]` at level ℓ + 1
    /// (the sibling side of its path), `psi` the sender's Δ ⊕ (XOR of the leaves). Writes
    /// every leaf into `leaves`, leaf α as s_α ⊕ Δ, and returns α.
    pub(super) fn receiver_tree(
        &mut self,
        learned: &[Block],
        side: &[bool],
        psi: Block,
        leaves: &mut [Block],
    ) -> usize {
        let mut alpha = 0usize;
        let mut m = 1;
        leaves[0] = Block::ZERO;
        for (&k, &b) in learned.iter().zip(side) {
            let sums = self.grow(leaves, m);
            // The path's parent was a placeholder: both its children are wrong.
            let sibling = alpha + usize::from(b) * m;
            let path = alpha + usize::from(!b) * m;
            let wrong = leaves[sibling];
            leaves[sibling] = k ^ sums[usize::from(b)] ^ wrong;
            leaves[path] = Block::ZERO;
            alpha = path;
            m *= 2;
        }
        let mut others = Block::ZERO;
        for (i, l) in leaves.iter_mut().enumerate() {
            *l = *l & NO_LSB;
            if i != alpha {
                others ^= *l;
            }
        }
        leaves[alpha] = psi ^ others;
        alpha
    }
}

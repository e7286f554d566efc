//! AES-128 on the CPU's AES instructions, several blocks per instruction where it can:
//! the one module of this crate allowed `unsafe` code.
//!
//! Garbling costs eight AES calls per AND and evaluating four, so the AES rate bounds
//! both. The `aes` crate pipelines eight blocks per call through AES-NI (~520 M blocks/s
//! on one core here); VAES, with AVX-512, encrypts four blocks per instruction
//! (~1.1 G blocks/s). [`Aes`] picks the widest the CPU has, once, when it is keyed.
//!
//! # How a caller uses it
//! [`Aes::run`] hands a [`Kernel`] (a loop over a whole batch) a [`Cipher`] that encrypts
//! [`WIDTH`] blocks at a time. The kernel runs inside a function compiled for the
//! detected instructions, so each [`Cipher::encrypt`] inlines down to them, with no call
//! and no dispatch per group. [`Aes::encrypt_blocks`] is the same over a slice.
//!
//! # Safety
//! The `unsafe` code here does two things only: it calls `core::arch` intrinsics in
//! functions that run only on a CPU where `is_x86_feature_detected!` found the
//! instructions they use (an [`Aes`] records what was found, and [`Aes::run`] is the only
//! dispatcher), and it loads and stores blocks with unaligned vector moves from arrays of
//! [`Block`] (`repr(transparent)` over `u128`), in bounds by construction.
#![allow(unsafe_code)]

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;

use crate::block::Block;

mod lane;
#[cfg(target_arch = "x86_64")]
mod x86;

pub(crate) use lane::Lane;

/// Blocks per [`Cipher::encrypt`] call: eight 512-bit vectors of four blocks, enough
/// independent work to hide the AES instructions' latency.
pub(crate) const WIDTH: usize = 32;

/// AES-128 under one key, on the widest AES instructions of this CPU.
#[derive(Clone)]
pub(crate) struct Aes {
    keys: Keys,
}

/// The expanded key in the form its path uses; the variant is the path.
#[derive(Clone)]
enum Keys {
    /// The eleven round keys, for VAES.
    #[cfg(target_arch = "x86_64")]
    Vaes([Block; 11]),
    /// The eleven round keys, for AES-NI.
    #[cfg(target_arch = "x86_64")]
    AesNi([Block; 11]),
    /// The `aes` crate's cipher: the path of CPUs without AES instructions.
    Portable(Box<Aes128Enc>),
}

/// The instructions an [`Aes`] runs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Isa {
    /// VAES with AVX-512: four blocks per instruction.
    Vaes,
    /// AES-NI: one block per instruction, pipelined.
    AesNi,
    /// The `aes` crate's choice (its own AES-NI or constant-time software).
    Portable,
}

impl Isa {
    /// The widest this CPU has.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if x86::has_vaes() {
                return Isa::Vaes;
            }
            if x86::has_aes_ni() {
                return Isa::AesNi;
            }
        }
        Isa::Portable
    }

    /// Every path this CPU can run, widest first (tests compare them).
    #[cfg(test)]
    pub fn available() -> Vec<Isa> {
        let all = [Isa::Vaes, Isa::AesNi, Isa::Portable];
        let from = all.iter().position(|i| *i == Isa::detect()).unwrap_or(2);
        all[from..].to_vec()
    }
}

/// AES-128 on [`WIDTH`] blocks at a time, handed to a [`Kernel`] by [`Aes::run`].
pub(crate) trait Cipher {
    /// Encrypts the blocks in place (each block's 16 little-endian bytes, as FIPS-197).
    fn encrypt(&self, blocks: &mut [Lane; WIDTH]);
}

/// A loop that encrypts through a [`Cipher`].
pub(crate) trait Kernel {
    /// Runs the loop.
    fn run(self, aes: &impl Cipher);
}

impl Aes {
    /// The cipher keyed by `key` (16 little-endian bytes), on this CPU's widest path.
    pub fn new(key: Block) -> Aes {
        Aes::with(Isa::detect(), key)
    }

    /// The cipher keyed by `key` on the path `isa`, which must be one this CPU has (a test
    /// asking for another is refused here, before any instruction it lacks can run).
    #[cfg(test)]
    pub fn on(isa: Isa, key: Block) -> Aes {
        assert!(
            Isa::available().contains(&isa),
            "{isa:?} is not on this CPU"
        );
        Aes::with(isa, key)
    }

    /// `isa` comes from [`Isa::detect`] (or a test's check of [`Isa::available`]): the
    /// safety of [`Aes::run`] rests on it.
    fn with(isa: Isa, key: Block) -> Aes {
        let keys = match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: both vector paths are chosen only where AES-NI was found.
            Isa::Vaes => Keys::Vaes(unsafe { x86::expand(key) }),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::AesNi => Keys::AesNi(unsafe { x86::expand(key) }),
            _ => Keys::Portable(Box::new(Aes128Enc::new(&key.to_bytes().into()))),
        };
        Aes { keys }
    }

    /// The path this cipher runs on.
    fn isa(&self) -> Isa {
        match self.keys {
            #[cfg(target_arch = "x86_64")]
            Keys::Vaes(_) => Isa::Vaes,
            #[cfg(target_arch = "x86_64")]
            Keys::AesNi(_) => Isa::AesNi,
            Keys::Portable(_) => Isa::Portable,
        }
    }

    /// Runs `kernel` with the cipher in hand.
    pub fn run<K: Kernel>(&self, kernel: K) {
        match &self.keys {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Keys::Vaes` is built only where `has_vaes` found VAES and AVX-512F.
            Keys::Vaes(round_keys) => unsafe { x86::run_vaes(round_keys, kernel) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Keys::AesNi` is built only where `has_aes_ni` found AES-NI.
            Keys::AesNi(round_keys) => unsafe { x86::run_aes_ni(round_keys, kernel) },
            Keys::Portable(cipher) => kernel.run(&Portable(cipher)),
        }
    }

    /// Encrypts every block of `blocks` in place.
    pub fn encrypt_blocks(&self, blocks: &mut [Block]) {
        self.run(Slice(blocks));
    }

    /// The encryption of one block (tests and single blocks).
    pub fn encrypt(&self, block: Block) -> Block {
        let mut one = [block];
        self.encrypt_blocks(&mut one);
        one[0]
    }
}

impl std::fmt::Debug for Aes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key may be secret (a PRG seed): show only the path.
        f.debug_struct("Aes")
            .field("isa", &self.isa())
            .finish_non_exhaustive()
    }
}

/// The `aes` crate as a [`Cipher`].
struct Portable<'a>(&'a Aes128Enc);

impl Cipher for Portable<'_> {
    fn encrypt(&self, blocks: &mut [Lane; WIDTH]) {
        let mut bytes = blocks.map(|b| aes::Block::from(Block::from(b).to_bytes()));
        self.0.encrypt_blocks(&mut bytes);
        for (b, e) in blocks.iter_mut().zip(bytes) {
            *b = Lane::from(Block::from_bytes(e.into()));
        }
    }
}

/// [`Aes::encrypt_blocks`] as a kernel.
struct Slice<'a>(&'a mut [Block]);

impl Kernel for Slice<'_> {
    #[inline(always)]
    fn run(self, aes: &impl Cipher) {
        for group in self.0.chunks_mut(WIDTH) {
            // A short last group encrypts zeros in its empty slots and drops them.
            let mut lanes = [Lane::zero(); WIDTH];
            for (l, b) in lanes.iter_mut().zip(group.iter()) {
                *l = Lane::from(*b);
            }
            aes.encrypt(&mut lanes);
            for (b, l) in group.iter_mut().zip(lanes) {
                *b = Block::from(l);
            }
        }
    }
}

#[cfg(test)]
mod tests;

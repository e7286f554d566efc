//! Seeds and pseudo-random generators.
//!
//! Every secret share and every piece of correlated randomness comes from a [`Prg`]
//! keyed by a [`Seed`] that itself comes from the operating system's CSPRNG. A 16-byte
//! seed is what seed compression sends in place of a party's whole share.

use rand_chacha::ChaCha12Rng;
use rand_core::{CryptoRng, OsRng, RngCore, SeedableRng};

use crate::ring::Ring;

/// A 128-bit PRG seed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub [u8; 16]);

impl Seed {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn random() -> Self {
        let mut s = [0u8; 16];
        OsRng.fill_bytes(&mut s);
        Seed(s)
    }

    /// A fresh seed drawn from `rng`.
    pub fn from_rng<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut s = [0u8; 16];
        rng.fill_bytes(&mut s);
        Seed(s)
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A seed is a secret: never print it.
        f.write_str("Seed(..)")
    }
}

/// ChaCha12 keyed by a 128-bit seed (the key's other half is zero).
pub struct Prg(ChaCha12Rng);

impl Prg {
    /// The generator that `seed` names.
    pub fn new(seed: Seed) -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&seed.0);
        Prg(ChaCha12Rng::from_seed(key))
    }

    /// A generator seeded from the operating system.
    pub fn from_os() -> Self {
        Prg::new(Seed::random())
    }

    /// A child generator seeded from this one, for work handed to another party or thread:
    /// a whole run still replays from the one seed at the top.
    pub fn split(&mut self) -> Prg {
        Prg::new(Seed::from_rng(self))
    }

    /// `n` uniform ring elements.
    pub fn ring_vec(&mut self, n: usize) -> Vec<Ring> {
        (0..n).map(|_| self.0.next_u64()).collect()
    }

    /// `words` uniform 64-bit words of packed bits.
    pub fn words(&mut self, words: usize) -> Vec<u64> {
        (0..words).map(|_| self.0.next_u64()).collect()
    }
}

impl RngCore for Prg {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl CryptoRng for Prg {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let s = Seed([7; 16]);
        assert_eq!(Prg::new(s).ring_vec(8), Prg::new(s).ring_vec(8));
        assert_ne!(Prg::new(s).ring_vec(8), Prg::new(Seed([8; 16])).ring_vec(8));
    }

    #[test]
    fn os_seeds_differ_and_do_not_print() {
        let (a, b) = (Seed::random(), Seed::random());
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Seed(..)");
    }
}

//! Additive two-party secret sharing over Z_{2^64}.
//!
//! `x = x_server + x_client (mod 2^64)`: each share alone is uniform and says nothing
//! about `x`.

use rand_core::{CryptoRng, RngCore};

use crate::ring::Ring;

/// Which of the two computing parties: the server holds the weights (party 0), the client
/// holds the input (party 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The model owner, party 0.
    Server,
    /// The input owner, party 1.
    Client,
}

impl Role {
    /// The party that adds public constants to its share (by convention the server).
    pub fn adds_constants(self) -> bool {
        self == Role::Server
    }
}

/// Splits `x` into two uniformly random shares that sum to it.
pub fn split<R: RngCore + CryptoRng>(x: &[Ring], rng: &mut R) -> (Vec<Ring>, Vec<Ring>) {
    let a: Vec<Ring> = (0..x.len()).map(|_| rng.next_u64()).collect();
    let b = x.iter().zip(&a).map(|(x, a)| x.wrapping_sub(*a)).collect();
    (a, b)
}

/// Adds two share vectors: reconstruction, or adding public values.
pub fn add(a: &[Ring], b: &[Ring]) -> Vec<Ring> {
    a.iter().zip(b).map(|(a, b)| a.wrapping_add(*b)).collect()
}

/// `a − b` elementwise.
pub fn sub(a: &[Ring], b: &[Ring]) -> Vec<Ring> {
    a.iter().zip(b).map(|(a, b)| a.wrapping_sub(*b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prg::{Prg, Seed};

    #[test]
    fn shares_reconstruct_and_each_looks_random() {
        let mut rng = Prg::new(Seed([1; 16]));
        let x = vec![0, 1, u64::MAX, 42];
        let (a, b) = split(&x, &mut rng);
        assert_eq!(add(&a, &b), x);
        assert_eq!(sub(&add(&a, &b), &b), a);
        // Sharing the same secret twice gives unrelated shares.
        let (a2, _) = split(&x, &mut rng);
        assert_ne!(a, a2);
    }
}

//! Additively homomorphic encryption from Ring-LWE for the linear layers' material without a
//! dealer, as Cheetah does it (Huang et al., USENIX Security 2022): per query and linear
//! layer, the client encrypts its fresh mask V under its own key, the server multiplies by
//! its weights W laid out in polynomial coefficients, and each party ends with an additive
//! share of `W·V` modulo what the layer's consumer reads (`2^64`, or `2^k` before a ReLU),
//! bit-exact. The online phase is the dealer path's; only the material's source changes.
//!
//! - [`params`]: ring degree, modulus, noise, plaintext widths, flooding, and the derivation
//!   that every coefficient decrypts exactly at 128-bit security (checked by tests);
//! - `arith`, `ntt`, `poly`: arithmetic modulo the three 54-bit primes, their negacyclic
//!   NTTs, and polynomials in RNS form (written here: `fhe-math` measured no faster, pulls
//!   in `tfhe-ntt` under a patent clause, and takes no plaintext modulus of `2^64`);
//! - [`rlwe`]: keys, seeded encryption (half a ciphertext on the wire), the server's
//!   product, re-randomisation, flooding and modulus switch, and decryption;
//! - `layout`: where a dense or convolution layer's input, kernels and outputs sit in the
//!   coefficients, packing kernels when a block leaves room;
//! - [`exchange`]: one layer's round trip over a [`crate::channel::Link`], its byte count,
//!   and the load-time check that a model's weights fit the parameters ([`weights_fit`]);
//! - `wire`: bit-packed coefficients and their checked decoding.

mod arith;
#[cfg(test)]
mod definition;
pub mod exchange;
pub(crate) mod layout;
mod ntt;
pub mod params;
mod poly;
pub mod rlwe;
mod wire;

pub use exchange::{weights_fit, PUBLIC_KEY_BYTES};

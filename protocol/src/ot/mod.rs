//! Oblivious transfer: 128 base OTs, then IKNP OT extension with the ALSZ optimisations,
//! and on it silent OT ([`ferret`]) and pools of correlated OTs made ahead ([`pool`]),
//! which is how the dealer-free session spends them.
//!
//! veil uses OT where no dealer is trusted: the client fetches its garbled-circuit input
//! labels by correlated OT (x0 = label for 0, x1 = x0 ⊕ Δ with the garbling Δ), and AND or
//! arithmetic triples come from random and correlated OT (GMW, Gilboa). Security is
//! semi-honest (DESIGN.md): both parties follow the protocol and try to learn more from
//! what they see.
//!
//! # Message flow
//! S is the extension sender (the garbler: holds Δ), R the extension receiver (holds the
//! choice bits). Set-up runs base OTs with the roles reversed ([`base`]):
//! ```text
//! R (base sender)                       S (base receiver, choices = bits of Δ)
//!   A = a·G                ── 32 B ──▶
//!                          ◀── 128 · 32 B ── B_i = b_i·G + Δ_i·A
//!   seeds (k^i_0, k^i_1)                  seeds k^i_{Δ_i}
//! ```
//! Each extension call of n OTs (m = n rounded up to 128) ([`iknp`]):
//! ```text
//! R: u^i = G(k^i_0) ⊕ G(k^i_1) ⊕ r  ── 16m B, ⌈n / 16384⌉ frames ──▶ S
//!    t_j (rows of G(k^i_0))              q_j = t_j ⊕ r_j·Δ
//! [send_correlated_with only]  ◀── d_j = H(j, q_j) ⊕ H(j, q_j ⊕ Δ) ⊕ Δ', 16n B
//! ```
//!
//! # Who learns what
//! - Base OT: the sender learns nothing of the choices (B_i is uniform either way); the
//!   receiver learns one key per OT, the other would need CDH (random-oracle model).
//! - Extension: S sees only u, which hides r under G(k^i_{1−Δ_i}), a PRG output it cannot
//!   compute; S's outputs and Δ reveal nothing of r. R sees only its own t_j = x{r_j}_j (and
//!   for `*_with`, the corrections d_j, masked by the hash of q_j ⊕ r̄_j·Δ it cannot
//!   compute): x{1−r_j}_j = t_j ⊕ Δ stays hidden because Δ does. Random OTs are hashed with
//!   a correlation-robust hash ([`aes_prg::CrHash`]) so that they are independent.
//!
//! # Cost per call (payload bytes; rounds as CONTRACT.md counts them)
//! | call | R → S | S → R | flights |
//! |---|---|---|---|
//! | `setup` (both) | 32 | 4,096 | 2 (one round trip) |
//! | `{send,receive}_correlated` | 16 · ⌈n/128⌉ · 128 | 0 | 1 |
//! | `{send,receive}_random` | 16 · ⌈n/128⌉ · 128 | 0 | 1 |
//! | `{send,receive}_correlated_with` | 16 · ⌈n/128⌉ · 128 | 16n | 2 · ⌈n / 2^20⌉ |
//!
//! One-flight calls in a row add no round on the deeper clock: the receiver never waits.
//! [`base::send`]/[`base::receive`] alone: 32 B and 32n B, one round trip.
//! Computation: R runs 2 AES per OT (two PRG streams), S 1; both transpose one 128 × m bit
//! matrix; random OT adds 1 hash (1 AES) per OT at R and 2 at S. Base OTs: S does one
//! variable-base scalar multiplication per OT, R one fixed-base and one table-based.
//!
//! # Known subtleties
//! - Chou–Orlandi (2015) claimed UC security against malicious parties, but the proof has
//!   gaps: the simulator cannot always extract a malicious receiver's choice, and B_i can
//!   be chosen after seeing A (Genç–Iovino–Rial 2017; Byali–Patra–Ravi–Sarkar 2017;
//!   Hauck–Loss 2017 repair it under stronger assumptions). For semi-honest parties it
//!   is secure under CDH in the random-oracle model. One ePrint version also derives the
//!   keys without the OT's index, so repeated receiver randomness would repeat keys. We
//!   hash the whole transcript of each OT (index, A, B_i) into its key, work in the
//!   prime-order ristretto255 group (no small-subgroup points) and refuse invalid
//!   encodings and A = identity.
//! - Plain IKNP is semi-honest only: a flipped bit in u goes unnoticed and silently
//!   changes one OT (tests show it). Malicious security needs the KOS (2015) consistency
//!   check and a TCCR hash; veil does not need them.
//! - Using the raw q_j as correlated OT (no hash) is the standard global-Δ correlated OT
//!   (as in EMP and free-XOR garbling): the pairs share one Δ, exactly what half-gates
//!   labels need, and nothing else should use them as independent random strings.
//! - Both parties must ask for the same n in the same order; a mismatch is detected as a
//!   wrong-length message, and any failed call leaves the instance refusing further calls.
//!
//! # References
//! Chou, Orlandi, "The Simplest Protocol for Oblivious Transfer", Latincrypt 2015;
//! Ishai, Kilian, Nissim, Petrank, "Extending Oblivious Transfers Efficiently", Crypto 2003;
//! Asharov, Lindell, Schneider, Zohner, "More Efficient Oblivious Transfer and Extensions
//! for Faster Secure Computation", CCS 2013; Guo, Katz, Wang, Yu, "Efficient and Secure
//! Multiparty Computation from Fixed-Key Block Ciphers", S&P 2020.

pub mod aes_prg;
pub mod base;
pub mod ferret;
pub mod iknp;
pub mod pool;
pub mod transpose;

pub use iknp::{matrix_bytes, messages, padded, CotReceiver, CotSender, CHUNK_OTS, FLIGHT_OTS};
pub use pool::{PoolReceiver, PoolSender};

#[cfg(test)]
mod tests;

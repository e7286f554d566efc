//! Base OTs: Chou–Orlandi "simplest OT" on ristretto255, as random OT.
//!
//! ```text
//! sender                                        receiver (choices c_1..c_n)
//! a ← Z_ℓ, A = a·G          ── A (32 B) ──▶
//!                                               b_i ← Z_ℓ, B_i = b_i·G + c_i·A
//!                           ◀── B_1..B_n (32n B) ──
//! k0_i = H(i, A, B_i, a·B_i)                    k_i = H(i, A, B_i, b_i·A)
//! k1_i = H(i, A, B_i, a·B_i − a·A)                  (= k{c_i}_i)
//! ```
//!
//! One message each way, `32 + 32n` bytes, one round trip. H is SHA-256 over a domain tag,
//! the index and the whole transcript of that OT, cut to 128 bits; hashing A and B_i in
//! (not the shared point alone) is the fix for the gap in the original proof
//! (Genç–Iovino–Rial 2017, Hauck–Loss 2017). Semi-honest security rests on CDH in the
//! random-oracle model: the sender sees B_i, which is uniform whatever c_i; the receiver
//! would need a·(B_i − A) or a·B_i for the other key, i.e. CDH(A, ·).
//!
//! Constant time: the receiver's choice picks between the encodings of b_i·G and
//! b_i·G + A with a byte mask, never a branch (`subtle`'s `ConditionallySelectable` is not
//! reachable from here: `subtle` is not a direct dependency of this crate). Both
//! candidates are computed and encoded for every OT.
//!
//! Speed: the encodings come from `double_and_compress_batch` (one field inversion per
//! batch instead of one inverse square root per point), so each party works with half
//! its scalars, x/2, and encodes 2·(x/2 · P) = x·P. Every fixed-base multiplication
//! (b_i·G, and (a/2)·A = (a²/2)·G) goes through a precomputed table. The per-OT work of
//! each step (the receiver's reply, the sender's keys, the receiver's keys) is split into
//! contiguous ranges across up to `available_parallelism` scoped threads; messages, keys
//! and the order of random draws are the same as on one thread.
//!
//! Every point from the peer is decompressed and checked: a non-canonical encoding, or
//! A = identity, is a [`DecodeError::Invalid`].

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::OnceLock;

use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::codec::{DecodeError, Reader};
use crate::error::ProtocolError;

/// Bytes of one encoded point.
pub const POINT_BYTES: usize = 32;

/// Domain separation for the key derivation.
const KDF_TAG: &[u8] = b"veil/ot/base/chou-orlandi/ristretto255/v1";

/// Runs `n` random base OTs as the sender: returns `(k0_i, k1_i)` for each. The receiver
/// learns exactly one key of each pair, the sender learns nothing of the choices.
/// Sends 32 bytes, receives `32n`; one round trip.
pub fn send<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    rng: &mut (impl RngCore + CryptoRng),
    n: usize,
) -> Result<Vec<(Block, Block)>, ProtocolError> {
    let (state, msg) = Sender::start(rng);
    ch.send(&msg)?;
    let reply = ch.recv()?;
    Ok(state.finish(&reply, n)?)
}

/// Runs random base OTs as the receiver with `choices`: returns `k{c_i}_i` for each.
/// Receives 32 bytes, sends `32 · choices.len()`; one round trip.
pub fn receive<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    rng: &mut (impl RngCore + CryptoRng),
    choices: &[bool],
) -> Result<Vec<Block>, ProtocolError> {
    let msg = ch.recv()?;
    let (state, reply) = Receiver::respond(rng, &msg, choices)?;
    ch.send(&reply)?;
    Ok(state.keys())
}

/// The sender between its message and the receiver's reply (a pure kernel: no I/O).
pub struct Sender {
    /// a/2 (the encodings double).
    half_a: Scalar,
    /// A, encoded.
    a_enc: [u8; POINT_BYTES],
    /// (a/2)·A.
    half_a_big_a: RistrettoPoint,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("base::Sender(..)")
    }
}

impl Sender {
    /// Draws a and returns the state and the first message, A (32 bytes).
    pub fn start(rng: &mut (impl RngCore + CryptoRng)) -> (Sender, Vec<u8>) {
        let a = Scalar::random(rng);
        let big_a = &a * RISTRETTO_BASEPOINT_TABLE;
        let half_a = a * half();
        let a_enc = big_a.compress().to_bytes();
        let state = Sender {
            half_a,
            a_enc,
            // (a/2)·A = (a²/2)·G: a table multiplication, not a variable-base one.
            half_a_big_a: &(a * half_a) * RISTRETTO_BASEPOINT_TABLE,
        };
        (state, a_enc.to_vec())
    }

    /// Parses the receiver's `n` points and derives both keys of every OT.
    pub fn finish(self, reply: &[u8], n: usize) -> Result<Vec<(Block, Block)>, DecodeError> {
        let mut r = Reader::new(reply);
        let encs = r.take(n.saturating_mul(POINT_BYTES), "base OT points")?;
        r.finish()?;
        // Each worker decompresses, multiplies, encodes and hashes its own range of OTs.
        let per_ot = in_parallel(n, |range| -> Result<Vec<(Block, Block)>, DecodeError> {
            let mut shared = Vec::with_capacity(2 * range.len());
            for i in range.clone() {
                let b = decompress(point(encs, i), "base OT receiver point", i)?;
                let y0 = b * self.half_a; // a·B_i / 2
                shared.push(y0);
                shared.push(y0 - self.half_a_big_a); // (a·B_i − a·A) / 2
            }
            let shared = RistrettoPoint::double_and_compress_batch(&shared);
            Ok(range
                .zip(shared.chunks_exact(2))
                .map(|(i, p)| {
                    let b = point(encs, i);
                    (
                        kdf(i, &self.a_enc, b, p[0].as_bytes()),
                        kdf(i, &self.a_enc, b, p[1].as_bytes()),
                    )
                })
                .collect())
        });
        // Per range in order, so the first bad point reported is the first in the reply.
        let mut keys = Vec::with_capacity(n);
        for part in per_ot {
            keys.extend(part?);
        }
        Ok(keys)
    }
}

/// The receiver after its reply (a pure kernel: no I/O). It sends B_1..B_n before it
/// derives its own keys, so that work overlaps the sender's.
pub struct Receiver {
    a_enc: [u8; POINT_BYTES],
    big_a: RistrettoPoint,
    /// b_i / 2 (the encodings double).
    half_b: Vec<Scalar>,
    /// B_i, encoded.
    b_enc: Vec<[u8; POINT_BYTES]>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("base::Receiver(..)")
    }
}

impl Receiver {
    /// Parses the sender's A and returns the state and the reply B_1..B_n (`32n` bytes),
    /// B_i = b_i·G + c_i·A.
    pub fn respond(
        rng: &mut (impl RngCore + CryptoRng),
        msg: &[u8],
        choices: &[bool],
    ) -> Result<(Receiver, Vec<u8>), DecodeError> {
        let a_enc = read_sender_point(msg)?;
        let big_a = decompress(&a_enc, "base OT sender point", 0)?;
        if big_a == RistrettoPoint::identity() {
            return Err(DecodeError::Invalid {
                what: "base OT sender point",
                detail: "A is the identity".into(),
            });
        }
        // A/2: the scalar 1/2 and A are public, so a variable-time multiplication is fine.
        let half_big_a =
            RistrettoPoint::vartime_double_scalar_mul_basepoint(&half(), &big_a, &Scalar::ZERO);
        let half_b: Vec<Scalar> = choices.iter().map(|_| Scalar::random(rng)).collect();
        // Both candidates (b_i/2)·G and (b_i/2)·G + A/2 for every OT, encoded doubled.
        let b_enc: Vec<[u8; POINT_BYTES]> = in_parallel(choices.len(), |range| {
            let mut candidates = Vec::with_capacity(2 * range.len());
            for x in &half_b[range.clone()] {
                let x0 = x * RISTRETTO_BASEPOINT_TABLE;
                candidates.push(x0);
                candidates.push(x0 + half_big_a);
            }
            let encs = RistrettoPoint::double_and_compress_batch(&candidates);
            encs.chunks_exact(2)
                .zip(&choices[range])
                .map(|(e, &c)| select_bytes(e[0].as_bytes(), e[1].as_bytes(), c))
                .collect::<Vec<_>>()
        })
        .concat();
        let reply = b_enc.concat();
        let state = Receiver {
            a_enc,
            big_a,
            half_b,
            b_enc,
        };
        Ok((state, reply))
    }

    /// The chosen keys k_i = H(i, A, B_i, b_i·A).
    pub fn keys(self) -> Vec<Block> {
        let n = self.half_b.len();
        let table = (n >= TABLE_FROM).then(|| RistrettoBasepointTable::create(&self.big_a));
        in_parallel(n, |range| {
            let shared: Vec<RistrettoPoint> = match &table {
                Some(table) => self.half_b[range.clone()]
                    .iter()
                    .map(|x| x * table)
                    .collect(),
                None => self.half_b[range.clone()]
                    .iter()
                    .map(|x| self.big_a * x)
                    .collect(),
            };
            let shared = RistrettoPoint::double_and_compress_batch(&shared);
            range
                .zip(&shared)
                .map(|(i, p)| kdf(i, &self.a_enc, &self.b_enc[i], p.as_bytes()))
                .collect::<Vec<_>>()
        })
        .concat()
    }
}

/// From this many OTs on, the receiver builds a table for A (about 30 variable-base
/// multiplications' worth) to multiply by A faster.
const TABLE_FROM: usize = 48;

/// Below this many OTs per worker, splitting across threads costs more than it saves.
const MIN_PER_WORKER: usize = 16;

/// Runs `f` on `0..n` split into contiguous ranges, one per worker thread (at most the
/// available parallelism; the calling thread takes the first), and returns the results
/// in range order. Small `n` runs on the calling thread alone.
fn in_parallel<U: Send>(n: usize, f: impl Fn(Range<usize>) -> U + Sync) -> Vec<U> {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    let workers = cores.min(n / MIN_PER_WORKER).max(1);
    if workers == 1 {
        return vec![f(0..n)];
    }
    let per = n.div_ceil(workers);
    let f = &f;
    std::thread::scope(|scope| {
        let rest: Vec<_> = (per..n)
            .step_by(per)
            .map(|start| scope.spawn(move || f(start..n.min(start + per))))
            .collect();
        let mut out = Vec::with_capacity(workers);
        out.push(f(0..per));
        for h in rest {
            out.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

/// The `i`-th encoded point of a reply.
fn point(encs: &[u8], i: usize) -> &[u8] {
    &encs[i * POINT_BYTES..(i + 1) * POINT_BYTES]
}

fn read_sender_point(msg: &[u8]) -> Result<[u8; POINT_BYTES], DecodeError> {
    let mut r = Reader::new(msg);
    let a = r.array::<POINT_BYTES>("base OT sender point")?;
    r.finish()?;
    Ok(a)
}

/// 1/2 mod ℓ.
fn half() -> Scalar {
    Scalar::from(2u64).invert()
}

/// Decompresses a peer's point, refusing non-canonical or off-group encodings.
fn decompress(enc: &[u8], what: &'static str, index: usize) -> Result<RistrettoPoint, DecodeError> {
    CompressedRistretto::from_slice(enc)
        .ok()
        .and_then(|c| c.decompress())
        .ok_or_else(|| DecodeError::Invalid {
            what,
            detail: format!("point {index} is not a canonical ristretto255 encoding"),
        })
}

/// `one` if `bit`, else `zero`, with a byte mask (no branch on `bit`).
fn select_bytes(zero: &[u8; 32], one: &[u8; 32], bit: bool) -> [u8; 32] {
    let mask = std::hint::black_box(u8::from(bit)).wrapping_neg();
    let mut out = [0u8; 32];
    for ((o, z), w) in out.iter_mut().zip(zero).zip(one) {
        *o = z ^ ((z ^ w) & mask);
    }
    out
}

/// H(i, A, B_i, P): SHA-256 over the tag and the OT's transcript, first 16 bytes.
fn kdf(index: usize, a: &[u8], b: &[u8], p: &[u8]) -> Block {
    let digest = Sha256::new()
        .chain_update(KDF_TAG)
        .chain_update((index as u64).to_le_bytes())
        .chain_update(a)
        .chain_update(b)
        .chain_update(p)
        .finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&digest[..16]);
    Block::from_bytes(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha12Rng;
    use rand_core::SeedableRng;

    /// The kernels alone, no channel: keys agree on the chosen side only.
    #[test]
    fn kernels_agree_on_the_chosen_key_only() {
        let seed = rand_core::OsRng.next_u64();
        eprintln!("seed = {seed:#x}");
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        for n in [0, 1, TABLE_FROM - 1, TABLE_FROM, 100] {
            let choices: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
            let (s, msg) = Sender::start(&mut rng);
            let (r, reply) = Receiver::respond(&mut rng, &msg, &choices).unwrap();
            assert_eq!(format!("{r:?}"), "base::Receiver(..)");
            let got = r.keys();
            let pairs = s.finish(&reply, choices.len()).unwrap();
            for ((k, (k0, k1)), c) in got.iter().zip(&pairs).zip(&choices) {
                assert_eq!(k, if *c { k1 } else { k0 });
                assert_ne!(k, if *c { k0 } else { k1 });
            }
        }
    }

    /// Split across workers, a bad reply still reports its first bad point.
    #[test]
    fn the_first_bad_receiver_point_is_reported() {
        let mut rng = ChaCha12Rng::seed_from_u64(2);
        let choices = vec![true; 100];
        let (s, msg) = Sender::start(&mut rng);
        let (_, mut reply) = Receiver::respond(&mut rng, &msg, &choices).unwrap();
        for i in [70, 90] {
            reply[i * POINT_BYTES..(i + 1) * POINT_BYTES].fill(0xff);
        }
        let err = s.finish(&reply, choices.len()).unwrap_err();
        assert!(format!("{err}").contains("point 70 "), "{err}");
    }

    #[test]
    fn select_bytes_picks_by_the_bit() {
        let (z, o) = ([1u8; 32], [2u8; 32]);
        assert_eq!(select_bytes(&z, &o, false), z);
        assert_eq!(select_bytes(&z, &o, true), o);
    }

    #[test]
    fn a_malformed_or_degenerate_first_message_is_refused() {
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        let bad = [0xffu8; 32];
        let err = Receiver::respond(&mut rng, &bad, &[true]).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Invalid {
                what: "base OT sender point",
                ..
            }
        ));
        let id = RistrettoPoint::identity().compress().to_bytes();
        let err = Receiver::respond(&mut rng, &id, &[true]).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid { .. }), "{err}");
        let err = Receiver::respond(&mut rng, &bad[..31], &[true]).unwrap_err();
        assert!(matches!(err, DecodeError::Truncated { .. }));
        assert_eq!(
            format!("{:?}", Sender::start(&mut rng).0),
            "base::Sender(..)"
        );
    }
}

//! IKNP OT extension with the ALSZ optimisations: from 128 base OTs, any number of
//! correlated or random OTs at the cost of AES and 16 bytes per OT.
//!
//! Set-up (once, [`CotSender::setup`] / [`CotReceiver::setup`]): 128 base OTs with the
//! roles reversed. The extension sender picks s ∈ {0,1}^128 (the correlation Δ) and learns
//! the seeds k^i_{s_i}; the extension receiver learns both seeds k^i_0, k^i_1.
//!
//! Extension of n OTs (m = n rounded up to a multiple of 128), receiver choices r:
//! - the receiver expands every seed with the AES-CTR PRG G over m bits, keeps the
//!   columns t^i = G(k^i_0) and sends u^i = t^i ⊕ G(k^i_1) ⊕ r: 128 · m bits = 16m bytes.
//!   (ALSZ: one matrix instead of IKNP's two, base OTs on seeds, no reply needed.)
//! - the sender computes q^i = G(k^i_{s_i}) ⊕ s_i·u^i = t^i ⊕ s_i·r. Transposed into
//!   rows, q_j = t_j ⊕ r_j·s.
//!
//! So (q_j, q_j ⊕ s) is a correlated OT with the global correlation Δ = s: the receiver
//! holds t_j = q_j ⊕ r_j·Δ, the sender holds q_j and Δ. What comes out:
//! - correlated OT, [`CotSender::send_correlated`]: x0_j = q_j, x1_j = x0_j ⊕ Δ; the
//!   receiver's matrix is the only traffic. Δ is random, or fixed by the caller at set-up
//!   (`CotSender::setup_with_delta`, e.g. the garbling Δ, so the OT outputs are input
//!   labels as they are).
//! - random OT, [`CotSender::send_random`]: (H(j, q_j), H(j, q_j ⊕ Δ)), receiver
//!   H(j, t_j), with the CCR hash of [`super::aes_prg::CrHash`] and j the OT's index
//!   since set-up. Again only the receiver speaks.
//! - correlated OT with a per-call Δ', [`CotSender::send_correlated_with`]: random OT
//!   derandomised. The sender keeps x0_j = m0_j and sends d_j = m0_j ⊕ m1_j ⊕ Δ' (16
//!   bytes per OT); the receiver outputs m{r_j}_j ⊕ r_j·d_j = x{r_j}_j.
//!
//! Work is done in chunks of [`CHUNK_OTS`] OTs (one message each) in buffers reused across
//! chunks and calls. Both parties must ask for the same n; a mismatch shows up as a
//! matrix message of the wrong length ([`ProtocolError::Peer`]). Any error leaves the two
//! PRG states out of step, so the instance refuses further calls
//! ([`ProtocolError::Misuse`]): set up again.

use rand_core::{CryptoRng, RngCore};

use super::aes_prg::{AesPrg, CrHash};
use super::base;
use super::transpose::{transpose_128, ROWS};
use crate::block::Block;
use crate::channel::{Channel, ChannelError, Transport};
use crate::codec::{DecodeError, Reader};
use crate::error::ProtocolError;

/// Extended OTs per chunk, i.e. per matrix message (256 KiB of matrix).
pub const CHUNK_OTS: usize = 1 << 14;

/// At most this many OTs per flight of [`CotReceiver::receive_correlated_with`]: 16 MiB
/// of matrix one way, then 16 MiB of corrections the other (a multiple of [`CHUNK_OTS`]).
pub const FLIGHT_OTS: usize = 64 * CHUNK_OTS;

/// Base OTs at set-up: the security parameter κ.
pub const BASE_OTS: usize = ROWS;

/// OTs actually extended when `n` are asked for: `n` rounded up to a multiple of 128.
pub fn padded(n: usize) -> usize {
    n.div_ceil(ROWS) * ROWS
}

/// Bytes the receiver sends to extend `n` OTs: `16 · padded(n)`.
pub fn matrix_bytes(n: usize) -> usize {
    16 * padded(n)
}

/// Messages per extension call (each way that speaks): `ceil(n / CHUNK_OTS)`.
pub fn messages(n: usize) -> usize {
    n.div_ceil(CHUNK_OTS)
}

const POISONED: &str =
    "an earlier OT extension failed, so both sides' PRGs are out of step: set up again";

fn bit(x: Block, i: usize) -> bool {
    (x.0 >> i) & 1 == 1
}

/// The sender's side of IKNP: the correlation and its 128 seeds (no I/O).
struct SenderCore {
    /// s, the correlation Δ: the base-OT choice bits.
    delta: Block,
    /// G(k^i_{s_i}) for each row i.
    prgs: Vec<AesPrg>,
    /// Scratch for the q columns of one chunk.
    cols: Vec<u8>,
    /// Index of the next extended OT since set-up (the hash tweak).
    next: u128,
}

impl SenderCore {
    /// Receives the matrix of one chunk of `rows.len()` OTs and writes q_j into `rows`.
    fn chunk<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        rows: &mut [Block],
    ) -> Result<(), ProtocolError> {
        let msg = ch.recv()?;
        Ok(self.absorb(&msg, rows)?)
    }

    /// q^i = G(k^i_{s_i}) ⊕ s_i·u^i for each column, transposed into `rows`.
    fn absorb(&mut self, msg: &[u8], rows: &mut [Block]) -> Result<(), DecodeError> {
        let cb = rows.len() / 8;
        let mut r = Reader::new(msg);
        let u = r.take(ROWS * cb, "OT extension matrix")?;
        r.finish()?;
        if self.cols.len() < ROWS * cb {
            self.cols.resize(ROWS * cb, 0);
        }
        let cols = &mut self.cols[..ROWS * cb];
        let columns = cols.chunks_exact_mut(cb).zip(u.chunks_exact(cb));
        for (i, ((col, u_col), prg)) in columns.zip(&mut self.prgs).enumerate() {
            prg.fill(col);
            let mask = u8::from(bit(self.delta, i)).wrapping_neg();
            col.iter_mut().zip(u_col).for_each(|(c, u)| *c ^= u & mask);
        }
        transpose_128(cols, cb, rows);
        self.next += rows.len() as u128;
        Ok(())
    }
}

/// The receiver's side of IKNP: both seeds of every base OT (no I/O).
struct ReceiverCore {
    /// [G(k^i_0), G(k^i_1)] for each row i.
    prgs: Vec<[AesPrg; 2]>,
    /// Scratch for the t columns of one chunk.
    cols: Vec<u8>,
    /// Scratch for the message u of one chunk.
    msg: Vec<u8>,
    /// Scratch for the packed choice bits of one chunk.
    bits: Vec<u8>,
    /// Index of the next extended OT since set-up (the hash tweak).
    next: u128,
}

impl ReceiverCore {
    /// Sends the matrix of one chunk of `rows.len()` OTs for `choices` (the chunk's real
    /// choices; padding rows choose 0) and writes t_j into `rows`.
    fn chunk<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        choices: &[bool],
        rows: &mut [Block],
    ) -> Result<(), ChannelError> {
        let cb = rows.len() / 8;
        self.build(choices, cb);
        // Send first: the sender works on this chunk while we transpose.
        ch.send(&self.msg[..ROWS * cb])?;
        transpose_128(&self.cols[..ROWS * cb], cb, rows);
        self.next += rows.len() as u128;
        Ok(())
    }

    /// t^i = G(k^i_0), u^i = t^i ⊕ G(k^i_1) ⊕ r for each column of `cb` bytes.
    fn build(&mut self, choices: &[bool], cb: usize) {
        for buf in [&mut self.cols, &mut self.msg] {
            if buf.len() < ROWS * cb {
                buf.resize(ROWS * cb, 0);
            }
        }
        self.bits.clear();
        self.bits.resize(cb, 0);
        pack_bits(choices, &mut self.bits);
        let columns = self
            .cols
            .chunks_exact_mut(cb)
            .zip(self.msg.chunks_exact_mut(cb));
        for ((t, u), [g0, g1]) in columns.zip(&mut self.prgs) {
            g0.fill(t);
            g1.fill(u);
            for ((u, t), r) in u.iter_mut().zip(t.iter()).zip(&self.bits) {
                *u ^= t ^ r;
            }
        }
    }
}

/// Packs bits LSB-first into `out` (which is zeroed, and at least `bits.len() / 8` long).
fn pack_bits(bits: &[bool], out: &mut [u8]) {
    for (byte, eight) in out.iter_mut().zip(bits.chunks(8)) {
        *byte = eight
            .iter()
            .enumerate()
            .fold(0u8, |acc, (k, &b)| acc | (u8::from(b) << k));
    }
}

/// The extension sender after set-up. It holds the secret correlation Δ and the 128
/// seeds k^i_{Δ_i}; it learns nothing about the receiver's choices.
pub struct CotSender {
    core: SenderCore,
    hash: CrHash,
    poisoned: bool,
}

impl std::fmt::Debug for CotSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CotSender")
            .field("extended", &self.core.next)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl CotSender {
    /// Set-up with a fresh uniform Δ: 128 base OTs as their receiver, choosing the bits
    /// of Δ. Sends 4,096 bytes, receives 32; one round trip.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, ProtocolError> {
        let mut d = [0u8; 16];
        rng.fill_bytes(&mut d);
        Self::setup_with_delta(ch, rng, Block::from_bytes(d))
    }

    /// Set-up with the caller's Δ (e.g. the garbling Δ, low bit 1): then
    /// [`CotSender::send_correlated`] yields pairs (x0, x0 ⊕ `delta`). `delta` must be
    /// secret and uniform (at least 127 free bits); it is used as the base-OT choices.
    pub(crate) fn setup_with_delta<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        rng: &mut (impl RngCore + CryptoRng),
        delta: Block,
    ) -> Result<Self, ProtocolError> {
        let choices: Vec<bool> = (0..BASE_OTS).map(|i| bit(delta, i)).collect();
        let seeds = base::receive(ch, rng, &choices)?;
        Ok(CotSender {
            core: SenderCore {
                delta,
                prgs: seeds.into_iter().map(AesPrg::new).collect(),
                cols: Vec::new(),
                next: 0,
            },
            hash: CrHash::new(),
            poisoned: false,
        })
    }

    /// The global correlation Δ: x1 = x0 ⊕ Δ for every [`CotSender::send_correlated`]
    /// pair, for tests that check the correlation.
    #[cfg(test)]
    pub(crate) fn delta(&self) -> Block {
        self.core.delta
    }

    /// Extends `n` correlated OTs with the global Δ and returns x0 for each (x1 = x0 ⊕ Δ).
    /// The receiver's matrix is the only traffic: receives [`matrix_bytes`]`(n)` in
    /// [`messages`]`(n)` frames, sends nothing; one flight.
    pub fn send_correlated<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
    ) -> Result<Vec<Block>, ProtocolError> {
        self.guarded(|s| {
            let mut out = vec![Block::ZERO; padded(n)];
            for rows in out.chunks_mut(CHUNK_OTS) {
                s.core.chunk(ch, rows)?;
            }
            out.truncate(n);
            Ok(out)
        })
    }

    /// Extends `n` random OTs: returns (m0_j, m1_j), of which the receiver gets m{r_j}_j.
    /// Same traffic as [`CotSender::send_correlated`].
    pub fn send_random<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
    ) -> Result<Vec<(Block, Block)>, ProtocolError> {
        let mut out = Vec::with_capacity(n);
        self.send_random_chunks(ch, n, |m0, m1| {
            out.extend(m0.iter().copied().zip(m1.iter().copied()));
        })?;
        Ok(out)
    }

    /// [`CotSender::send_random`] without collecting: hands `each` the messages (m0, m1)
    /// of each chunk of at most [`CHUNK_OTS`] OTs as they are made, in order.
    pub fn send_random_chunks<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
        mut each: impl FnMut(&[Block], &[Block]),
    ) -> Result<(), ProtocolError> {
        self.guarded(|s| {
            s.hashed_chunks(ch, n, |_, m0, m1| {
                each(m0, m1);
                Ok(())
            })
        })
    }

    /// Extends `n` correlated OTs with a per-call correlation `delta`: returns x0_j, with
    /// x1_j = x0_j ⊕ `delta`. Besides the receiver's matrix, sends one 16-byte correction
    /// per OT, d_j = H(j, q_j) ⊕ H(j, q_j ⊕ Δ) ⊕ `delta` (exactly `16n` bytes, in
    /// [`messages`]`(n)` frames): two flights per [`FLIGHT_OTS`] OTs, i.e. 2 for n ≤ 2^20.
    /// The hash is CCR, so `delta` may even equal Δ.
    pub fn send_correlated_with<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        delta: Block,
        n: usize,
    ) -> Result<Vec<Block>, ProtocolError> {
        self.guarded(|s| {
            let mut out = Vec::with_capacity(n);
            let mut msg = Vec::with_capacity(16 * n.min(CHUNK_OTS));
            s.hashed_chunks(ch, n, |ch, m0, m1| {
                msg.clear();
                for (a, b) in m0.iter().zip(m1) {
                    msg.extend_from_slice(&(*a ^ *b ^ delta).to_bytes());
                }
                out.extend_from_slice(m0);
                Ok(ch.send(&msg)?)
            })?;
            Ok(out)
        })
    }

    /// Runs the extension of `n` OTs chunk by chunk and hands `each` the hashed pairs
    /// (H(j, q_j), H(j, q_j ⊕ Δ)) of the chunk's real OTs.
    fn hashed_chunks<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
        mut each: impl FnMut(&mut Channel<T>, &[Block], &[Block]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let total = padded(n);
        let size = CHUNK_OTS.min(total);
        let (mut q, mut m0, mut m1) = (
            vec![Block::ZERO; size],
            vec![Block::ZERO; size],
            vec![Block::ZERO; size],
        );
        for start in (0..total).step_by(CHUNK_OTS) {
            let m = CHUNK_OTS.min(total - start);
            let real = m.min(n - start);
            let first = self.core.next;
            self.core.chunk(ch, &mut q[..m])?;
            self.hash
                .hash_batch(first, &q[..real], Block::ZERO, &mut m0[..real]);
            self.hash
                .hash_batch(first, &q[..real], self.core.delta, &mut m1[..real]);
            each(ch, &m0[..real], &m1[..real])?;
        }
        Ok(())
    }

    fn guarded<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, ProtocolError>,
    ) -> Result<R, ProtocolError> {
        if self.poisoned {
            return Err(ProtocolError::Misuse(POISONED));
        }
        let r = f(self);
        self.poisoned = r.is_err();
        r
    }
}

/// The extension receiver after set-up. It holds both seeds of every base OT; per OT it
/// learns only the message it chose, nothing about the other or about Δ.
pub struct CotReceiver {
    core: ReceiverCore,
    hash: CrHash,
    poisoned: bool,
}

impl std::fmt::Debug for CotReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CotReceiver")
            .field("extended", &self.core.next)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl CotReceiver {
    /// Set-up: 128 base OTs as their sender. Sends 32 bytes, receives 4,096; one round
    /// trip.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, ProtocolError> {
        let seeds = base::send(ch, rng, BASE_OTS)?;
        Ok(CotReceiver {
            core: ReceiverCore {
                prgs: seeds
                    .into_iter()
                    .map(|(k0, k1)| [AesPrg::new(k0), AesPrg::new(k1)])
                    .collect(),
                cols: Vec::new(),
                msg: Vec::new(),
                bits: Vec::new(),
                next: 0,
            },
            hash: CrHash::new(),
            poisoned: false,
        })
    }

    /// Correlated OTs with the sender's global Δ: returns x{c_j}_j = x0_j ⊕ c_j·Δ for each
    /// choice. Sends [`matrix_bytes`]`(n)` in [`messages`]`(n)` frames, receives nothing;
    /// one flight.
    pub fn receive_correlated<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        choices: &[bool],
    ) -> Result<Vec<Block>, ProtocolError> {
        self.guarded(|s| {
            let mut out = vec![Block::ZERO; padded(choices.len())];
            for (rows, c) in out.chunks_mut(CHUNK_OTS).zip(choices.chunks(CHUNK_OTS)) {
                s.core.chunk(ch, c, rows)?;
            }
            out.truncate(choices.len());
            Ok(out)
        })
    }

    /// Random OTs: returns m{c_j}_j for each choice. Same traffic as
    /// [`CotReceiver::receive_correlated`].
    pub fn receive_random<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        choices: &[bool],
    ) -> Result<Vec<Block>, ProtocolError> {
        let mut out = Vec::with_capacity(choices.len());
        self.receive_random_chunks(ch, choices, |m| out.extend_from_slice(m))?;
        Ok(out)
    }

    /// [`CotReceiver::receive_random`] without collecting: hands `each` the messages of
    /// each chunk of at most [`CHUNK_OTS`] OTs as they are made, in order.
    pub fn receive_random_chunks<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        choices: &[bool],
        each: impl FnMut(&[Block]),
    ) -> Result<(), ProtocolError> {
        self.guarded(|s| s.hashed_chunks(ch, choices, each))
    }

    /// The receiving side of [`CotSender::send_correlated_with`]: returns x{c_j}_j.
    /// Sends the matrix as [`CotReceiver::receive_correlated`] does and receives the
    /// sender's `16n` bytes of corrections, in flights of at most [`FLIGHT_OTS`] OTs (all
    /// matrices of a flight, then all its corrections), so that neither side ever has more
    /// than 16 MiB unread in the pipe: `2 · ceil(n / FLIGHT_OTS)` flights.
    pub fn receive_correlated_with<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        choices: &[bool],
    ) -> Result<Vec<Block>, ProtocolError> {
        self.guarded(|s| {
            let mut out = Vec::with_capacity(choices.len());
            for flight in choices.chunks(FLIGHT_OTS) {
                let mut ys = Vec::with_capacity(flight.len());
                s.hashed_chunks(ch, flight, |m| ys.extend_from_slice(m))?;
                for (ys, cs) in ys.chunks_mut(CHUNK_OTS).zip(flight.chunks(CHUNK_OTS)) {
                    let msg = ch.recv()?;
                    apply_corrections(&msg, ys, cs)?;
                }
                out.append(&mut ys);
            }
            Ok(out)
        })
    }

    /// Sends the matrix for `choices` chunk by chunk and hands `each` H(j, t_j) for the
    /// chunk's real OTs.
    fn hashed_chunks<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        choices: &[bool],
        mut each: impl FnMut(&[Block]),
    ) -> Result<(), ProtocolError> {
        let total = padded(choices.len());
        let size = CHUNK_OTS.min(total);
        let (mut t, mut h) = (vec![Block::ZERO; size], vec![Block::ZERO; size]);
        for (start, c) in (0..total).step_by(CHUNK_OTS).zip(choices.chunks(CHUNK_OTS)) {
            let m = CHUNK_OTS.min(total - start);
            let first = self.core.next;
            self.core.chunk(ch, c, &mut t[..m])?;
            let real = c.len();
            self.hash
                .hash_batch(first, &t[..real], Block::ZERO, &mut h[..real]);
            each(&h[..real]);
        }
        Ok(())
    }

    fn guarded<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, ProtocolError>,
    ) -> Result<R, ProtocolError> {
        if self.poisoned {
            return Err(ProtocolError::Misuse(POISONED));
        }
        let r = f(self);
        self.poisoned = r.is_err();
        r
    }
}

/// y_j ^= c_j·d_j with the sender's corrections d (exactly 16 bytes per OT of the chunk).
fn apply_corrections(msg: &[u8], ys: &mut [Block], choices: &[bool]) -> Result<(), DecodeError> {
    let mut r = Reader::new(msg);
    let ds = r.take(16 * ys.len(), "OT corrections")?;
    r.finish()?;
    for ((y, d), &c) in ys.iter_mut().zip(ds.chunks_exact(16)).zip(choices) {
        let mut b = [0u8; 16];
        b.copy_from_slice(d);
        *y ^= Block::from_bytes(b).select(c);
    }
    Ok(())
}

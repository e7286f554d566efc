//! Correlated OTs made ahead and spent in order: a pool per party of one OT instance,
//! filled by IKNP extension or by silent extension ([`super::ferret`]), as [`OtKind`] says.
//!
//! A pool holds COTs with the sender's global Δ (low bit 1): the sender's blocks x0 (low
//! bit 0), the receiver's blocks x0 ⊕ c·Δ whose low bit is its random choice c. Both
//! parties of an instance hold mirrored pools and make the same calls in the same order,
//! so the same OTs are spent on both sides. [`PoolSender::reserve`] and
//! [`PoolReceiver::reserve`] (called by both at once with the same count) fill the pool
//! until it holds that many; everything else spends from it without a message, except
//! chosen OTs, which cost the receiver one bit each (c ⊕ r, Beaver's derandomisation).
//!
//! Silent pools first make [`BOOT`]`.seed()` COTs by IKNP (1.2 MB), then extend with
//! [`BOOT`] while needs are small and with [`MAIN`] once one is larger than a [`BOOT`]
//! extension makes; each extension keeps the seed of the next one. What a query leaves
//! serves the next query of the session; a pool lives in memory only and is dropped with
//! its session. Random OTs hash each COT with a tweak that counts every hash of the
//! instance, so no two share one.

use rand_core::{CryptoRng, RngCore};

use super::aes_prg::CrHash;
use super::ferret::{self, Params, BOOT, MAIN};
use super::iknp::{CotReceiver, CotSender};
use crate::block::Block;
use crate::channel::{Channel, Scope, Transport};
use crate::codec::Reader;
use crate::error::ProtocolError;
use crate::material::OtKind;
use crate::prg::{Prg, Seed};

use super::ferret::ggm::NO_LSB;

const POISONED: &str =
    "an earlier OT call failed, so both sides' pools are out of step: set up again";

/// What both sides of an instance keep alike: the unspent COTs, how they grow, and the
/// hash count.
struct Pool {
    kind: OtKind,
    blocks: Vec<Block>,
    /// Index of the first unspent block.
    next: usize,
    /// Whether silent extension has moved to [`MAIN`].
    main: bool,
    /// Hash tweaks used so far.
    tweak: u128,
    /// Payload bytes the fills sent and received (for apportioning by use).
    fill_bytes: u64,
    /// COTs the fills made available for use.
    filled: u64,
    poisoned: bool,
}

/// How a pool grows next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// IKNP extension of this many.
    Iknp(usize),
    /// One silent extension with these parameters.
    Silent(Params),
}

impl Pool {
    fn new(kind: OtKind) -> Self {
        Pool {
            kind,
            blocks: Vec::new(),
            next: 0,
            main: false,
            tweak: 0,
            fill_bytes: 0,
            filled: 0,
            poisoned: false,
        }
    }

    fn available(&self) -> usize {
        self.blocks.len() - self.next
    }

    /// COTs kept back for the next silent extension.
    fn floor(&self) -> usize {
        match (self.kind, self.main) {
            (OtKind::Iknp, _) => 0,
            (OtKind::Silent, false) => BOOT.seed(),
            (OtKind::Silent, true) => MAIN.seed(),
        }
    }

    /// The next step towards `want` usable COTs, or `None` when they are there.
    fn step(&self, want: usize) -> Option<Step> {
        let (have, floor) = (self.available(), self.floor());
        if have >= want + floor {
            return None;
        }
        Some(match self.kind {
            OtKind::Iknp => Step::Iknp(want - have),
            OtKind::Silent if have < BOOT.seed() => Step::Iknp(BOOT.seed() - have),
            OtKind::Silent if self.main => Step::Silent(MAIN),
            OtKind::Silent if want + floor - have <= BOOT.usable() => Step::Silent(BOOT),
            OtKind::Silent if have < MAIN.seed() => Step::Silent(BOOT),
            OtKind::Silent => Step::Silent(MAIN),
        })
    }

    /// Takes the next `n` unspent blocks (the caller reserved them).
    fn take(&mut self, n: usize) -> Result<&[Block], ProtocolError> {
        if self.available() < n {
            return Err(ProtocolError::Misuse("more OTs spent than reserved"));
        }
        let start = self.next;
        self.next += n;
        Ok(&self.blocks[start..start + n])
    }

    /// Drops the spent blocks and appends `fresh`.
    fn append(&mut self, fresh: Vec<Block>, usable: usize, bytes: u64) {
        self.blocks.drain(..self.next);
        self.next = 0;
        if self.blocks.is_empty() {
            self.blocks = fresh;
        } else {
            self.blocks.extend_from_slice(&fresh);
        }
        self.fill_bytes += bytes;
        self.filled += usable as u64;
    }

    /// Hash tweaks for `n` more hashes.
    fn tweaks(&mut self, n: usize) -> u128 {
        let first = self.tweak;
        self.tweak += n as u128;
        first
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

    /// Payload bytes of the fills per COT made for use, as a fraction: (bytes, COTs).
    fn rate(&self) -> (u64, u64) {
        (self.fill_bytes, self.filled.max(1))
    }
}

/// The sender's side of a pooled instance: Δ and the x0 blocks.
pub struct PoolSender {
    pool: Pool,
    delta: Block,
    iknp: CotSender,
    prg: Prg,
    hash: CrHash,
}

impl std::fmt::Debug for PoolSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolSender")
            .field("kind", &self.pool.kind)
            .field("available", &self.pool.available())
            .finish_non_exhaustive()
    }
}

impl PoolSender {
    /// Set-up with a fresh Δ (low bit 1): IKNP's base OTs (one round trip), and a silent
    /// pool's bootstrap.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        kind: OtKind,
        rng: &mut (impl RngCore + CryptoRng + ?Sized),
    ) -> Result<Self, ProtocolError> {
        let mut d = [0u8; 16];
        rng.fill_bytes(&mut d);
        Self::setup_with_delta(ch, kind, rng, Block(Block::from_bytes(d).0 | 1))
    }

    /// Set-up with the caller's Δ, which must have low bit 1 and be otherwise uniform and
    /// secret (the garbling Δ: the pool's COTs are then input labels).
    pub fn setup_with_delta<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        kind: OtKind,
        rng: &mut (impl RngCore + CryptoRng + ?Sized),
        delta: Block,
    ) -> Result<Self, ProtocolError> {
        if !delta.lsb() {
            return Err(ProtocolError::Misuse("a pooled OT's Δ needs low bit 1"));
        }
        let mut prg = Prg::new(Seed::from_rng(rng));
        let iknp = CotSender::setup_with_delta(ch, &mut prg, delta)?;
        let mut sender = PoolSender {
            pool: Pool::new(kind),
            delta,
            iknp,
            prg,
            hash: CrHash::new(),
        };
        sender.reserve(ch, bootstrap(kind))?;
        Ok(sender)
    }

    /// Fills the pool until `n` COTs are unspent; the receiver calls
    /// [`PoolReceiver::reserve`] with the same `n` at once.
    pub fn reserve<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
    ) -> Result<(), ProtocolError> {
        let (delta, iknp, prg) = (self.delta, &mut self.iknp, &mut self.prg);
        self.pool.guarded(|pool| {
            in_scope(ch, pool.kind, |ch| {
                while let Some(step) = pool.step(n) {
                    let before = ch.meter().clone();
                    let (fresh, usable) = match step {
                        Step::Iknp(m) => {
                            let x0: Vec<Block> = iknp
                                .send_correlated(ch, m)?
                                .into_iter()
                                .map(|x| x & NO_LSB)
                                .collect();
                            (x0, m)
                        }
                        Step::Silent(p) => {
                            let seed = pool.take(p.seed())?.to_vec();
                            let tweak = pool.tweaks(p.t * p.h);
                            (ferret::send(ch, &p, delta, &seed, tweak, prg)?, p.usable())
                        }
                    };
                    pool.main |= step == Step::Silent(MAIN);
                    pool.append(fresh, usable, sent_since(&before, ch));
                }
                Ok(())
            })
        })
    }

    /// Payload bytes of one instance's set-up, both directions: 128 base OTs, and a silent
    /// pool's bootstrap (IKNP for [`BOOT`]'s seed, one [`BOOT`] extension).
    pub fn setup_bytes(kind: OtKind) -> u64 {
        let bootstrap = match kind {
            OtKind::Iknp => 0,
            OtKind::Silent => super::matrix_bytes(BOOT.seed()) + BOOT.bytes(),
        };
        (32 + 4096 + bootstrap) as u64
    }

    /// The global Δ.
    pub fn delta(&self) -> Block {
        self.delta
    }

    /// Spends `n` reserved COTs as they are: x0 for each (x1 = x0 ⊕ Δ; the receiver holds
    /// x{r} with r its random choice). No message.
    pub fn correlated(&mut self, n: usize) -> Result<Vec<Block>, ProtocolError> {
        self.pool.guarded(|pool| Ok(pool.take(n)?.to_vec()))
    }

    /// Spends `n` reserved COTs as random OTs: hands `each` the pairs (H(x0), H(x0 ⊕ Δ)) a
    /// chunk at a time. No message.
    pub fn random(
        &mut self,
        n: usize,
        mut each: impl FnMut(&[Block], &[Block]),
    ) -> Result<(), ProtocolError> {
        let (hash, delta) = (&self.hash, self.delta);
        self.pool.guarded(|pool| {
            let first = pool.tweaks(n);
            let x0 = pool.take(n)?;
            let mut m0 = vec![Block::ZERO; CHUNK.min(n)];
            let mut m1 = m0.clone();
            for (c, xs) in x0.chunks(CHUNK).enumerate() {
                let tweak = first + (c * CHUNK) as u128;
                hash.hash_batch(tweak, xs, Block::ZERO, &mut m0[..xs.len()]);
                hash.hash_batch(tweak, xs, delta, &mut m1[..xs.len()]);
                each(&m0[..xs.len()], &m1[..xs.len()]);
            }
            Ok(())
        })
    }

    /// Correlated OTs for the receiver's own choices: reserves `n`, reads its one bit per
    /// OT (c ⊕ r) and returns x0 for each, x0 ⊕ c·Δ being what the receiver got. Under
    /// IKNP the receiver's matrix carries the choices instead (16 bytes per OT, as
    /// [`CotSender::send_correlated`]).
    pub fn send_chosen<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
    ) -> Result<Vec<Block>, ProtocolError> {
        if self.pool.kind == OtKind::Iknp {
            // IKNP takes the choices in its matrix: no flips, no pool.
            let iknp = &mut self.iknp;
            return self.pool.guarded(|_| iknp.send_correlated(ch, n));
        }
        self.reserve(ch, n)?;
        let delta = self.delta;
        self.pool.guarded(|pool| {
            let flips = recv_bits(ch, n)?;
            let x0 = pool.take(n)?;
            Ok(x0
                .iter()
                .zip(flips)
                .map(|(x, d)| *x ^ delta.select(d))
                .collect())
        })
    }

    /// Payload bytes the fills cost per COT made for use: (bytes, COTs).
    pub fn rate(&self) -> (u64, u64) {
        self.pool.rate()
    }
}

/// The receiver's side of a pooled instance: blocks x0 ⊕ r·Δ, r in the low bit.
pub struct PoolReceiver {
    pool: Pool,
    iknp: CotReceiver,
    prg: Prg,
    hash: CrHash,
}

impl std::fmt::Debug for PoolReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolReceiver")
            .field("kind", &self.pool.kind)
            .field("available", &self.pool.available())
            .finish_non_exhaustive()
    }
}

impl PoolReceiver {
    /// Set-up: IKNP's base OTs (one round trip), and a silent pool's bootstrap.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        kind: OtKind,
        rng: &mut (impl RngCore + CryptoRng + ?Sized),
    ) -> Result<Self, ProtocolError> {
        let mut prg = Prg::new(Seed::from_rng(rng));
        let iknp = CotReceiver::setup(ch, &mut prg)?;
        let mut receiver = PoolReceiver {
            pool: Pool::new(kind),
            iknp,
            prg,
            hash: CrHash::new(),
        };
        receiver.reserve(ch, bootstrap(kind))?;
        Ok(receiver)
    }

    /// The mirror of [`PoolSender::reserve`].
    pub fn reserve<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
    ) -> Result<(), ProtocolError> {
        let (iknp, prg) = (&mut self.iknp, &mut self.prg);
        self.pool.guarded(|pool| {
            in_scope(ch, pool.kind, |ch| {
                while let Some(step) = pool.step(n) {
                    let before = ch.meter().clone();
                    let (fresh, usable) = match step {
                        Step::Iknp(m) => {
                            let words = prg.words(m.div_ceil(64));
                            let choices: Vec<bool> = (0..m)
                                .map(|i| (words[i / 64] >> (i % 64)) & 1 == 1)
                                .collect();
                            let t = iknp.receive_correlated(ch, &choices)?;
                            // x0 ⊕ c·Δ with the sender's x0 low bit cleared: c lands there.
                            let t = t
                                .into_iter()
                                .zip(choices)
                                .map(|(t, c)| Block((t & NO_LSB).0 | u128::from(c)))
                                .collect();
                            (t, m)
                        }
                        Step::Silent(p) => {
                            let seed = pool.take(p.seed())?.to_vec();
                            let tweak = pool.tweaks(p.t * p.h);
                            (ferret::receive(ch, &p, &seed, tweak)?, p.usable())
                        }
                    };
                    pool.main |= step == Step::Silent(MAIN);
                    pool.append(fresh, usable, sent_since(&before, ch));
                }
                Ok(())
            })
        })
    }

    /// The random choice bits of the next `n` reserved COTs, without spending them.
    pub fn peek_choices(&self, n: usize) -> Result<Vec<bool>, ProtocolError> {
        let pool = &self.pool;
        if pool.available() < n {
            return Err(ProtocolError::Misuse("more OTs looked at than reserved"));
        }
        Ok(pool.blocks[pool.next..pool.next + n]
            .iter()
            .map(|b| b.lsb())
            .collect())
    }

    /// Spends `n` reserved COTs as they are: x0 ⊕ r·Δ, r in the low bit. No message.
    pub fn correlated(&mut self, n: usize) -> Result<Vec<Block>, ProtocolError> {
        self.pool.guarded(|pool| Ok(pool.take(n)?.to_vec()))
    }

    /// Spends `n` reserved COTs as random OTs with their own choices (see
    /// [`PoolReceiver::peek_choices`]): hands `each` H(x{r}) a chunk at a time. No message.
    pub fn random(
        &mut self,
        n: usize,
        mut each: impl FnMut(&[Block]),
    ) -> Result<(), ProtocolError> {
        let hash = &self.hash;
        self.pool.guarded(|pool| {
            let first = pool.tweaks(n);
            let t = pool.take(n)?;
            let mut m = vec![Block::ZERO; CHUNK.min(n)];
            for (c, ts) in t.chunks(CHUNK).enumerate() {
                let tweak = first + (c * CHUNK) as u128;
                hash.hash_batch(tweak, ts, Block::ZERO, &mut m[..ts.len()]);
                each(&m[..ts.len()]);
            }
            Ok(())
        })
    }

    /// Correlated OTs for `choices`: reserves them, sends one bit per OT (c ⊕ r) and
    /// returns x0 ⊕ c·Δ for each (under IKNP, as [`CotReceiver::receive_correlated`]).
    pub fn receive_chosen<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        choices: &[bool],
    ) -> Result<Vec<Block>, ProtocolError> {
        if self.pool.kind == OtKind::Iknp {
            let iknp = &mut self.iknp;
            return self.pool.guarded(|_| iknp.receive_correlated(ch, choices));
        }
        self.reserve(ch, choices.len())?;
        self.pool.guarded(|pool| {
            let t = pool.take(choices.len())?.to_vec();
            let flips: Vec<bool> = t.iter().zip(choices).map(|(t, &c)| t.lsb() ^ c).collect();
            send_bits(ch, &flips)?;
            Ok(t)
        })
    }

    /// Payload bytes the fills cost per COT made for use: (bytes, COTs).
    pub fn rate(&self) -> (u64, u64) {
        self.pool.rate()
    }
}

/// OTs a pool holds after set-up: a silent pool bootstraps there (IKNP for [`BOOT`]'s
/// seed, then one [`BOOT`] extension), so that queries find it grown.
fn bootstrap(kind: OtKind) -> usize {
    match kind {
        OtKind::Iknp => 0,
        OtKind::Silent => 1,
    }
}

/// Runs `grow` under the current phase's own scope (no layer) for a silent pool: one
/// extension serves many layers and queries, so its bytes are the phase's, not the layer's
/// that happened to need it first. IKNP growth is the calling layer's own.
fn in_scope<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    kind: OtKind,
    grow: impl FnOnce(&mut Channel<T>) -> Result<(), ProtocolError>,
) -> Result<(), ProtocolError> {
    let here = ch.scope();
    if kind == OtKind::Silent {
        ch.enter(Scope::phase(here.phase));
    }
    let r = grow(ch);
    ch.enter(here);
    r
}

/// Blocks hashed per batch of random OTs.
const CHUNK: usize = 1 << 14;

/// Payload bytes sent and received on `ch` since the meter `before`.
fn sent_since<T: Transport + ?Sized>(before: &crate::channel::Meter, ch: &Channel<T>) -> u64 {
    let total = |m: &crate::channel::Meter| -> u64 { m.scopes().map(|(_, t)| t.bytes()).sum() };
    total(ch.meter()) - total(before)
}

/// Sends bits packed LSB-first, one message.
fn send_bits<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    bits: &[bool],
) -> Result<(), ProtocolError> {
    let mut msg = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        msg[i / 8] |= u8::from(b) << (i % 8);
    }
    Ok(ch.send(&msg)?)
}

/// Receives `n` bits packed LSB-first, one message of exactly ⌈n/8⌉ bytes.
fn recv_bits<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    n: usize,
) -> Result<Vec<bool>, ProtocolError> {
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let bytes = r.take(n.div_ceil(8), "OT choice flips")?;
    r.finish()?;
    Ok((0..n).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect())
}

#[cfg(test)]
mod tests;

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
//! A silent pool rents IKNP OTs until it has paid what its bootstrap costs ([`RENT`]),
//! or bootstraps at set-up when the session's queries need more ([`PoolSender::bootstrap`]):
//! [`BOOT`]`.seed()` COTs by IKNP (1.2 MB) and one [`BOOT`] extension. Then it extends with
//! [`BOOT`] while needs are small and with [`MAIN`] once one is larger than a [`BOOT`]
//! extension makes; each extension keeps the seed of the next one. What a query leaves
//! serves the next query of the session; a pool lives in memory only and is dropped with
//! its session. Random OTs hash each COT with a tweak that counts every hash of the
//! instance, so no two share one.
//!
//! # Counting an extension by use
//! A silent extension during queries serves many layers and queries, so its message is not
//! counted where it happens (it goes to [`Scope::CONTROL`]) but apportioned: each COT it
//! makes carries its share of the message and of the seed COTs it consumed, and spending
//! COTs charges their shares to the scope that spends them ([`Channel::charge`], on both
//! ends alike). Layers' bytes then add up to the phase's, and over a session the charges
//! add up to the extensions' bytes but for what is left in the pools. Growth during set-up,
//! and IKNP's fills of an IKNP pool, are counted where they happen, as they are sent.

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};

use super::aes_prg::CrHash;
use super::ferret::{self, Params, BOOT, MAIN};
use super::iknp::{CotReceiver, CotSender};
use crate::block::Block;
use crate::channel::{Channel, Phase, Scope, Transport};
use crate::codec::Reader;
use crate::error::ProtocolError;
use crate::material::OtKind;
use crate::prg::{Prg, Seed};

use super::ferret::ggm::NO_LSB;

const POISONED: &str =
    "an earlier OT call failed, so both sides' pools are out of step: set up again";

/// What both sides of an instance keep alike: the unspent COTs, how they grow, what they
/// cost, and the hash count.
struct Pool {
    kind: OtKind,
    blocks: Vec<Block>,
    /// Index of the first unspent block.
    next: usize,
    /// The unspent blocks' bytes each, in runs from `next` on: (blocks, bytes per block
    /// that the sender sent, that the receiver sent).
    costs: VecDeque<(usize, Bytes)>,
    /// Bytes spent COTs carried, not yet charged to a scope.
    owed: Bytes,
    /// Whether a silent pool has bootstrapped; before, it rents IKNP OTs.
    booted: bool,
    /// IKNP OTs a silent pool rented before it bootstrapped.
    rented: usize,
    /// Whether silent extension has moved to [`MAIN`].
    main: bool,
    /// Hash tweaks used so far.
    tweak: u128,
    poisoned: bool,
}

/// Bytes by who sent them: [the OT sender's end, the OT receiver's end].
type Bytes = [f64; 2];

/// Whether a silent pool whose session spends `per_query` OTs a query bootstraps at set-up
/// ([`PoolSender::bootstrap`]) rather than rent.
pub fn bootstraps(kind: OtKind, per_query: usize) -> bool {
    kind == OtKind::Silent && per_query >= RENT
}

/// IKNP OTs that cost what a silent pool's bootstrap does (IKNP for [`BOOT`]'s seed and
/// one [`BOOT`] extension): a silent pool rents IKNP OTs until it would have paid that
/// much, then bootstraps (at most twice the better choice's bytes, whatever comes next).
pub const RENT: usize = BOOT.seed() + BOOT.bytes() / 16;

/// How a pool grows next.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// IKNP extension of this many.
    Iknp(usize),
    /// One silent extension with these parameters.
    Silent(Params),
}

impl Step {
    /// Payload bytes of the step's messages, by who sends them.
    fn bytes(self) -> Bytes {
        match self {
            Step::Iknp(m) => [0.0, super::matrix_bytes(m) as f64],
            Step::Silent(p) => [p.bytes() as f64, 0.0],
        }
    }
}

/// Which end of the instance a pool is: a sender's bytes were sent, a receiver's received.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Sender,
    Receiver,
}

impl Pool {
    fn new(kind: OtKind) -> Self {
        Pool {
            kind,
            blocks: Vec::new(),
            next: 0,
            costs: VecDeque::new(),
            owed: [0.0; 2],
            booted: false,
            rented: 0,
            main: false,
            tweak: 0,
            poisoned: false,
        }
    }

    fn available(&self) -> usize {
        self.blocks.len() - self.next
    }

    /// COTs kept back for the next silent extension.
    fn floor(&self) -> usize {
        match (self.kind, self.booted, self.main) {
            (OtKind::Iknp, ..) | (OtKind::Silent, false, _) => 0,
            (OtKind::Silent, true, false) => BOOT.seed(),
            (OtKind::Silent, true, true) => MAIN.seed(),
        }
    }

    /// The next step towards `want` usable COTs, or `None` when they are there. A silent
    /// pool rents IKNP OTs up to [`RENT`], then bootstraps; it moves to [`MAIN`] for good
    /// at the first need that one more [`BOOT`] extension would not cover, growing
    /// [`MAIN`]'s seed by [`BOOT`] first if it must.
    fn step(&mut self, want: usize) -> Option<Step> {
        let have = self.available();
        if self.kind == OtKind::Silent && !self.booted {
            let short = want.saturating_sub(have);
            if short == 0 {
                return None;
            }
            if self.rented + short <= RENT {
                self.rented += short;
                return Some(Step::Iknp(short));
            }
            self.booted = true;
        }
        if self.kind == OtKind::Silent && want + BOOT.seed() > have + BOOT.usable() {
            self.main = true;
        }
        if have >= want + self.floor() {
            return None;
        }
        Some(match self.kind {
            OtKind::Iknp => Step::Iknp(want - have),
            OtKind::Silent if have < BOOT.seed() => Step::Iknp(BOOT.seed() - have),
            OtKind::Silent if self.main && have >= MAIN.seed() => Step::Silent(MAIN),
            OtKind::Silent => Step::Silent(BOOT),
        })
    }

    /// Takes the next `n` unspent blocks (the caller reserved them) with the bytes they
    /// carry.
    fn take(&mut self, n: usize) -> Result<(std::ops::Range<usize>, Bytes), ProtocolError> {
        if self.available() < n {
            return Err(ProtocolError::Misuse("more OTs spent than reserved"));
        }
        let (mut left, mut bytes) = (n, [0.0; 2]);
        while left > 0 {
            let Some((run, each)) = self.costs.front_mut() else {
                break;
            };
            let k = left.min(*run);
            bytes[0] += k as f64 * each[0];
            bytes[1] += k as f64 * each[1];
            *run -= k;
            left -= k;
            if *run == 0 {
                self.costs.pop_front();
            }
        }
        let start = self.next;
        self.next += n;
        Ok((start..start + n, bytes))
    }

    /// Spends the next `n` unspent blocks: their bytes are owed to the spender's scope.
    fn spend(&mut self, n: usize) -> Result<&[Block], ProtocolError> {
        let (range, bytes) = self.take(n)?;
        self.owed[0] += bytes[0];
        self.owed[1] += bytes[1];
        Ok(&self.blocks[range])
    }

    /// Grows the pool until `want` COTs are unspent, `fill` making each step's blocks over
    /// `ch` from its seed (the COTs the step consumes) and first hash tweak, with room for
    /// the pool's unspent blocks after them. A silent
    /// pool's growth past set-up goes uncounted to [`Scope::CONTROL`] and its bytes ride
    /// on the blocks it makes (see the module doc).
    fn grow<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        want: usize,
        mut fill: impl FnMut(
            &mut Channel<T>,
            Step,
            (&[Block], u128),
            usize,
        ) -> Result<Vec<Block>, ProtocolError>,
    ) -> Result<(), ProtocolError> {
        self.guarded(|pool| {
            let here = ch.scope();
            let apportion = pool.kind == OtKind::Silent && here.phase != Phase::Setup;
            if apportion {
                ch.enter(Scope::CONTROL);
            }
            let grown = (|| {
                while let Some(step) = pool.step(want) {
                    let (seed, carried, tweak) = match step {
                        Step::Iknp(_) => (0..0, [0.0; 2], 0),
                        Step::Silent(p) => {
                            let (range, bytes) = pool.take(p.seed())?;
                            (range, bytes, pool.tweaks(p.t * p.h))
                        }
                    };
                    // The seed is read in place: `append` drops it with the spent blocks.
                    let fresh = fill(ch, step, (&pool.blocks[seed], tweak), pool.available())?;
                    let sent = if apportion { step.bytes() } else { [0.0; 2] };
                    pool.append(fresh, [carried[0] + sent[0], carried[1] + sent[1]]);
                }
                Ok(())
            })();
            ch.enter(here);
            grown
        })
    }

    /// Drops the spent blocks and puts `fresh` (which carry `bytes` between them) before the
    /// unspent ones, which move into the room the fill left after `fresh`: a pool is one
    /// extension's allocation, never two.
    fn append(&mut self, mut fresh: Vec<Block>, bytes: Bytes) {
        let made = fresh.len();
        let n = made.max(1) as f64;
        self.costs.push_front((made, [bytes[0] / n, bytes[1] / n]));
        fresh.extend_from_slice(&self.blocks[self.next..]);
        self.blocks = fresh;
        self.next = 0;
    }

    /// Charges the whole bytes owed to `ch`'s current scope, each as sent at the end that
    /// sent it and received at the other (both ends charge alike; fractions wait).
    fn settle<T: Transport + ?Sized>(&mut self, ch: &mut Channel<T>, end: End) {
        let whole = self.owed.map(f64::floor);
        self.owed = [self.owed[0] - whole[0], self.owed[1] - whole[1]];
        let [by_sender, by_receiver] = whole.map(|b| b as u64);
        match end {
            End::Sender => ch.charge(by_sender, by_receiver),
            End::Receiver => ch.charge(by_receiver, by_sender),
        }
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
    /// Set-up with a fresh Δ (low bit 1): IKNP's base OTs, one round trip.
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
        Ok(PoolSender {
            pool: Pool::new(kind),
            delta,
            iknp,
            prg,
            hash: CrHash::new(),
        })
    }

    /// Fills the pool until `n` COTs are unspent; the receiver calls
    /// [`PoolReceiver::reserve`] with the same `n` at once.
    pub fn reserve<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
    ) -> Result<(), ProtocolError> {
        let (delta, iknp, prg) = (self.delta, &mut self.iknp, &mut self.prg);
        self.pool.grow(ch, n, |ch, step, seed, spare| match step {
            Step::Iknp(m) => Ok(iknp
                .send_correlated(ch, m)?
                .into_iter()
                .map(|x| x & NO_LSB)
                .collect()),
            Step::Silent(p) => ferret::send(ch, &p, delta, seed, spare, prg),
        })
    }

    /// Charges the bytes the COTs spent since the last call carried to `ch`'s current
    /// scope (see the module doc); the receiver does the same at once.
    pub fn settle<T: Transport + ?Sized>(&mut self, ch: &mut Channel<T>) {
        self.pool.settle(ch, End::Sender);
    }

    /// Payload bytes of [`PoolSender::bootstrap`], both directions: IKNP for [`BOOT`]'s
    /// seed, one [`BOOT`] extension.
    pub fn bootstrap_bytes() -> u64 {
        (super::matrix_bytes(BOOT.seed()) + BOOT.bytes()) as u64
    }

    /// A silent pool's bootstrap now, as part of set-up (counted where it happens): for
    /// sessions whose queries each need [`RENT`] OTs or more, which would not rent. The
    /// receiver calls [`PoolReceiver::bootstrap`] at once.
    pub fn bootstrap<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
    ) -> Result<(), ProtocolError> {
        self.pool.booted = true;
        self.reserve(ch, 1)
    }

    /// The global Δ.
    pub fn delta(&self) -> Block {
        self.delta
    }

    /// Spends `n` reserved COTs as they are: x0 for each (x1 = x0 ⊕ Δ; the receiver holds
    /// x{r} with r its random choice). No message.
    pub fn correlated(&mut self, n: usize) -> Result<Vec<Block>, ProtocolError> {
        self.pool.guarded(|pool| Ok(pool.spend(n)?.to_vec()))
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
            let x0 = pool.spend(n)?;
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
    /// OT (c ⊕ r) and returns x0 for each, x0 ⊕ c·Δ being what the receiver got; settles.
    /// Under IKNP the receiver's matrix carries the choices instead (16 bytes per OT, as
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
        let x0 = self.pool.guarded(|pool| {
            let flips = recv_bits(ch, n)?;
            let x0 = pool.spend(n)?;
            Ok(x0
                .iter()
                .zip(flips)
                .map(|(x, d)| *x ^ delta.select(d))
                .collect())
        })?;
        self.settle(ch);
        Ok(x0)
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
    /// Set-up: IKNP's base OTs, one round trip.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        kind: OtKind,
        rng: &mut (impl RngCore + CryptoRng + ?Sized),
    ) -> Result<Self, ProtocolError> {
        let mut prg = Prg::new(Seed::from_rng(rng));
        let iknp = CotReceiver::setup(ch, &mut prg)?;
        Ok(PoolReceiver {
            pool: Pool::new(kind),
            iknp,
            prg,
            hash: CrHash::new(),
        })
    }

    /// The mirror of [`PoolSender::reserve`].
    pub fn reserve<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        n: usize,
    ) -> Result<(), ProtocolError> {
        let (iknp, prg) = (&mut self.iknp, &mut self.prg);
        self.pool.grow(ch, n, |ch, step, seed, spare| match step {
            Step::Iknp(m) => {
                let words = prg.words(m.div_ceil(64));
                let choices: Vec<bool> = (0..m)
                    .map(|i| (words[i / 64] >> (i % 64)) & 1 == 1)
                    .collect();
                let t = iknp.receive_correlated(ch, &choices)?;
                // x0 ⊕ c·Δ with the sender's x0 low bit cleared: c lands there.
                Ok(t.into_iter()
                    .zip(choices)
                    .map(|(t, c)| Block((t & NO_LSB).0 | u128::from(c)))
                    .collect())
            }
            Step::Silent(p) => ferret::receive(ch, &p, seed, spare),
        })
    }

    /// The mirror of [`PoolSender::bootstrap`].
    pub fn bootstrap<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
    ) -> Result<(), ProtocolError> {
        self.pool.booted = true;
        self.reserve(ch, 1)
    }

    /// The mirror of [`PoolSender::settle`].
    pub fn settle<T: Transport + ?Sized>(&mut self, ch: &mut Channel<T>) {
        self.pool.settle(ch, End::Receiver);
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
        self.pool.guarded(|pool| Ok(pool.spend(n)?.to_vec()))
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
            let t = pool.spend(n)?;
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
        let t = self.pool.guarded(|pool| {
            let t = pool.spend(choices.len())?.to_vec();
            let flips: Vec<bool> = t.iter().zip(choices).map(|(t, &c)| t.lsb() ^ c).collect();
            send_bits(ch, &flips)?;
            Ok(t)
        })?;
        self.settle(ch);
        Ok(t)
    }
}

/// Blocks hashed per batch of random OTs.
const CHUNK: usize = 1 << 14;

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

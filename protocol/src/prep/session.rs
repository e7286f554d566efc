//! The per-session pair of pooled OT instances, one in each direction.
//!
//! Each product that preprocessing makes has a cross term in each direction (a_0·b_1 and
//! a_1·b_0), so each party is OT sender in one instance and receiver in the other. Both
//! are set up once per client session, and their pools ([`crate::ot::pool`]) are filled by
//! IKNP or by silent OT as [`OtKind`] says; a generator first reserves what it spends, then
//! spends it without a message, the receiver's choices being its pool's own random bits.

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};

use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::material::OtKind;
use crate::ot::pool::bootstraps;
use crate::ot::{PoolReceiver, PoolSender, FLIGHT_OTS};
use crate::prg::{Prg, Seed};
use crate::ring::Ring;
use crate::share::Role;

use super::relu::{Pending, ReluPairs};

/// Random OTs of one call: the pairs (m0, m1) this party sent, the keys m{c} it got.
pub(super) type RandomOts = (Vec<(Block, Block)>, Vec<Block>);

/// One party's OT state for a client session: a sender pool (the peer receives) and a
/// receiver pool (the peer sends), and an OS-seeded PRG for this party's own random
/// shares. Not `Clone`: two copies would repeat OTs.
pub struct PrepSession {
    role: Role,
    kind: OtKind,
    /// ReLU draws whose corrections went out ahead, the peer's still to come: (candidates,
    /// width, draw), in layer order.
    pending: VecDeque<(usize, u32, Pending)>,
    /// ReLU pairs made ahead for this query's layers, in order, with their width.
    ahead: VecDeque<(u32, ReluPairs)>,
    sender: PoolSender,
    receiver: PoolReceiver,
    prg: Prg,
    poisoned: bool,
}

impl std::fmt::Debug for PrepSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrepSession")
            .field("role", &self.role)
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl PrepSession {
    /// Set-up: base OTs for both instances, the server's sender instance first (each party
    /// sends 32 + 4,096 bytes; two round trips), and under silent OT, when a query spends
    /// `per_query` OTs each way or more than renting is worth, both pools' bootstrap
    /// ([`bootstraps`]). The session's own shares later come from a generator seeded from
    /// `rng` now.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        role: Role,
        kind: OtKind,
        per_query: usize,
        rng: &mut (impl RngCore + CryptoRng + ?Sized),
    ) -> Result<Self, ProtocolError> {
        let mut prg = Prg::new(Seed::from_rng(rng));
        let boot = bootstraps(kind, per_query);
        let (sender, receiver) = match role {
            Role::Server => {
                let mut s = PoolSender::setup(ch, kind, &mut prg)?;
                if boot {
                    s.bootstrap(ch)?;
                }
                let mut r = PoolReceiver::setup(ch, kind, &mut prg)?;
                if boot {
                    r.bootstrap(ch)?;
                }
                (s, r)
            }
            Role::Client => {
                let mut r = PoolReceiver::setup(ch, kind, &mut prg)?;
                if boot {
                    r.bootstrap(ch)?;
                }
                let mut s = PoolSender::setup(ch, kind, &mut prg)?;
                if boot {
                    s.bootstrap(ch)?;
                }
                (s, r)
            }
        };
        Ok(PrepSession {
            role,
            kind,
            pending: VecDeque::new(),
            ahead: VecDeque::new(),
            sender,
            receiver,
            prg,
            poisoned: false,
        })
    }

    /// Payload bytes of [`PrepSession::setup`], both directions: base OTs each way, and
    /// both pools' bootstrap if it runs ([`PoolSender::bootstrap_bytes`]).
    pub fn setup_bytes(kind: OtKind, per_query: usize) -> u64 {
        let boot = u64::from(bootstraps(kind, per_query)) * PoolSender::bootstrap_bytes();
        2 * (32 + 4096 + boot)
    }

    /// Which party this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The kind of OT the pools grow by.
    pub fn kind(&self) -> OtKind {
        self.kind
    }

    /// Keeps a draw whose corrections went out ahead ([`super::relu::offer_pairs_ahead`]).
    pub(super) fn keep_pending(&mut self, n: usize, width: u32, draw: Pending) {
        self.pending.push_back((n, width, draw));
    }

    /// The oldest draw kept by [`PrepSession::keep_pending`].
    pub(super) fn next_pending(&mut self) -> Result<(usize, u32, Pending), ProtocolError> {
        self.pending.pop_front().ok_or(ProtocolError::Internal(
            "ReLU corrections taken ahead of any sent",
        ))
    }

    /// Keeps a layer's pairs made ahead ([`super::relu::take_pairs_ahead`]).
    pub(super) fn keep_ahead(&mut self, width: u32, pairs: ReluPairs) {
        self.ahead.push_back((width, pairs));
    }

    /// The next layer's pairs made ahead, if any were: they must be for `n` candidates at
    /// `width` bits, as the layer asks (anything else is a bug).
    pub fn pairs_ahead(
        &mut self,
        n: usize,
        width: u32,
    ) -> Result<Option<ReluPairs>, ProtocolError> {
        match self.ahead.pop_front() {
            None => Ok(None),
            Some((w, pairs)) if w == width && pairs.0.big_r.len() == n => Ok(Some(pairs)),
            Some(_) => Err(ProtocolError::Internal(
                "ReLU pairs made ahead for another layer",
            )),
        }
    }

    /// Runs one generator. A failure leaves the parties out of step (frames unread, OT
    /// counters apart), so the session refuses all later work: set up again.
    pub(super) fn guarded<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, ProtocolError>,
    ) -> Result<R, ProtocolError> {
        if self.poisoned {
            return Err(ProtocolError::Misuse(
                "an earlier preprocessing call failed: set up a new session",
            ));
        }
        let r = f(self);
        self.poisoned = r.is_err();
        r
    }

    /// Fills the pools until this party can send `send` OTs and receive `recv`; the peer
    /// calls with the mirrored counts. IKNP grows both pools in flights of at most
    /// [`FLIGHT_OTS`], each party first sending its matrix, so neither side has more than
    /// 16 MiB unread; silent OT grows the server's sender pool first.
    pub(super) fn reserve<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        send: usize,
        recv: usize,
    ) -> Result<(), ProtocolError> {
        let all = send.max(recv);
        let mut goal = 0;
        while goal < all {
            goal = (goal + FLIGHT_OTS).min(all);
            let (s, r) = (goal.min(send), goal.min(recv));
            match (self.kind, self.role) {
                (OtKind::Iknp, _) | (OtKind::Silent, Role::Client) => {
                    self.receiver.reserve(ch, r)?;
                    self.sender.reserve(ch, s)?;
                }
                (OtKind::Silent, Role::Server) => {
                    self.sender.reserve(ch, s)?;
                    self.receiver.reserve(ch, r)?;
                }
            }
        }
        Ok(())
    }

    /// The choice bits of the next `n` OTs this party receives (reserved first): the
    /// choices the random OTs of the next calls use.
    pub(super) fn own_choices(&self, n: usize) -> Result<Vec<bool>, ProtocolError> {
        self.receiver.peek_choices(n)
    }

    /// Random OTs both ways: `send` pairs (m0, m1) where this party sends, and the keys of
    /// `recv` OTs it receives, under its own choices ([`PrepSession::own_choices`] before
    /// tells them). The peer calls with the mirrored counts. Reserves first; no message
    /// beyond what reserving costs.
    pub(super) fn random_ots<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        send: usize,
        recv: usize,
    ) -> Result<RandomOts, ProtocolError> {
        self.reserve(ch, send, recv)?;
        let mut pairs = Vec::with_capacity(send);
        self.sender.random(send, |m0, m1| {
            pairs.extend(m0.iter().copied().zip(m1.iter().copied()));
        })?;
        let mut keys = Vec::with_capacity(recv);
        self.receiver.random(recv, |k| keys.extend_from_slice(k))?;
        self.settle(ch);
        Ok((pairs, keys))
    }

    /// [`PrepSession::random_ots`] keeping only each message's low bit, packed 64 to a
    /// word: (m0 as sender, m0 ⊕ m1 as sender, m{c} as receiver). No block is kept, so a
    /// batch of bits needs little memory beyond the pools.
    pub(super) fn random_bit_ots<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        send: usize,
        recv: usize,
    ) -> Result<[BitVec; 3], ProtocolError> {
        self.reserve(ch, send, recv)?;
        let (mut m0, mut diff) = (BitVec::with_capacity(send), BitVec::with_capacity(send));
        self.sender.random(send, |x0, x1| {
            for (a, b) in x0.iter().zip(x1) {
                m0.push(a.lsb());
                diff.push(a.lsb() ^ b.lsb());
            }
        })?;
        let mut chosen = BitVec::with_capacity(recv);
        self.receiver.random(recv, |keys| {
            keys.iter().for_each(|k| chosen.push(k.lsb()));
        })?;
        self.settle(ch);
        Ok([m0, diff, chosen])
    }

    /// Charges what the OTs spent carried (a silent extension's share) to the current
    /// scope, at both ends alike.
    fn settle<T: Transport + ?Sized>(&mut self, ch: &mut Channel<T>) {
        self.sender.settle(ch);
        self.receiver.settle(ch);
    }

    /// `n` uniform bits of this party's own.
    pub(super) fn bits(&mut self, n: usize) -> Vec<bool> {
        let words = self.prg.words(n.div_ceil(64));
        (0..n)
            .map(|i| (words[i / 64] >> (i % 64)) & 1 == 1)
            .collect()
    }

    /// `n` uniform ring elements of this party's own.
    pub(crate) fn ring_vec(&mut self, n: usize) -> Vec<Ring> {
        self.prg.ring_vec(n)
    }
}

/// The flights of a batch of `n` OTs: consecutive ranges of at most [`FLIGHT_OTS`].
pub(super) fn flights(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n)
        .step_by(FLIGHT_OTS)
        .map(move |start| start..n.min(start + FLIGHT_OTS))
}

/// Bits packed LSB-first into 64-bit words, appended one at a time.
#[derive(Debug, Default)]
pub(super) struct BitVec {
    pub(super) words: Vec<u64>,
    pub(super) len: usize,
}

impl BitVec {
    /// An empty vector with room for `bits`.
    pub(super) fn with_capacity(bits: usize) -> Self {
        BitVec {
            words: Vec::with_capacity(bits.div_ceil(64)),
            len: 0,
        }
    }

    /// Appends one bit.
    #[inline]
    pub(super) fn push(&mut self, bit: bool) {
        if self.len / 64 == self.words.len() {
            self.words.push(0);
        }
        if let Some(w) = self.words.last_mut() {
            *w |= u64::from(bit) << (self.len % 64);
        }
        self.len += 1;
    }
}

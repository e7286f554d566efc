//! The per-session pair of OT-extension instances, one in each direction.
//!
//! Each product that preprocessing makes has a cross term in each direction (a_0·b_1 and
//! a_1·b_0), so each party is extension sender in one instance and receiver in the other.
//! The base OTs of both run once per client session, at set-up.

use rand_core::{CryptoRng, RngCore};

use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::ot::{CotReceiver, CotSender, FLIGHT_OTS};
use crate::prg::{Prg, Seed};
use crate::ring::Ring;
use crate::share::Role;

/// Random OTs of one flight: the pairs (m0, m1) this party sent, the keys m{c} it chose.
pub(super) type RandomOts = (Vec<(Block, Block)>, Vec<Block>);

/// One party's OT state for a client session: a sender instance (the peer receives) and a
/// receiver instance (the peer sends), and an OS-seeded PRG for this party's own random
/// shares. Not `Clone`: two copies would repeat OTs.
pub struct PrepSession {
    role: Role,
    sender: CotSender,
    receiver: CotReceiver,
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
    /// Set-up: base OTs for both instances, the server's sender instance first. Each party
    /// sends 32 + 4,096 bytes; two round trips. The session's own shares later come from a
    /// generator seeded from `rng` now.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        role: Role,
        rng: &mut (impl RngCore + CryptoRng + ?Sized),
    ) -> Result<Self, ProtocolError> {
        let mut prg = Prg::new(Seed::from_rng(rng));
        let (sender, receiver) = match role {
            Role::Server => {
                let s = CotSender::setup(ch, &mut prg)?;
                (s, CotReceiver::setup(ch, &mut prg)?)
            }
            Role::Client => {
                let r = CotReceiver::setup(ch, &mut prg)?;
                (CotSender::setup(ch, &mut prg)?, r)
            }
        };
        Ok(PrepSession {
            role,
            sender,
            receiver,
            prg,
            poisoned: false,
        })
    }

    /// Which party this is.
    pub fn role(&self) -> Role {
        self.role
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

    /// Random OTs both ways in one flight: `send` pairs (m0, m1) where this party sends,
    /// and m{c} for each of `choices` where it receives. The peer calls with the mirrored
    /// counts. Each party first sends its matrix, then reads the peer's: 16 bytes per OT
    /// from the receiver. At most [`FLIGHT_OTS`] each way, so neither side has more than
    /// 16 MiB unread.
    pub(super) fn random_ots<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        send: usize,
        choices: &[bool],
    ) -> Result<RandomOts, ProtocolError> {
        if send > FLIGHT_OTS || choices.len() > FLIGHT_OTS {
            return Err(ProtocolError::Misuse(
                "more random OTs than one flight holds",
            ));
        }
        let keys = self.receiver.receive_random(ch, choices)?;
        let pairs = self.sender.send_random(ch, send)?;
        Ok((pairs, keys))
    }

    /// [`PrepSession::random_ots`] keeping only each message's low bit, packed 64 to a
    /// word: (m0 as sender, m0 ⊕ m1 as sender, m{c} as receiver). No block is kept, so a
    /// flight of bits needs no more than a few MiB.
    pub(super) fn random_bit_ots<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        send: usize,
        choices: &[bool],
    ) -> Result<[BitVec; 3], ProtocolError> {
        if send > FLIGHT_OTS || choices.len() > FLIGHT_OTS {
            return Err(ProtocolError::Misuse(
                "more random OTs than one flight holds",
            ));
        }
        let mut chosen = BitVec::with_capacity(choices.len());
        self.receiver.receive_random_chunks(ch, choices, |keys| {
            keys.iter().for_each(|k| chosen.push(k.lsb()));
        })?;
        let (mut m0, mut diff) = (BitVec::with_capacity(send), BitVec::with_capacity(send));
        self.sender.send_random_chunks(ch, send, |x0, x1| {
            for (a, b) in x0.iter().zip(x1) {
                m0.push(a.lsb());
                diff.push(a.lsb() ^ b.lsb());
            }
        })?;
        Ok([m0, diff, chosen])
    }

    /// `n` uniform bits of this party's own.
    pub(super) fn bits(&mut self, n: usize) -> Vec<bool> {
        let words = self.prg.words(n.div_ceil(64));
        (0..n)
            .map(|i| (words[i / 64] >> (i % 64)) & 1 == 1)
            .collect()
    }

    /// `n` uniform bits of this party's own, packed LSB-first (zero past `n`).
    pub(super) fn bit_words(&mut self, n: usize) -> Vec<u64> {
        let mut words = self.prg.words(n.div_ceil(64));
        if let (Some(last), 1..) = (words.last_mut(), n % 64) {
            *last &= (1u64 << (n % 64)) - 1;
        }
        words
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

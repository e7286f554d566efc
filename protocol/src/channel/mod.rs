//! The transport-agnostic channel that every protocol speaks to.
//!
//! A [`Transport`] moves whole frames (memory pipe in tests, QUIC in the binaries). A
//! [`Channel`] wraps one and adds what CONTRACT.md defines: an 8-byte round clock after
//! every frame (receiving sets the clock to max(local, stamp + 1)) and a [`Meter`] that
//! counts payload bytes and rounds per [`Scope`] (phase and layer). The stamp is framing,
//! not payload: it is not counted as protocol bytes.

mod mem;
mod meter;

pub use mem::MemTransport;
pub use meter::{link_cost, Meter, Phase, Scope, Tally};

use thiserror::Error;

use veil_circuits::Bits;

use crate::bitstream::{read_bits, BitWriter};
use crate::ring::Ring;

/// Why a channel could not move a frame.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The peer closed the connection or went away.
    #[error("the peer closed the connection")]
    Closed,
    /// No frame arrived within the transport's deadline.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// A frame was too short to hold its round stamp, or otherwise malformed.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    /// The transport failed underneath.
    #[error("transport failure: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a frame longer than the receiver's limit is refused (every transport says the same).
pub const TOO_LONG: &str = "frame longer than the maximum";

/// Moves whole frames to and from one peer, in order. A transport owns what it uses
/// (`'static`), so a channel over it can stand behind a trait object ([`Link`]).
pub trait Transport: Send + 'static {
    /// Queues one frame for the peer.
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError>;
    /// Queues one frame the caller gives away. A transport that can keep the buffer (an
    /// in-memory pipe, a QUIC stream) overrides this to queue it without a copy.
    fn send_owned(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        self.send(&frame)
    }
    /// Receives the next frame.
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError>;
    /// Pushes queued frames onto the wire.
    fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
    /// Ends this direction once the peer has every frame sent, so that a last message
    /// (a refusal, a goodbye) is not lost when the connection closes right after.
    fn finish(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
    /// Bytes the transport itself has moved on the wire, sent and received (framing and
    /// encryption included), where it can tell.
    fn wire_bytes(&self) -> Option<u64> {
        None
    }
    /// From now on refuses, before reading it, a frame from the peer longer than `max`
    /// bytes (`None`: the transport's own limit again). A session lowers it while a
    /// stranger's first message is due.
    fn limit_incoming(&mut self, _max: Option<usize>) {}
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        (**self).send(frame)
    }
    fn send_owned(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        (**self).send_owned(frame)
    }
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        (**self).recv()
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        (**self).flush()
    }
    fn finish(&mut self) -> Result<(), ChannelError> {
        (**self).finish()
    }
    fn wire_bytes(&self) -> Option<u64> {
        (**self).wire_bytes()
    }
    fn limit_incoming(&mut self, max: Option<usize>) {
        (**self).limit_incoming(max)
    }
}

/// A metered, round-clocked channel to one peer.
///
/// The transport may be unsized: `&mut Channel<QuicTransport>` coerces to
/// `&mut Channel<dyn Transport>` ([`Link`]), which is what the layer protocols take, so
/// that they can sit behind trait objects.
pub struct Channel<T: Transport + ?Sized = Box<dyn Transport>> {
    clock: u64,
    meter: Meter,
    // Last, so that the struct can be unsized over it.
    transport: T,
}

/// A channel over any transport: what protocols behind trait objects speak to.
pub type Link = Channel<dyn Transport>;

impl<T: Transport> Channel<T> {
    /// Wraps a transport; the clock starts at zero, in [`Scope::CONTROL`].
    pub fn new(transport: T) -> Self {
        Channel {
            clock: 0,
            meter: Meter::new(),
            transport,
        }
    }
}

impl<T: Transport + ?Sized> Channel<T> {
    /// Ends this direction once the peer has every frame ([`Transport::finish`]).
    pub fn finish(&mut self) -> Result<(), ChannelError> {
        self.transport.finish()
    }

    /// The transport underneath, e.g. to finish a stream before closing.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The round clock: the depth of the longest chain of messages that reached here.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// What has been counted so far.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Hands over what was counted and starts a fresh meter (in the control scope), so
    /// that each query of a session is reported on its own.
    pub fn take_meter(&mut self) -> Meter {
        self.meter.enter(Scope::CONTROL, self.clock);
        std::mem::take(&mut self.meter)
    }

    /// The transport's own wire count, if it keeps one.
    pub fn wire_bytes(&self) -> Option<u64> {
        self.transport.wire_bytes()
    }

    /// Where messages are counted now.
    pub fn scope(&self) -> Scope {
        self.meter.current()
    }

    /// Counts `sent` and `received` payload bytes in the current scope that no message
    /// carries now: a share of an earlier message apportioned by use
    /// ([`crate::ot::pool`]). The clock does not move.
    pub fn charge(&mut self, sent: u64, received: u64) {
        self.meter.charge(sent, received);
    }

    /// Counts what follows under `scope` until the next call.
    pub fn enter(&mut self, scope: Scope) {
        self.meter.enter(scope, self.clock);
    }

    /// Sends one message, stamped with the current clock. The stamp trails the payload,
    /// so the receiver takes it off without moving the payload. The payload is copied
    /// once, into the frame, which the transport then keeps without another copy.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        let mut frame = Vec::with_capacity(payload.len() + 8);
        frame.extend_from_slice(payload);
        frame.extend_from_slice(&self.clock.to_le_bytes());
        self.transport.send_owned(frame)?;
        self.meter.sent(payload.len() as u64, self.clock);
        Ok(())
    }

    /// Receives one message and advances the clock past the sender's stamp.
    pub fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.transport.flush()?;
        let mut frame = self.transport.recv()?;
        if frame.len() < 8 {
            return Err(ChannelError::Malformed(
                "frame shorter than its round stamp",
            ));
        }
        let at = frame.len() - 8;
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&frame[at..]);
        let stamp = u64::from_le_bytes(stamp);
        // A stamp far ahead of any real protocol is garbage, not a clock.
        if stamp > self.clock.saturating_add(1 << 32) {
            return Err(ChannelError::Malformed("round stamp out of range"));
        }
        self.clock = self.clock.max(stamp + 1);
        frame.truncate(at);
        self.meter.received(frame.len() as u64, self.clock);
        Ok(frame)
    }

    /// Pushes queued frames onto the wire.
    pub fn flush(&mut self) -> Result<(), ChannelError> {
        self.transport.flush()
    }

    /// Opens additive shares: sends `mine`, receives the peer's, returns the sums.
    /// Both parties call it at once; it costs one round.
    pub fn open_ring(&mut self, mine: &[Ring]) -> Result<Vec<Ring>, OpenError> {
        self.send(&ring_bytes(mine))?;
        let theirs = self.recv()?;
        let theirs = crate::codec::Reader::new(&theirs);
        let peer = read_exact_ring(theirs, mine.len())?;
        Ok(mine
            .iter()
            .zip(peer)
            .map(|(a, b)| a.wrapping_add(b))
            .collect())
    }

    /// Opens XOR-shared bit vectors and additive ring shares in one message: sends this
    /// party's shares, receives the peer's, returns the opened values. Both parties call it
    /// at once; it costs one round and `ceil(Σ bits / 8) + 8 · ring.len()` bytes each way.
    pub fn open_shares(
        &mut self,
        bits: &[&Bits],
        ring: &[Ring],
    ) -> Result<(Vec<Bits>, Vec<Ring>), OpenError> {
        let mut w = BitWriter::default();
        bits.iter().for_each(|b| w.push(b));
        let mut msg = w.into_bytes();
        msg.extend_from_slice(&ring_bytes(ring));
        self.send(&msg)?;
        let theirs = self.recv()?;
        let lens: Vec<usize> = bits.iter().map(|b| b.len).collect();
        let bit_bytes = lens.iter().sum::<usize>().div_ceil(8);
        let mut r = crate::codec::Reader::new(&theirs);
        let peer_bits = read_bits(r.take(bit_bytes, "bit shares")?, &lens)?;
        let peer_ring = read_exact_ring(r, ring.len())?;
        let opened_bits = bits
            .iter()
            .zip(&peer_bits)
            .map(|(a, b)| {
                a.xor(b).map_err(|_| crate::codec::DecodeError::Invalid {
                    what: "bit shares",
                    detail: "width mismatch".into(),
                })
            })
            .collect::<Result<_, _>>()?;
        let opened_ring = ring
            .iter()
            .zip(peer_ring)
            .map(|(a, b)| a.wrapping_add(b))
            .collect();
        Ok((opened_bits, opened_ring))
    }

    /// Reveals ring shares to the peer (one way): the peer calls [`Channel::receive_reveal`].
    pub fn reveal_ring(&mut self, mine: &[Ring]) -> Result<(), ChannelError> {
        self.send(&ring_bytes(mine))
    }

    /// Receives the peer's revealed shares and adds `mine`: the opened values.
    pub fn receive_reveal(&mut self, mine: &[Ring]) -> Result<Vec<Ring>, OpenError> {
        let theirs = self.recv()?;
        let peer = read_exact_ring(crate::codec::Reader::new(&theirs), mine.len())?;
        Ok(mine
            .iter()
            .zip(peer)
            .map(|(a, b)| a.wrapping_add(b))
            .collect())
    }
}

/// Why opening a shared value failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The channel failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The peer's shares did not have the agreed shape.
    #[error("the peer's shares were malformed: {0}")]
    Decode(#[from] crate::codec::DecodeError),
}

fn ring_bytes(v: &[Ring]) -> Vec<u8> {
    let mut w = crate::codec::Writer::with_capacity(v.len() * 8);
    w.ring(v);
    w.into_bytes()
}

fn read_exact_ring(
    mut r: crate::codec::Reader<'_>,
    n: usize,
) -> Result<Vec<Ring>, crate::codec::DecodeError> {
    let v = r.ring(n, "shares")?;
    r.finish()?;
    Ok(v)
}

#[cfg(test)]
mod tests;

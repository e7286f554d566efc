//! The label alone, by GMW: the index of the first largest of the final linear layer's
//! outputs, revealed to the client and to nobody else (under garbled circuits the same
//! circuit runs as a garbled layer: [`super::relu_gc`] with [`super::relu_gc::Circuit`]).
//!
//! The parties form every pairwise difference `x_i − x_j` (`i < j`) on their additive
//! shares, for free; the carry circuit's [`sign`] of each difference on full 64-bit
//! shares compares the pair exactly (while differences fit 63 bits, which logits in fixed
//! point are far from exceeding); [`label_bits`] turns the comparisons into the label's
//! bits on XOR shares. The server then sends its shares of those bits to the client
//! alone: the client opens the label, and the server's share of the layer's output is 0.
//!
//! Messages: `1 + ceil(log2 63)` AND batches of the sign circuit over the `m(m − 1)/2`
//! differences and `ceil(log2 (m − 1))` of the selection, each a message each way (2 bits
//! per AND), then one message server → client with the label's bits. Neither party sees
//! anything but values masked by one-time triples until the client opens the label; the
//! logits' shares never leave either party.

use veil_circuits::{label_bits, label_width, pairs, select_first_max, sign, Bits, Counter};

use super::{
    ClientCx, ClientMake, Clocks, Inputs, LayerProtocol, LayerSource, ServerCx, ServerMake,
};
use crate::bitstream::{read_bits, BitWriter};
use crate::channel::{Channel, Link, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::gmw::{input_wires, BitTriple, Gmw};
use crate::material::{Draw, LinearPrep, OtKind, Pair, Preprocessing};
use crate::plan::LinearWeights;
use crate::prep::{and_triples_of, ot_bytes, PairsAhead, PrepSession};
use crate::ring::Ring;
use crate::share::Role;
use crate::stored::Stored;

/// Width of the compared shares: the whole ring, so the comparison is exact.
const WIDTH: u32 = 64;

/// One party's AND triples for an argmax, in gate order ([`schedule`]).
pub struct ArgmaxShare {
    /// The triples.
    pub triples: Vec<BitTriple>,
}

redacted_debug!(ArgmaxShare, |s: &ArgmaxShare| s.triples.len());

impl Stored for ArgmaxShare {
    fn put(&self, w: &mut Writer) {
        self.triples.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ArgmaxShare {
            triples: Stored::get(r)?,
        })
    }
}

/// The layer's protocol over `m` values.
pub(crate) struct ArgmaxGmw {
    m: usize,
}

impl ArgmaxGmw {
    /// The label among `m ≥ 2` values.
    pub fn new(m: usize) -> ArgmaxGmw {
        ArgmaxGmw { m }
    }

    /// Each AND triple's width, in gate order.
    fn widths(&self) -> Vec<usize> {
        schedule(self.m)
            .into_iter()
            .flat_map(|(gates, width)| std::iter::repeat_n(width, gates))
            .collect()
    }

    fn make(&self, prep: &mut PrepSession, ch: &mut Link) -> Result<ArgmaxShare, ProtocolError> {
        Ok(ArgmaxShare {
            triples: and_triples_of(prep, ch, &self.widths())?,
        })
    }
}

/// The AND batches of an argmax over `m` values, in the order the protocol spends
/// triples: `(gates, width)`. The sign circuit runs on every difference side by side,
/// then the selection on single bits.
pub fn schedule(m: usize) -> Vec<(usize, usize)> {
    let mut tree = Counter::new();
    let wires = vec![tree.input(); WIDTH as usize];
    sign(&mut tree, &wires, &wires).expect("64 bits make a sign circuit");
    let mut select = Counter::new();
    let lt = vec![select.input(); pairs(m)];
    select_first_max(&mut select, m, &lt).expect("a label among at least two values");
    tree.batch_sizes()
        .iter()
        .map(|&g| (g, pairs(m)))
        .chain(select.batch_sizes().iter().map(|&g| (g, 1)))
        .collect()
}

/// AND gates of an argmax over `m` values (all widths summed).
pub fn and_gates(m: usize) -> usize {
    schedule(m).iter().map(|(g, w)| g * w).sum()
}

/// Bytes one party sends for its circuit, and the label's bytes (server → client).
fn bytes_sent(m: usize) -> (usize, usize) {
    let circuit = schedule(m)
        .iter()
        .map(|(g, w)| (2 * g * w).div_ceil(8))
        .sum();
    (circuit, label_width(m).div_ceil(8))
}

/// Material as it comes is what the online phase spends. Two-party bytes: two OTs per
/// AND lane, as GMW's triples ([`crate::prep`]).
impl LayerProtocol for ArgmaxGmw {
    const TAG: u8 = 3;
    type ServerSession = ();
    type ClientSession = ();
    type ServerMaterial = ArgmaxShare;
    type ClientMaterial = ArgmaxShare;
    type ServerReady = ArgmaxShare;
    type ClientReady = ArgmaxShare;

    fn online_cost(&self, clocks: &mut Clocks) -> u64 {
        (0..schedule(self.m).len()).for_each(|_| clocks.exchange());
        clocks.server_to_client();
        let (circuit, label) = bytes_sent(self.m);
        (2 * circuit + label) as u64
    }

    fn two_party_bytes(&self, _: LinearPrep, ot: OtKind) -> Result<u64, ProtocolError> {
        Ok(2 * ot_bytes(and_gates(self.m), ot) as u64)
    }

    fn server_setup(
        &self,
        _: &mut Link,
        _: Option<&LinearWeights>,
        _: LayerSource<'_>,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn client_setup(&self, _: &mut Link, _: Preprocessing) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn draw(&self, d: &mut Draw<'_>, _: Option<&[Ring]>) -> Result<Pair<ArgmaxShare>, DecodeError> {
        let (s, c) = d.triples(&self.widths())?;
        let wrap = |triples: Option<Vec<BitTriple>>| triples.map(|triples| ArgmaxShare { triples });
        Ok((wrap(s), wrap(c)))
    }

    fn spends(&self) -> Option<PairsAhead> {
        Some(PairsAhead {
            triples: and_gates(self.m),
            candidates: 0,
            width: WIDTH,
        })
    }

    fn server_make(
        &self,
        _: &(),
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
    ) -> Result<ArgmaxShare, ProtocolError> {
        self.make(cx.ot()?, ch)
    }

    fn client_make(
        &self,
        _: &(),
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
    ) -> Result<ArgmaxShare, ProtocolError> {
        self.make(cx.ot()?, ch)
    }

    fn server_offline(
        &self,
        _: &mut Link,
        _: &mut ServerCx<'_>,
        material: ArgmaxShare,
    ) -> Result<ArgmaxShare, ProtocolError> {
        Ok(material)
    }

    fn client_offline(
        &self,
        _: &mut Link,
        _: &mut ClientCx<'_>,
        _: &(),
        material: ArgmaxShare,
    ) -> Result<ArgmaxShare, ProtocolError> {
        Ok(material)
    }

    fn server_online(
        &self,
        ch: &mut Link,
        _: Option<&LinearWeights>,
        share: ArgmaxShare,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        let bits = label_shares(ch, Role::Server, self.m, share, input)?;
        let mut w = BitWriter::default();
        bits.iter().for_each(|b| w.push(b));
        ch.send(&w.into_bytes())?;
        Ok(vec![0])
    }

    fn client_online(
        &self,
        ch: &mut Link,
        share: ArgmaxShare,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        let mine = label_shares(ch, Role::Client, self.m, share, input)?;
        let msg = ch.recv()?;
        let theirs = read_bits(&msg, &vec![1; mine.len()])?;
        let label = mine.iter().zip(&theirs).enumerate().try_fold(
            0u64,
            |label, (t, (a, b))| -> Result<u64, ProtocolError> {
                Ok(label | (a.xor(b)?.get(0) as u64) << t)
            },
        )?;
        if label >= self.m as u64 {
            return Err(ProtocolError::Material(
                "the opened label is out of range: the peer's shares are not the protocol's".into(),
            ));
        }
        Ok(vec![label])
    }
}

/// This party's XOR shares of the label's bits (one bit each, LSB first) from its shares
/// of the `m` values.
fn label_shares<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    role: Role,
    m: usize,
    share: ArgmaxShare,
    input: Inputs<'_>,
) -> Result<Vec<Bits>, ProtocolError> {
    let x = input
        .x
        .ok_or(ProtocolError::Misuse("an argmax cannot come first"))?;
    if x.len() != m {
        return Err(ProtocolError::Misuse(
            "the argmax's input has the wrong length",
        ));
    }
    let differences: Vec<Ring> = (0..m)
        .flat_map(|i| (i + 1..m).map(move |j| x[i].wrapping_sub(x[j])))
        .collect();
    let (xw, yw) = input_wires(role, &differences, WIDTH);
    let mut gmw = Gmw::new(ch, role, share.triples);
    let negative = sign(&mut gmw, &xw, &yw)?;
    let lt: Vec<Bits> = (0..pairs(m)).map(|p| negative.range(p, 1)).collect();
    let bits = label_bits(&mut gmw, m, &lt)?;
    if !gmw.finish().0.is_empty() {
        return Err(ProtocolError::Material(
            "argmax material of the wrong size".into(),
        ));
    }
    Ok(bits)
}

#[cfg(test)]
mod tests;

//! ReLU with exact truncation by garbled circuits: the server garbles, the client evaluates.
//!
//! Setup, once per session: the server draws the garbling Δ and hash key, sends the key
//! (16 bytes), and the parties run 128 base OTs so that correlated OT extension yields
//! label pairs with offset Δ.
//!
//! Offline, per ReLU layer of n values (the client's share x_c of the layer's input is
//! already known then: it is `E·V + [UV]_c` of the linear layer before):
//! 1. client → server: correlated OT extension on the k low bits of x_c (16 bytes per
//!    OT): the client gets the labels of its own bits, the server only their 0-labels;
//! 2. server → client: the garbled `relu_shift` circuit (32 bytes per AND, 2k − 2 − f ANDs
//!    per value) and the output-to-share ciphertexts (16 bytes per output bit per value);
//!    the server keeps its output shares.
//!
//! Online: server → client the labels of the server's k bits (16·k bytes per value), one
//! round; the client evaluates and decrypts its output shares. The client sees labels and
//! ciphertexts only; the server sees OT messages only. The shift is wiring: the result is
//! `ReLU(x) >> f`, bit-exact with the reference as long as |x| < 2^(k−1).

use veil_circuits::{relu_shift, Bits, Counter};

use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::codec::{Reader, Writer};
use crate::error::ProtocolError;
use crate::gc::{Evaluator, Garbler, HashKey, AND_TABLE_BYTES};
use crate::ot::{CotReceiver, CotSender};
use crate::prg::Prg;
use crate::ring::{low_bits, FixedPoint, Ring};

/// Bytes of output-share ciphertext per output bit per value.
const SHARE_BYTES: usize = 16;

/// The server's garbling session: Δ, the hash key, and the OT extension keyed to Δ.
pub struct GcServer {
    garbler: Garbler,
    ot: CotSender,
    rng: Prg,
}

/// The client's evaluation session.
pub struct GcClient {
    evaluator: Evaluator,
    ot: CotReceiver,
}

/// What the server keeps of one garbled layer until the query's online phase.
pub struct GarbledRelu {
    /// 0-labels of the server's k input bits, one wire per bit.
    own: Vec<Vec<Block>>,
    /// The server's output shares.
    shares: Vec<Ring>,
}

/// What the client holds of one garbled layer for the online phase.
pub struct ReceivedRelu {
    labels: Vec<Vec<Block>>,
    tables: Vec<u8>,
    output: Vec<u8>,
}

/// ANDs per value of the garbled circuit.
pub fn and_gates(fixed: FixedPoint) -> usize {
    let mut c = Counter::new();
    let w = vec![c.input(); fixed.k as usize];
    relu_shift(&mut c, &w, &w, fixed.f as usize).expect("a validated FixedPoint fits");
    c.count().ands
}

/// Bytes the server sends offline per layer of `n` values (tables and output ciphertexts).
pub fn garbled_bytes(fixed: FixedPoint, n: usize) -> usize {
    let outputs = (fixed.k - 1 - fixed.f) as usize;
    n * (AND_TABLE_BYTES * and_gates(fixed) + SHARE_BYTES * outputs)
}

/// Bytes the server sends online per layer of `n` values: its input labels.
pub fn online_bytes(fixed: FixedPoint, n: usize) -> usize {
    16 * fixed.k as usize * n
}

/// The server's setup: fresh Δ and hash key, the key to the client, base OTs.
pub fn server_setup<T: Transport>(ch: &mut Channel<T>) -> Result<GcServer, ProtocolError> {
    let mut rng = Prg::from_os();
    let garbler = Garbler::new(&mut rng);
    ch.send(&garbler.hash_key().0)?;
    let ot = CotSender::setup_with_delta(ch, &mut rng, garbler.delta_for_ot())?;
    Ok(GcServer { garbler, ot, rng })
}

/// The client's setup: the hash key, base OTs.
pub fn client_setup<T: Transport>(ch: &mut Channel<T>) -> Result<GcClient, ProtocolError> {
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let key = HashKey(r.array("hash key")?);
    r.finish()?;
    let ot = CotReceiver::setup(ch, &mut Prg::from_os())?;
    Ok(GcClient {
        evaluator: Evaluator::new(key, Vec::new()),
        ot,
    })
}

/// The server's offline step for one layer of `n` values.
pub fn server_offline<T: Transport>(
    ch: &mut Channel<T>,
    gc: &mut GcServer,
    fixed: FixedPoint,
    n: usize,
) -> Result<GarbledRelu, ProtocolError> {
    let k = fixed.k as usize;
    let zero = gc.ot.send_correlated(ch, k * n)?;
    let client: Vec<Vec<Block>> = zero.chunks(n).map(<[Block]>::to_vec).collect();
    let own: Vec<Vec<Block>> = (0..k).map(|_| gc.garbler.input(n)).collect();
    let out = relu_shift(&mut gc.garbler, &own, &client, fixed.f as usize)?;
    let tables = gc.garbler.take_tables();
    let (shares, output) = gc.garbler.share_output(&out, &mut gc.rng)?;
    let mut w = Writer::with_capacity(tables.len() + output.len());
    w.bytes(&tables).bytes(&output);
    ch.send(&w.into_bytes())?;
    gc.garbler.recycle(tables);
    Ok(GarbledRelu { own, shares })
}

/// The client's offline step for one layer: OT on its share's bits, then the tables.
pub fn client_offline<T: Transport>(
    ch: &mut Channel<T>,
    gc: &mut GcClient,
    fixed: FixedPoint,
    x: &[Ring],
) -> Result<ReceivedRelu, ProtocolError> {
    let (k, n) = (fixed.k, x.len());
    let choices: Vec<bool> = (0..k)
        .flat_map(|i| x.iter().map(move |v| low_bits(*v, k) >> i & 1 == 1))
        .collect();
    let labels = gc.ot.receive_correlated(ch, &choices)?;
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let tables = r.take(AND_TABLE_BYTES * and_gates(fixed) * n, "garbled tables")?;
    let output = r.take(
        SHARE_BYTES * (k - 1 - fixed.f) as usize * n,
        "output ciphertexts",
    )?;
    r.finish()?;
    Ok(ReceivedRelu {
        labels: labels.chunks(n).map(<[Block]>::to_vec).collect(),
        tables: tables.to_vec(),
        output: output.to_vec(),
    })
}

/// The server's online step: sends the labels of its share's bits; returns its output
/// shares.
pub fn server_online<T: Transport>(
    ch: &mut Channel<T>,
    gc: &GcServer,
    fixed: FixedPoint,
    layer: GarbledRelu,
    x: &[Ring],
) -> Result<Vec<Ring>, ProtocolError> {
    let low: Vec<u64> = x.iter().map(|v| low_bits(*v, fixed.k)).collect();
    if layer.own.first().map(Vec::len) != Some(x.len()) {
        return Err(ProtocolError::Material(
            "garbled layer of the wrong width".into(),
        ));
    }
    let mut w = Writer::with_capacity(online_bytes(fixed, x.len()));
    for (i, zero) in layer.own.iter().enumerate() {
        for label in gc.garbler.encode(zero, &Bits::slice(&low, i as u32))? {
            w.bytes(&label.to_bytes());
        }
    }
    ch.send(&w.into_bytes())?;
    Ok(layer.shares)
}

/// The client's online step: receives the server's labels, evaluates, decrypts its
/// output shares.
pub fn client_online<T: Transport>(
    ch: &mut Channel<T>,
    gc: &mut GcClient,
    fixed: FixedPoint,
    layer: ReceivedRelu,
) -> Result<Vec<Ring>, ProtocolError> {
    let n = layer.labels.first().map_or(0, Vec::len);
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let bytes = r.take(online_bytes(fixed, n), "the server's input labels")?;
    r.finish()?;
    let labels: Vec<Block> = bytes
        .chunks_exact(16)
        .map(|c| Block::from_bytes(c.try_into().expect("16-byte chunks")))
        .collect();
    let server: Vec<Vec<Block>> = labels.chunks(n.max(1)).map(<[Block]>::to_vec).collect();
    gc.evaluator.extend_tables(&layer.tables);
    let out = relu_shift(&mut gc.evaluator, &server, &layer.labels, fixed.f as usize)?;
    gc.evaluator.receive_output_shares(&out, &layer.output)
}

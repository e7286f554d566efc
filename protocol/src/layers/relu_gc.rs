//! ReLU (of a window's maximum: max-pool with the ReLU folded in) with exact truncation by
//! garbled circuits: the server garbles, the client evaluates. A label-only answer's
//! argmax runs the same way over the final outputs ([`Circuit::Argmax`]).
//!
//! Setup, once per session: the server draws the garbling Δ and hash key, sends the key
//! (16 bytes), and the parties run 128 base OTs so that correlated OT extension yields
//! label pairs with offset Δ.
//!
//! Offline, per layer of n outputs with m candidates each (the client's share x_c of the
//! layer's input is already known then: it is `E·V + [UV]_c` of the linear layer before):
//! 1. client → server: correlated OT extension on the k low bits of each candidate of x_c
//!    (16 bytes per OT): the client gets the labels of its own bits, the server only their
//!    0-labels;
//! 2. server → client: the garbled `max_relu_shift` circuit (32 bytes per AND; 2k − 2 − f
//!    ANDs per value for a ReLU) and the output-to-share ciphertexts (16 bytes per output
//!    bit per output); the server keeps its output shares.
//!
//! Online: server → client the labels of the server's k bits of each candidate (16·k
//! bytes per candidate), one round; the client evaluates and decrypts its output shares. The client sees labels and
//! ciphertexts only; the server sees OT messages only. The shift is wiring: the result is
//! `ReLU(x) >> f`, bit-exact with the reference as long as |x| < 2^(k−1).

use veil_circuits::{argmax, label_width, max_relu_shift, Backend, Bits, Counter};

use rand_core::{CryptoRng, RngCore};

use super::{
    ClientCx, ClientMake, Clocks, Inputs, LayerProtocol, LayerSource, ServerCx, ServerMake,
};
use crate::block::Block;
use crate::channel::{Channel, Link, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::gc::{Encoder, Evaluator, Garbler, HashKey, AND_TABLE_BYTES};
use crate::material::OtKind;
use crate::material::{Draw, Pair, Preprocessing};
use crate::ot::pool::bootstraps;
use crate::ot::{PoolReceiver, PoolSender};
use crate::plan::{LayerKind, LinearWeights, Windows};
use crate::ring::{low_bits, FixedPoint, Ring};
use crate::stored::{get_bytes, put_bytes, Stored};

/// Bytes of output-share ciphertext per output bit per value.
const SHARE_BYTES: usize = 16;

/// The server's garbling session: Δ, the hash key, and the OT extension keyed to Δ.
pub struct GcServer {
    garbler: Garbler,
    ot: PoolSender,
}

/// The client's evaluation session: the hash key, the OT extension, and the garbler's
/// counters after the tables received so far (where the next layer's evaluation starts).
pub struct GcClient {
    key: HashKey,
    ot: PoolReceiver,
    ands: u64,
    outputs: u64,
}

/// Wires of one layer's inputs: `[candidate][bit]`, each wire one label per output.
type Candidates = Vec<Vec<Vec<Block>>>;

/// What the server keeps of one garbled layer until the query's online phase: all it
/// needs then, so it can wait apart from the session (on disk, for a later connection).
pub struct GarbledRelu {
    /// Encodes the server's input bits (Δ).
    encoder: Encoder,
    /// 0-labels of the server's k input bits, per candidate.
    own: Candidates,
    /// The server's output shares.
    shares: Vec<Ring>,
}

/// What the client holds of one garbled layer for the online phase: all it needs then,
/// including where in the session's tweak sequence its tables start.
pub struct ReceivedRelu {
    key: HashKey,
    /// The garbler's AND and output counters when it garbled this layer.
    ands: u64,
    outputs: u64,
    /// Labels of the client's k input bits, per candidate.
    labels: Candidates,
    /// The received message, cut down to the tables: handed to the evaluator as it is.
    tables: Vec<u8>,
    output: Vec<u8>,
}

impl Stored for GarbledRelu {
    fn put(&self, w: &mut Writer) {
        self.encoder.put(w);
        self.own.put(w);
        self.shares.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(GarbledRelu {
            encoder: Stored::get(r)?,
            own: Stored::get(r)?,
            shares: Stored::get(r)?,
        })
    }
}

impl Stored for ReceivedRelu {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.key.0).u64(self.ands).u64(self.outputs);
        self.labels.put(w);
        put_bytes(w, &self.tables);
        put_bytes(w, &self.output);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ReceivedRelu {
            key: HashKey(r.array("hash key")?),
            ands: r.u64("AND counter")?,
            outputs: r.u64("output counter")?,
            labels: Stored::get(r)?,
            tables: get_bytes(r, "garbled tables")?,
            output: get_bytes(r, "output ciphertexts")?,
        })
    }
}

/// The circuit a garbled layer runs on its candidates' two shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Circuit {
    /// `ReLU(max of each window) >> f` on the low k bits ([`max_relu_shift`]).
    MaxReluShift(FixedPoint),
    /// The label of the `m` candidates on whole 64-bit shares ([`argmax`]).
    Argmax,
}

impl Circuit {
    /// The circuit of a non-linear layer kind.
    pub fn of(kind: &LayerKind, fixed: FixedPoint) -> Circuit {
        match kind {
            LayerKind::Argmax { .. } => Circuit::Argmax,
            _ => Circuit::MaxReluShift(fixed),
        }
    }

    /// Bits of each candidate's share that the circuit reads.
    pub fn input_bits(self) -> u32 {
        match self {
            Circuit::MaxReluShift(fixed) => fixed.k,
            Circuit::Argmax => 64,
        }
    }

    /// Output bits per output, with `m` candidates each.
    fn output_bits(self, m: usize) -> usize {
        match self {
            Circuit::MaxReluShift(fixed) => (fixed.k - 1 - fixed.f) as usize,
            Circuit::Argmax => label_width(m),
        }
    }

    /// Runs the circuit on the candidates' shares `x[i]`, `y[i]` (`input_bits` wires each).
    fn run<B: Backend>(
        self,
        b: &mut B,
        x: &[Vec<B::Wire>],
        y: &[Vec<B::Wire>],
    ) -> Result<Vec<B::Wire>, B::Error> {
        match self {
            Circuit::MaxReluShift(fixed) => max_relu_shift(b, x, y, fixed.f as usize),
            Circuit::Argmax => argmax(b, x, y),
        }
    }
}

/// The layer's protocol: its circuit and windows (one candidate each for a ReLU, every
/// output a candidate for an argmax).
pub(crate) struct ReluGc {
    circuit: Circuit,
    windows: Windows,
}

impl ReluGc {
    /// The protocol of a layer with these windows.
    pub fn new(circuit: Circuit, windows: Windows) -> ReluGc {
        ReluGc { circuit, windows }
    }
}

/// No material from either source (the parties garble and run OT in the offline step)
/// and no setup of its own: the session's garbling setup is shared by every garbled layer.
impl LayerProtocol for ReluGc {
    const TAG: u8 = 2;
    type ServerSession = ();
    type ClientSession = ();
    type ServerMaterial = ();
    type ClientMaterial = ();
    type ServerReady = GarbledRelu;
    type ClientReady = ReceivedRelu;

    fn online_cost(&self, clocks: &mut Clocks) -> u64 {
        clocks.server_to_client();
        online_bytes(self.circuit, self.windows.index.len()) as u64
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

    fn draw(&self, _: &mut Draw<'_>, _: Option<&[Ring]>) -> Result<Pair<()>, DecodeError> {
        Ok((Some(()), Some(())))
    }

    fn server_make(
        &self,
        _: &(),
        _: &mut ServerMake<'_>,
        _: &mut Link,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn client_make(
        &self,
        _: &(),
        _: &mut ClientMake<'_>,
        _: &mut Link,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn server_offline(
        &self,
        ch: &mut Link,
        cx: &mut ServerCx<'_>,
        _: (),
    ) -> Result<GarbledRelu, ProtocolError> {
        let shape = (self.windows.m, self.windows.outputs());
        let gc = cx.gc.as_deref_mut().ok_or(super::GC_MISSING)?;
        server_offline(ch, gc, self.circuit, shape, &mut *cx.rng)
    }

    fn client_offline(
        &self,
        ch: &mut Link,
        cx: &mut ClientCx<'_>,
        _: &(),
        _: (),
    ) -> Result<ReceivedRelu, ProtocolError> {
        // The layer's input share is the preceding linear layer's, known offline.
        let x = cx
            .input
            .ok_or(ProtocolError::Misuse("a ReLU must follow a linear layer"))?;
        let gc = cx.gc.as_deref_mut().ok_or(super::GC_MISSING)?;
        client_offline(ch, gc, self.circuit, &self.windows, x)
    }

    fn server_online(
        &self,
        ch: &mut Link,
        _: Option<&LinearWeights>,
        layer: GarbledRelu,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        let x = input
            .x
            .ok_or(ProtocolError::Misuse("ReLU cannot come first"))?;
        server_online(ch, self.circuit, &self.windows, layer, x)
    }

    fn client_online(
        &self,
        ch: &mut Link,
        layer: ReceivedRelu,
        _: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        client_online(ch, self.circuit, self.windows.m, layer)
    }
}

/// ANDs per output of the garbled circuit with `m` candidates.
pub fn and_gates(circuit: Circuit, m: usize) -> usize {
    let mut c = Counter::new();
    let w = vec![vec![c.input(); circuit.input_bits() as usize]; m];
    circuit
        .run(&mut c, &w, &w)
        .expect("a validated plan's circuit fits its inputs");
    c.count().ands
}

/// Bytes the server sends offline per layer of `n` outputs with `m` candidates (tables
/// and output ciphertexts).
pub fn garbled_bytes(circuit: Circuit, m: usize, n: usize) -> usize {
    n * (AND_TABLE_BYTES * and_gates(circuit, m) + SHARE_BYTES * circuit.output_bits(m))
}

/// Bytes the server sends online per layer of `c` candidates: its input labels.
pub fn online_bytes(circuit: Circuit, c: usize) -> usize {
    16 * circuit.input_bits() as usize * c
}

/// Splits `k` bit-sliced wires laid end to end in `flat` (wire `i` at `i·c`, each
/// candidate-major: candidate `j` at `j·n` within it, `c = m·n`) into `[candidate][bit]`.
/// The one copy the circuit's owned wires need.
fn per_candidate(flat: &[Block], k: usize, m: usize) -> Candidates {
    let c = flat.len() / k.max(1);
    let n = c / m.max(1);
    (0..m)
        .map(|j| {
            (0..k)
                .map(|i| flat[i * c + j * n..i * c + (j + 1) * n].to_vec())
                .collect()
        })
        .collect()
}

/// The width of a layer's wires (outputs per candidate).
fn wire_width(wires: &Candidates) -> usize {
    wires.first().and_then(|c| c.first()).map_or(0, Vec::len)
}

impl GcServer {
    /// The server's setup: fresh Δ and hash key from `rng`, the key to the client, base
    /// OTs for the client's input labels, made as `kind` says (a silent pool bootstraps
    /// now if a query's `labels` call for it).
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        kind: OtKind,
        labels: usize,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<GcServer, ProtocolError> {
        let garbler = Garbler::new(rng);
        ch.send(&garbler.hash_key().0)?;
        let mut ot = garbler.ot_sender(ch, kind, rng)?;
        if bootstraps(kind, labels) {
            ot.bootstrap(ch)?;
        }
        Ok(GcServer { garbler, ot })
    }
}

impl GcClient {
    /// The client's setup: the hash key, base OTs, as the server's.
    pub fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        kind: OtKind,
        labels: usize,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<GcClient, ProtocolError> {
        let msg = ch.recv()?;
        let mut r = Reader::new(&msg);
        let key = HashKey(r.array("hash key")?);
        r.finish()?;
        let mut ot = PoolReceiver::setup(ch, kind, rng)?;
        if bootstraps(kind, labels) {
            ot.bootstrap(ch)?;
        }
        Ok(GcClient {
            key,
            ot,
            ands: 0,
            outputs: 0,
        })
    }
}

/// The server's offline step for one layer of `n` outputs with `m` candidates each; its
/// output shares are drawn from `rng`.
pub(crate) fn server_offline<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    gc: &mut GcServer,
    circuit: Circuit,
    (m, n): (usize, usize),
    rng: &mut (impl RngCore + CryptoRng + ?Sized),
) -> Result<GarbledRelu, ProtocolError> {
    let (k, c) = (circuit.input_bits() as usize, m * n);
    let zero = gc.ot.send_chosen(ch, k * c)?;
    let client = per_candidate(&zero, k, m);
    let own: Candidates = (0..m)
        .map(|_| (0..k).map(|_| gc.garbler.input(n)).collect())
        .collect();
    let out = circuit.run(&mut gc.garbler, &own, &client)?;
    // The message is the tables with the output ciphertexts appended, sent from the
    // garbler's own buffer, which it then writes the next layer's tables into.
    let mut msg = gc.garbler.take_tables();
    let (shares, output) = gc.garbler.share_output(&out, rng)?;
    msg.extend_from_slice(&output);
    ch.send(&msg)?;
    gc.garbler.recycle(msg);
    Ok(GarbledRelu {
        encoder: gc.garbler.encoder(),
        own,
        shares,
    })
}

/// The client's offline step for one layer: OT on its share's bits (its share `x` of the
/// layer's input, gathered by `windows`), then the tables.
pub(crate) fn client_offline<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    gc: &mut GcClient,
    circuit: Circuit,
    windows: &Windows,
    x: &[Ring],
) -> Result<ReceivedRelu, ProtocolError> {
    let k = circuit.input_bits();
    let (m, n) = (windows.m, windows.outputs());
    let candidates = windows.gather(x);
    let choices: Vec<bool> = (0..k)
        .flat_map(|i| {
            candidates
                .iter()
                .map(move |v| low_bits(*v, k) >> i & 1 == 1)
        })
        .collect();
    let labels = gc.ot.receive_chosen(ch, &choices)?;
    // The layer's ANDs and output bits: its table sizes and how far the garbler's
    // counters move.
    let (layer_ands, layer_outputs) = (and_gates(circuit, m) * n, circuit.output_bits(m) * n);
    let mut msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let tables = r.take(AND_TABLE_BYTES * layer_ands, "garbled tables")?;
    r.take(SHARE_BYTES * layer_outputs, "output ciphertexts")?;
    r.finish()?;
    // Keep the message as the tables; copy out only the (small) output ciphertexts.
    let output = msg.split_off(tables.len());
    let (ands, outputs) = (gc.ands, gc.outputs);
    gc.ands += layer_ands as u64;
    gc.outputs += layer_outputs as u64;
    Ok(ReceivedRelu {
        key: gc.key,
        ands,
        outputs,
        labels: per_candidate(&labels, k as usize, m),
        tables: msg,
        output,
    })
}

/// The server's online step: sends the labels of its share's bits (its share `x` of the
/// layer's input, gathered by `windows`); returns its output shares.
pub(crate) fn server_online<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    circuit: Circuit,
    windows: &Windows,
    layer: GarbledRelu,
    x: &[Ring],
) -> Result<Vec<Ring>, ProtocolError> {
    if windows.index.iter().any(|&i| i >= x.len()) {
        return Err(ProtocolError::Misuse("the layer's input is too short"));
    }
    let low: Vec<u64> = windows
        .gather(x)
        .iter()
        .map(|v| low_bits(*v, circuit.input_bits()))
        .collect();
    let n = wire_width(&layer.own);
    if layer.own.len() * n != low.len() {
        return Err(ProtocolError::Material(
            "garbled layer of the wrong width".into(),
        ));
    }
    // Bit-major, then candidate-major: the order of the bit-sliced wires over all candidates.
    let mut w = Writer::with_capacity(online_bytes(circuit, low.len()));
    for i in 0..circuit.input_bits() as usize {
        for (zero, low) in layer.own.iter().zip(low.chunks(n.max(1))) {
            let zero = zero.get(i).ok_or(ProtocolError::Material(
                "garbled layer of the wrong width".into(),
            ))?;
            for label in layer.encoder.encode(zero, &Bits::slice(low, i as u32))? {
                w.bytes(&label.to_bytes());
            }
        }
    }
    ch.send(&w.into_bytes())?;
    Ok(layer.shares)
}

/// The client's online step: receives the server's labels, evaluates, decrypts its
/// output shares.
pub(crate) fn client_online<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    circuit: Circuit,
    m: usize,
    layer: ReceivedRelu,
) -> Result<Vec<Ring>, ProtocolError> {
    if layer.labels.len() != m {
        return Err(ProtocolError::Misuse(
            "a garbled layer spent with another window size",
        ));
    }
    let n = wire_width(&layer.labels);
    let (k, c) = (circuit.input_bits() as usize, layer.labels.len() * n);
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let bytes = r.take(online_bytes(circuit, c), "the server's input labels")?;
    r.finish()?;
    // Bit-major, then candidate-major, as the server sent them: straight into
    // `[candidate][bit]`.
    let label = |i: usize, j: usize, e: usize| {
        let at = 16 * (i * c + j * n + e);
        let mut b = [0u8; 16];
        b.copy_from_slice(&bytes[at..at + 16]);
        Block::from_bytes(b)
    };
    let server: Candidates = (0..layer.labels.len())
        .map(|j| {
            (0..k)
                .map(|i| (0..n).map(|e| label(i, j, e)).collect())
                .collect()
        })
        .collect();
    let mut evaluator = Evaluator::resume(layer.key, layer.tables, layer.ands, layer.outputs);
    let out = circuit.run(&mut evaluator, &server, &layer.labels)?;
    let shares = evaluator.receive_output_shares(&out, &layer.output)?;
    evaluator.finish()?;
    Ok(shares)
}

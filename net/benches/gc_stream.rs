//! Streamed garbling over QUIC on loopback: the garbler garbles a layer of 2^20 independent
//! ANDs as 16 batches of 16 gates × 4096 elements and sends each batch's tables (2 MiB,
//! 32 bytes per AND) as soon as they are produced over a real QUIC connection
//! ([`QuicTransport`] under a [`Channel`]); the evaluator, on another thread, receives and
//! evaluates them as they arrive. Three threads per side of the pipeline: the garbler, a
//! sender (so garbling batch i + 1 overlaps sending batch i) and the evaluator, plus the
//! Tokio workers that drive QUIC.
//!
//! Per iteration the garbler also draws fresh 0-labels for the layer's 8 input wires and
//! sends the evaluator the labels of random bits (8 × 4096 × 16 bytes = 512 KiB, 1.6 % of
//! the 32 MiB of tables). The connection is set up once, outside the timed loop; before
//! timing, one checked layer decodes a few outputs of every batch against plaintext.
//! Throughput is counted in ANDs.
//!
//! Two baselines on the same connection carry the same bytes (a layer's tables) with no
//! garbling: `tables_only`, ready-made 2 MiB frames through the same channels, and
//! `quinn_stream`, one quinn stream written and read directly. They are the ceiling the
//! link sets on this machine.
// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::Runtime;
use veil_circuits::{Backend, Bits};
use veil_net::{connect, Connection, Identity, KnownHosts, Listener, QuicTransport};
use veil_protocol::block::Block;
use veil_protocol::channel::Channel;
use veil_protocol::gc::{Evaluator, Garbler, AND_TABLE_BYTES};
use veil_protocol::prg::{Prg, Seed};

/// The binaries' allocator, so that these figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gates per `and_batch` (one frame of tables each).
const GATES: usize = 16;
/// Elements per wire.
const ELEMENTS: usize = 4096;
/// Batches per layer (per timed iteration).
const BATCHES: usize = 16;
/// ANDs per layer: 2^20.
const ANDS: usize = GATES * ELEMENTS * BATCHES;
/// Input wires of the layer; gate `g` ANDs two of them (16 distinct pairs).
const WIRES: usize = 8;
/// Outputs per batch decoded in the checked layer.
const CHECKED: usize = 64;

/// The two input wires of gate `g`.
fn operands(g: usize) -> (usize, usize) {
    let a = g % WIRES;
    (a, (a + 1 + g / WIRES) % WIRES)
}

fn pairs(wires: &[Vec<Block>]) -> Vec<(&Vec<Block>, &Vec<Block>)> {
    (0..GATES)
        .map(|g| {
            let (a, b) = operands(g);
            (&wires[a], &wires[b])
        })
        .collect()
}

fn labels_to_bytes(wires: &[Vec<Block>]) -> Vec<u8> {
    wires.iter().flatten().flat_map(|l| l.to_bytes()).collect()
}

fn labels_from_bytes(bytes: &[u8]) -> Vec<Vec<Block>> {
    assert_eq!(bytes.len(), 16 * WIRES * ELEMENTS, "input labels");
    bytes
        .chunks_exact(16 * ELEMENTS)
        .map(|w| {
            w.chunks_exact(16)
                .map(|c| Block::from_bytes(c.try_into().unwrap()))
                .collect()
        })
        .collect()
}

fn bits_to_bytes(bits: &Bits) -> Vec<u8> {
    bits.words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn bits_from_bytes(bytes: &[u8], len: usize) -> Bits {
    let words = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Bits { words, len }
}

/// The garbling side: its session, its rng and its end of the connection.
struct GarbleSide {
    garbler: Garbler,
    rng: Prg,
    channel: Channel<QuicTransport>,
}

/// The evaluating side: its session and its end of the connection.
struct EvalSide {
    evaluator: Evaluator,
    channel: Channel<QuicTransport>,
}

/// One layer, garbler side. The garbler thread garbles and hands each message to a
/// sender thread, which returns spent table buffers for reuse. With `check` it also
/// sends, after each batch's tables, the input bits in the clear and the colour bits of
/// the first [`CHECKED`] elements of every gate.
fn garble_layer(side: &mut GarbleSide, check: bool) {
    let GarbleSide {
        garbler,
        rng,
        channel,
    } = side;
    let (to_send, queued) = mpsc::sync_channel::<Vec<u8>>(2);
    let (give_back, spent) = mpsc::channel::<Vec<u8>>();
    thread::scope(|s| {
        s.spawn(move || {
            for msg in queued {
                channel.send(&msg).expect("send");
                let _ = give_back.send(msg);
            }
        });
        let zero: Vec<Vec<Block>> = (0..WIRES).map(|_| garbler.input(ELEMENTS)).collect();
        let bits: Vec<Bits> = (0..WIRES)
            .map(|_| Bits {
                words: rng.words(ELEMENTS / 64),
                len: ELEMENTS,
            })
            .collect();
        let active: Vec<Vec<Block>> = zero
            .iter()
            .zip(&bits)
            .map(|(z, b)| garbler.encode(z, b).expect("encode"))
            .collect();
        to_send.send(labels_to_bytes(&active)).unwrap();
        let gates = pairs(&zero);
        for _ in 0..BATCHES {
            if let Ok(buf) = spent.try_recv() {
                garbler.recycle(buf);
            }
            let out = garbler.and_batch(&gates).expect("garble");
            to_send.send(garbler.take_tables()).unwrap();
            if check {
                let mut msg: Vec<u8> = bits.iter().flat_map(bits_to_bytes).collect();
                for wire in &out {
                    msg.extend(bits_to_bytes(&garbler.decode_bits(&wire[..CHECKED])));
                }
                to_send.send(msg).unwrap();
            }
        }
        drop(to_send);
    });
}

/// One layer, evaluator side; with `check`, asserts the decoded outputs of every batch
/// equal the plaintext ANDs. Returns how many outputs it checked.
fn evaluate_layer(side: &mut EvalSide, check: bool) -> usize {
    let EvalSide { evaluator, channel } = side;
    let active = labels_from_bytes(&channel.recv().expect("labels"));
    let gates = pairs(&active);
    let mut checked = 0;
    for _ in 0..BATCHES {
        let tables = channel.recv().expect("tables");
        assert_eq!(tables.len(), GATES * ELEMENTS * AND_TABLE_BYTES);
        evaluator.push_tables(tables);
        let out = evaluator.and_batch(&gates).expect("evaluate");
        if check {
            let msg = channel.recv().expect("check");
            let (inputs, colours) = msg.split_at(WIRES * ELEMENTS / 8);
            let bits: Vec<Bits> = inputs
                .chunks_exact(ELEMENTS / 8)
                .map(|b| bits_from_bytes(b, ELEMENTS))
                .collect();
            for (g, (wire, c)) in out
                .iter()
                .zip(colours.chunks_exact(CHECKED / 8))
                .enumerate()
            {
                let got = evaluator
                    .decode(&wire[..CHECKED], &bits_from_bytes(c, CHECKED))
                    .expect("decode");
                let (a, b) = operands(g);
                for e in 0..CHECKED {
                    assert_eq!(
                        got.get(e),
                        bits[a].get(e) & bits[b].get(e),
                        "gate {g} e {e}"
                    );
                }
                checked += CHECKED;
            }
        }
    }
    checked
}

/// Both sides of one layer at once.
fn layer(garble: &mut GarbleSide, eval: &mut EvalSide, check: bool) -> usize {
    thread::scope(|s| {
        s.spawn(|| garble_layer(garble, check));
        evaluate_layer(eval, check)
    })
}

/// A layer's worth of table frames, made once, through the channels: the transport's
/// own ceiling.
fn tables_only(send: &mut Channel<QuicTransport>, recv: &mut Channel<QuicTransport>, frame: &[u8]) {
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..BATCHES {
                send.send(frame).expect("send");
            }
            send.flush().expect("flush");
        });
        for _ in 0..BATCHES {
            assert_eq!(recv.recv().expect("frame").len(), frame.len());
        }
    });
}

/// The same bytes on a fresh quinn stream, written and read directly: quinn's ceiling.
fn quinn_stream(rt: &Runtime, from: &quinn::Connection, to: &quinn::Connection, frame: Arc<[u8]>) {
    let (from, to) = (from.clone(), to.clone());
    rt.block_on(async move {
        let writer = tokio::spawn(async move {
            let (mut send, _recv) = from.open_bi().await.expect("open");
            for _ in 0..BATCHES {
                send.write_all(&frame).await.expect("write");
            }
            send.finish().expect("finish");
            let _ = send.stopped().await;
        });
        let (_send, mut recv) = to.accept_bi().await.expect("accept");
        let mut got = 0;
        while let Some(chunk) = recv.read_chunk(usize::MAX, true).await.expect("read") {
            got += chunk.bytes.len();
        }
        assert_eq!(got, BATCHES * GATES * ELEMENTS * AND_TABLE_BYTES);
        writer.await.expect("writer");
    });
}

/// What must outlive the channels: the runtime driving QUIC, the listener and both ends
/// of the connection (the client's holds its endpoint).
type Link = (Runtime, Listener, Connection, Connection);

/// A QUIC connection on loopback and one channel over it for each side.
fn setup() -> (Link, GarbleSide, EvalSide) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server_id = Identity::ephemeral("server").unwrap();
    let client_id = Identity::ephemeral("client").unwrap();
    let loopback = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0);
    let (listener, client, server) = rt.block_on(async {
        let listener = Listener::bind(loopback, &server_id).unwrap();
        let addr = listener.local_addr().unwrap();
        let name = addr.to_string();
        let pins = KnownHosts::in_memory();
        let _pinned = pins.pin(&name, server_id.fingerprint()).unwrap();
        let timeout = Duration::from_secs(5);
        let (client, server) = tokio::join!(
            connect(addr, &name, &client_id, &pins, timeout),
            listener.accept()
        );
        (listener, client.unwrap(), server.unwrap())
    });
    // The server garbles, the client evaluates.
    let garbler_end = QuicTransport::open(&server, rt.handle().clone()).unwrap();
    let evaluator_end = QuicTransport::accept(&client, rt.handle().clone()).unwrap();
    let mut rng = Prg::new(Seed([7; 16]));
    let garbler = Garbler::new(&mut rng);
    let evaluator = Evaluator::new(garbler.hash_key(), Vec::new());
    let garble = GarbleSide {
        garbler,
        rng,
        channel: Channel::new(garbler_end),
    };
    let eval = EvalSide {
        evaluator,
        channel: Channel::new(evaluator_end),
    };
    ((rt, listener, client, server), garble, eval)
}

fn bench_gc_stream(c: &mut Criterion) {
    let (link, mut garble, mut eval) = setup();

    // One checked layer first: the bench must not time garbage.
    let checked = layer(&mut garble, &mut eval, true);
    assert_eq!(checked, BATCHES * GATES * CHECKED);

    // Bytes on the wire per AND, from one unchecked layer (QUIC framing included).
    let before = garble.channel.wire_bytes().unwrap_or(0);
    layer(&mut garble, &mut eval, false);
    let after = garble.channel.wire_bytes().unwrap_or(0);
    eprintln!(
        "gc_stream: {:.2} wire bytes per AND ({} table bytes per AND, plus input labels and QUIC overhead)",
        after.saturating_sub(before) as f64 / ANDS as f64,
        AND_TABLE_BYTES
    );

    let mut group = c.benchmark_group(format!("gc_stream_{BATCHES}x{GATES}x{ELEMENTS}"));
    group.throughput(Throughput::Elements(ANDS as u64));
    group.sample_size(20);
    group.bench_function("quic_loopback", |b| {
        b.iter(|| layer(&mut garble, &mut eval, false))
    });
    // One layer's table frame, made once: the baselines time the link, not the fill.
    let frame: Arc<[u8]> = vec![7u8; GATES * ELEMENTS * AND_TABLE_BYTES].into();
    group.bench_function("tables_only", |b| {
        b.iter(|| tables_only(&mut garble.channel, &mut eval.channel, &frame))
    });
    group.bench_function("quinn_stream", |b| {
        b.iter(|| quinn_stream(&link.0, link.3.quic(), link.2.quic(), frame.clone()))
    });
    group.finish();

    assert_eq!(eval.evaluator.remaining(), 0);
    assert_eq!(garble.garbler.and_count(), eval.evaluator.and_count());
    // The channels go first, while the runtime still runs.
    drop((garble, eval));
    drop(link);
}

criterion_group!(benches, bench_gc_stream);
criterion_main!(benches);

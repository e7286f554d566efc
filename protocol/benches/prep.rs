//! Preprocessing without a dealer: AND triples, bit-ring pairs and Gilboa products for a
//! dense layer and MiniONN's second convolution, with bytes per object. Both parties run
//! in this process, on two threads, over the in-memory pipe.
// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use veil_protocol::channel::{Channel, MemTransport, Scope};
use veil_protocol::material::OtKind;
use veil_protocol::plan::{Image, Linear, LinearOp, Window};
use veil_protocol::prep::{
    and_triples, bit_rings, mask_share, weights_share, LinearMatrix, Pattern, PrepSession,
};
use veil_protocol::prg::Prg;
use veil_protocol::share::Role;

/// The binaries' allocator, so that these figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Ch = Channel<MemTransport>;

/// Runs `f` here and `g` on a second thread, at once.
fn both<A: Send, B: Send>(f: impl FnOnce() -> A + Send, g: impl FnOnce() -> B + Send) -> (A, B) {
    thread::scope(|sc| {
        let h = sc.spawn(g);
        let a = f();
        (a, h.join().expect("peer thread"))
    })
}

/// Both parties' sessions after set-up.
struct Pair {
    s: PrepSession,
    c: PrepSession,
    cs: Ch,
    cc: Ch,
}

fn pair() -> Pair {
    let (a, b) = MemTransport::pair();
    let (mut cs, mut cc) = (Channel::new(a), Channel::new(b));
    let (s, c) = both(
        || PrepSession::setup(&mut cs, Role::Server, OtKind::Iknp, 0, &mut Prg::from_os()).unwrap(),
        || PrepSession::setup(&mut cc, Role::Client, OtKind::Iknp, 0, &mut Prg::from_os()).unwrap(),
    );
    Pair { s, c, cs, cc }
}

/// One run of a generator, both parties.
type Run<'a> = Box<dyn FnMut(&mut Pair) + 'a>;

/// Payload bytes each party sends for one run, per object, from the channels' meters.
fn report(p: &mut Pair, name: &str, objects: usize, run: &mut Run<'_>) {
    p.cs.take_meter();
    p.cc.take_meter();
    run(p);
    let sent = |ch: &Ch| ch.meter().tally(Scope::CONTROL).sent as f64;
    let (s, c) = (sent(&p.cs), sent(&p.cc));
    println!(
        "prep/{name}: {objects} objects: server sent {s:.0} B, client sent {c:.0} B; \
         {:.2} B per object both ways",
        (s + c) / objects as f64
    );
}

fn bench(c: &mut Criterion, group: &str, name: &str, objects: usize, mut run: Run<'_>) {
    let mut p = pair();
    report(&mut p, name, objects, &mut run);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(objects as u64));
    g.sample_size(10);
    g.bench_function(name, |b| b.iter(|| run(&mut p)));
    g.finish();
}

fn triples(c: &mut Criterion) {
    const N: usize = 1 << 20;
    let run: Run = Box::new(|p: &mut Pair| {
        black_box(both(
            || and_triples(&mut p.s, &mut p.cs, 1, N).unwrap(),
            || and_triples(&mut p.c, &mut p.cc, 1, N).unwrap(),
        ));
    });
    bench(c, "prep/and_triples", &format!("{N}"), N, run);
}

fn bit_ring(c: &mut Criterion) {
    const N: usize = 1 << 16;
    let run: Run = Box::new(|p: &mut Pair| {
        black_box(both(
            || bit_rings(&mut p.s, &mut p.cs, N).unwrap(),
            || bit_rings(&mut p.c, &mut p.cc, N).unwrap(),
        ));
    });
    bench(c, "prep/bit_rings", &format!("{N}"), N, run);
}

/// Gilboa shares of M·V for `pattern`, with random weights and a fresh mask per run;
/// throughput counts nonzeros of M (products).
fn gilboa(c: &mut Criterion, name: &str, pattern: Pattern) {
    let weights = Prg::from_os().ring_vec(pattern.nnz());
    let run: Run = Box::new(|p: &mut Pair| {
        black_box(both(
            || weights_share(&mut p.s, &mut p.cs, &pattern, &weights).unwrap(),
            || mask_share(&mut p.c, &mut p.cc, &pattern).unwrap(),
        ));
    });
    bench(c, "prep/gilboa", name, pattern.nnz(), run);
}

fn linear(c: &mut Criterion) {
    gilboa(c, "dense 100x256", Pattern::dense(100, 256));
    let conv = Linear {
        pool: None,
        op: LinearOp::Conv {
            input: Image {
                c: 16,
                h: 12,
                w: 12,
            },
            out_channels: 16,
            window: Window::new([5, 5], [1, 1]),
        },
        residual: None,
    };
    let matrix = LinearMatrix::of(&conv).expect("MiniONN's conv fits");
    let pattern = matrix.pattern().clone();
    gilboa(c, "MiniONN conv2 16x12x12 -> 16x8x8, 5x5", pattern);
}

criterion_group!(benches, triples, bit_ring, linear);
criterion_main!(benches);

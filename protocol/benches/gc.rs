//! Half-gates throughput on one core, in memory: one `and_batch` of 16 gates × 65536
//! elements (2^20 independent ANDs; 32 MiB of input labels, 32 MiB of tables, 16 MiB of
//! output labels), and the same with 4096 elements (2^16 ANDs, cache-resident); and the
//! real `max_relu_shift` circuit of a 2x2 max-pool with its ReLU over 2,304 outputs at
//! k = 34, f = 12 (MiniONN's MNIST CNN), whose batches are many and narrow.
//! Throughput is counted in ANDs.
// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use veil_circuits::{max_relu_shift, Backend, Bits, Counter};
use veil_protocol::block::Block;
use veil_protocol::gc::{Evaluator, Garbler};
use veil_protocol::prg::{Prg, Seed};

/// The binaries' allocator, so that these figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const GATES: usize = 16;

/// Pairs of operands `(wires[2g], wires[2g + 1])`.
fn pairs(wires: &[Vec<Block>]) -> Vec<(&Vec<Block>, &Vec<Block>)> {
    wires.chunks_exact(2).map(|p| (&p[0], &p[1])).collect()
}

fn garble(c: &mut Criterion, elements: usize) {
    let mut group = c.benchmark_group(format!("gc_{GATES}x{elements}"));
    group.throughput(Throughput::Elements((GATES * elements) as u64));
    group.sample_size(20);
    let mut garbler = Garbler::new(&mut Prg::new(Seed([1; 16])));
    let zero: Vec<Vec<Block>> = (0..2 * GATES).map(|_| garbler.input(elements)).collect();
    let gates = pairs(&zero);
    // Tables in a fresh buffer each time, as `take_tables` hands them out.
    group.bench_function("garble", |b| {
        b.iter_with_large_drop(|| {
            let out = garbler.and_batch(&gates).expect("garble");
            (out, garbler.take_tables())
        })
    });
    // Tables written into the buffer of the previous batch (`Garbler::recycle`).
    group.bench_function("garble_recycled_tables", |b| {
        b.iter_with_large_drop(|| {
            let out = garbler.and_batch(&gates).expect("garble");
            let tables = garbler.take_tables();
            criterion::black_box(&tables);
            garbler.recycle(tables);
            out
        })
    });
    group.finish();
}

fn evaluate(c: &mut Criterion, elements: usize) {
    let mut group = c.benchmark_group(format!("gc_{GATES}x{elements}"));
    group.throughput(Throughput::Elements((GATES * elements) as u64));
    group.sample_size(20);
    // Tables of a fresh session, so the evaluator's gate counter starts where they did.
    let mut rng = Prg::new(Seed([2; 16]));
    let mut garbler = Garbler::new(&mut rng);
    let zero: Vec<Vec<Block>> = (0..2 * GATES).map(|_| garbler.input(elements)).collect();
    garbler.and_batch(&pairs(&zero)).expect("garble");
    let tables = garbler.take_tables();
    let active: Vec<Vec<Block>> = zero
        .iter()
        .map(|z| {
            let mut bits = Bits::zeros(elements);
            let words = bits.words.iter_mut();
            words.for_each(|w| *w = rand_core::RngCore::next_u64(&mut rng));
            bits.mask_tail();
            garbler.encode(z, &bits).expect("encode")
        })
        .collect();
    let gates = pairs(&active);
    let key = garbler.hash_key();
    group.bench_function("evaluate", |b| {
        b.iter_batched(
            || Evaluator::new(key, tables.clone()),
            |mut ev| (ev.and_batch(&gates).expect("evaluate"), ev),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// The max-pool case: 4 candidates per window, 2,304 windows, k = 34, f = 12.
const POOL: (usize, usize, usize, usize) = (4, 2304, 34, 12);

/// ANDs of the max-pool case.
fn pool_ands() -> usize {
    let (m, n, k, f) = POOL;
    let mut c = Counter::new();
    let w = vec![vec![c.input(); k]; m];
    max_relu_shift(&mut c, &w, &w, f).expect("count");
    c.count().ands * n
}

/// Fresh 0-labels for every candidate's k bits.
fn pool_inputs(garbler: &mut Garbler) -> Vec<Vec<Vec<Block>>> {
    let (m, n, k, _) = POOL;
    (0..m)
        .map(|_| (0..k).map(|_| garbler.input(n)).collect())
        .collect()
}

fn max_pool(c: &mut Criterion) {
    let (m, n, k, f) = POOL;
    let mut group = c.benchmark_group(format!("maxpool_{m}x{n}_k{k}"));
    group.throughput(Throughput::Elements(pool_ands() as u64));
    group.sample_size(20);
    let mut rng = Prg::new(Seed([3; 16]));
    let mut garbler = Garbler::new(&mut rng);
    let (x, y) = (pool_inputs(&mut garbler), pool_inputs(&mut garbler));
    group.bench_function("garble", |b| {
        b.iter_with_large_drop(|| {
            let out = max_relu_shift(&mut garbler, &x, &y, f).expect("garble");
            let tables = garbler.take_tables();
            criterion::black_box(&tables);
            garbler.recycle(tables);
            out
        })
    });
    // Tables of a fresh session, evaluated on random inputs.
    let mut garbler = Garbler::new(&mut rng);
    let (x, y) = (pool_inputs(&mut garbler), pool_inputs(&mut garbler));
    max_relu_shift(&mut garbler, &x, &y, f).expect("garble");
    let tables = garbler.take_tables();
    let mut encode = |zero: &Vec<Vec<Vec<Block>>>| -> Vec<Vec<Vec<Block>>> {
        let mut each = |z: &Vec<Block>| {
            let mut bits = Bits::zeros(n);
            let words = bits.words.iter_mut();
            words.for_each(|w| *w = rand_core::RngCore::next_u64(&mut rng));
            bits.mask_tail();
            garbler.encode(z, &bits).expect("encode")
        };
        let mut out = Vec::new();
        for c in zero {
            out.push(c.iter().map(&mut each).collect());
        }
        out
    };
    let (ax, ay) = (encode(&x), encode(&y));
    let key = garbler.hash_key();
    group.bench_function("evaluate", |b| {
        b.iter_batched(
            || Evaluator::new(key, tables.clone()),
            |mut ev| (max_relu_shift(&mut ev, &ax, &ay, f).expect("evaluate"), ev),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn bench_gc(c: &mut Criterion) {
    for elements in [1 << 16, 1 << 12] {
        garble(c, elements);
        evaluate(c, elements);
    }
    max_pool(c);
}

criterion_group!(benches, bench_gc);
criterion_main!(benches);

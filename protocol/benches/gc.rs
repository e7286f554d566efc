//! Half-gates throughput on one core, in memory: one `and_batch` of 16 gates × 65536
//! elements (2^20 independent ANDs; 32 MiB of input labels, 32 MiB of tables, 16 MiB of
//! output labels), and the same with 4096 elements (2^16 ANDs, cache-resident).
//! Throughput is counted in ANDs.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use veil_circuits::{Backend, Bits};
use veil_protocol::block::Block;
use veil_protocol::gc::{Evaluator, Garbler};
use veil_protocol::prg::{Prg, Seed};

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

fn bench_gc(c: &mut Criterion) {
    for elements in [1 << 16, 1 << 12] {
        garble(c, elements);
        evaluate(c, elements);
    }
}

criterion_group!(benches, bench_gc);
criterion_main!(benches);

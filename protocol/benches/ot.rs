//! Oblivious transfer: 128 base OTs, the IKNP/ALSZ extension rate and bytes per OT, and
//! pooled correlated OT grown by IKNP or by silent OT (Ferret's MAIN extension) side by side.
//! Both parties run in this process, on two threads, over the in-memory pipe.
// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};

use veil_protocol::block::Block;
use veil_protocol::channel::{Channel, MemTransport, Scope};
use veil_protocol::material::OtKind;
use veil_protocol::ot::ferret::MAIN;
use veil_protocol::ot::{base, CotReceiver, CotSender, PoolReceiver, PoolSender};

/// The binaries' allocator, so that these figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 1 << 20;

type Ch = Channel<MemTransport>;

fn pair() -> (Ch, Ch) {
    let (a, b) = MemTransport::pair();
    (Channel::new(a), Channel::new(b))
}

/// Runs `f` here and `g` on a second thread, at once.
fn both<A: Send, B: Send>(f: impl FnOnce() -> A + Send, g: impl FnOnce() -> B + Send) -> (A, B) {
    thread::scope(|sc| {
        let h = sc.spawn(g);
        let a = f();
        (a, h.join().expect("peer thread"))
    })
}

fn bench_base(c: &mut Criterion) {
    let mut seed = 0u64;
    c.bench_function("ot/base/128 (both parties)", |b| {
        b.iter(|| {
            seed += 1;
            let (mut s, mut r) = pair();
            let choices: Vec<bool> = (0..128).map(|i| (seed >> (i % 64)) & 1 == 1).collect();
            both(
                || base::send(&mut s, &mut ChaCha12Rng::seed_from_u64(seed), 128).unwrap(),
                || base::receive(&mut r, &mut ChaCha12Rng::seed_from_u64(!seed), &choices).unwrap(),
            )
        })
    });
}

struct Ext {
    s: CotSender,
    r: CotReceiver,
    cs: Ch,
    cr: Ch,
    choices: Vec<bool>,
}

fn ext() -> Ext {
    let (mut cs, mut cr) = pair();
    let (s, r) = both(
        || CotSender::setup(&mut cs, &mut ChaCha12Rng::seed_from_u64(1)).unwrap(),
        || CotReceiver::setup(&mut cr, &mut ChaCha12Rng::seed_from_u64(2)).unwrap(),
    );
    let mut rng = ChaCha12Rng::seed_from_u64(3);
    let choices = (0..N).map(|_| rng.next_u32() & 1 == 1).collect();
    Ext {
        s,
        r,
        cs,
        cr,
        choices,
    }
}

/// One extension call of `N` OTs, both parties.
type Run = fn(&mut Ext);

/// Payload bytes per OT each way for one call of `N`, from the channels' meters.
fn report_bytes(e: &mut Ext, name: &str, run: Run) {
    e.cs.take_meter();
    e.cr.take_meter();
    run(e);
    let (ts, tr) = (
        e.cs.meter().tally(Scope::CONTROL),
        e.cr.meter().tally(Scope::CONTROL),
    );
    println!(
        "ot/{name}: n = {N}: receiver sent {:.2} B/OT, sender sent {:.2} B/OT",
        tr.sent as f64 / N as f64,
        ts.sent as f64 / N as f64
    );
}

fn correlated(e: &mut Ext) {
    let Ext {
        s,
        r,
        cs,
        cr,
        choices,
    } = e;
    black_box(both(
        || s.send_correlated(cs, N).unwrap(),
        || r.receive_correlated(cr, choices).unwrap(),
    ));
}

fn correlated_with(e: &mut Ext) {
    let Ext {
        s,
        r,
        cs,
        cr,
        choices,
    } = e;
    black_box(both(
        || s.send_correlated_with(cs, Block(0x5555 | 1), N).unwrap(),
        || r.receive_correlated_with(cr, choices).unwrap(),
    ));
}

fn random(e: &mut Ext) {
    let Ext {
        s,
        r,
        cs,
        cr,
        choices,
    } = e;
    black_box(both(
        || s.send_random(cs, N).unwrap(),
        || r.receive_random(cr, choices).unwrap(),
    ));
}

fn bench_extension(c: &mut Criterion) {
    let mut e = ext();
    let runs: [(&str, Run); 3] = [
        ("correlated (global delta)", correlated),
        ("correlated_with (chosen delta)", correlated_with),
        ("random", random),
    ];
    for (name, run) in runs {
        report_bytes(&mut e, name, run);
    }
    let mut g = c.benchmark_group("ot/extension");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    for (name, run) in runs {
        g.bench_function(format!("{name}/{N}"), |b| b.iter(|| run(&mut e)));
    }
    g.finish();
}

/// A pooled instance of `kind`, bootstrapped.
fn pools(kind: OtKind) -> (PoolSender, PoolReceiver, Ch, Ch) {
    let (mut cs, mut cr) = pair();
    let (mut s, mut r) = both(
        || PoolSender::setup(&mut cs, kind, &mut ChaCha12Rng::seed_from_u64(1)).unwrap(),
        || PoolReceiver::setup(&mut cr, kind, &mut ChaCha12Rng::seed_from_u64(2)).unwrap(),
    );
    both(
        || s.reserve(&mut cs, 1).unwrap(),
        || r.reserve(&mut cr, 1).unwrap(),
    );
    (s, r, cs, cr)
}

/// Grows the pools by one MAIN extension's worth and spends it, both parties.
fn grow_and_spend(p: &mut (PoolSender, PoolReceiver, Ch, Ch)) {
    let (s, r, cs, cr) = p;
    let n = MAIN.usable();
    black_box(both(
        || {
            s.reserve(cs, n).unwrap();
            s.correlated(n).unwrap()
        },
        || {
            r.reserve(cr, n).unwrap();
            r.correlated(n).unwrap()
        },
    ));
}

fn bench_pooled(c: &mut Criterion) {
    let mut g = c.benchmark_group("ot/pooled");
    g.throughput(Throughput::Elements(MAIN.usable() as u64));
    g.sample_size(10);
    for kind in [OtKind::Silent, OtKind::Iknp] {
        let mut p = pools(kind);
        grow_and_spend(&mut p);
        p.2.take_meter();
        p.3.take_meter();
        grow_and_spend(&mut p);
        let bits = |ch: &Ch| 8.0 * ch.meter().tally(Scope::CONTROL).sent as f64;
        println!(
            "ot/pooled/{kind}: {} COTs: sender sent {:.3} bits/COT, receiver {:.3} bits/COT",
            MAIN.usable(),
            bits(&p.2) / MAIN.usable() as f64,
            bits(&p.3) / MAIN.usable() as f64
        );
        g.bench_function(format!("{kind}/{}", MAIN.usable()), |b| {
            b.iter(|| grow_and_spend(&mut p))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_base, bench_extension, bench_pooled);
criterion_main!(benches);

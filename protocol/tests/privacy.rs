//! What the server receives says nothing about the client's input.
//!
//! A recording transport keeps every frame the server receives (all of them online: at
//! setup the server only sends). The tests then check that no encoded input value shows up
//! in that transcript, and that what the server receives — F = x_c − V of every linear
//! layer, the ring part of the ReLU closing round, and the bits of every ReLU round — is
//! uniform and the same for very different inputs. Every statistical check has a
//! tolerance from Hoeffding's inequality for its sample count, so that all checks of a run
//! together fail by accident with probability below [`FALSE_FAILURE`]; negative controls
//! (the same checks on what a broken protocol would send) show that they can fail.

mod common;

use rand_core::RngCore;

use veil_protocol::channel::MemTransport;
use veil_protocol::layers::relu_gmw as relu;
use veil_protocol::plan::{Plan, Weights};
use veil_protocol::ring::Ring;

use common::{mlp, plain, run_session, Recorder, TestSeed, FIXED, SIZES};

/// Bound on the probability that a correct protocol fails any statistical check of one
/// run (all checks together, by the union bound).
const FALSE_FAILURE: f64 = 1e-7;

/// An upper bound on the number of statistical checks in one run, over which
/// [`FALSE_FAILURE`] is split.
const CHECKS: f64 = 1024.0;

/// Queries per input in the statistical test.
const QUERIES: usize = 400;

/// Queries per session there: several sessions, so several session masks U.
const PER_SESSION: usize = 50;

/// Runs one session of `inputs`, the server's end recorded; checks every opened output
/// against the plain definition and returns the payloads the server received.
fn recorded_session(plan: &Plan, weights: &Weights, inputs: &[Vec<Ring>]) -> Vec<Vec<u8>> {
    let (a, b) = MemTransport::pair();
    let (server, log) = Recorder::new(a);
    let sides = run_session(plan, weights, server, b, inputs);
    sides
        .server
        .expect("the server panicked")
        .expect("the server failed");
    let outputs = sides
        .client
        .expect("the client panicked")
        .expect("the client failed");
    assert_eq!(outputs.len(), inputs.len());
    for (i, (out, input)) in outputs.iter().zip(inputs).enumerate() {
        assert_eq!(*out, plain(plan, weights, input), "query {i}: wrong output");
    }
    let frames = std::mem::take(&mut *log.lock().expect("log lock"));
    frames
        .into_iter()
        .map(|f| {
            assert!(f.len() >= 8, "a frame without its round stamp");
            f[..f.len() - 8].to_vec()
        })
        .collect()
}

/// What the server received in one query, by kind.
#[derive(Default)]
struct QueryView {
    /// F = x − V of the first linear layer: the masked input.
    first_f: Vec<u64>,
    /// F of the later linear layers and the ring part (e = T − R) of each closing round.
    other_ring: Vec<u64>,
    /// The bits of every ReLU round (AND batches, closing bits, injection bits), one entry
    /// per round in order, padding removed.
    relu_rounds: Vec<(Vec<u8>, usize)>,
}

/// Splits the server's payloads into queries and messages, checking the layout that
/// the layer docs give: per query F, R ReLU rounds, F, R ReLU rounds, F.
fn split_queries(payloads: &[Vec<u8>], queries: usize) -> Vec<QueryView> {
    let rounds = relu::rounds(FIXED, 1);
    let per_query = 3 + 2 * rounds;
    assert_eq!(payloads.len(), queries * per_query, "frames per query");
    payloads
        .chunks_exact(per_query)
        .map(|q| {
            let mut view = QueryView {
                first_f: ring_words(&q[0], SIZES[0]),
                ..QueryView::default()
            };
            relu_layer(&q[1..=rounds], SIZES[1], &mut view);
            view.other_ring.extend(ring_words(&q[rounds + 1], SIZES[1]));
            relu_layer(&q[rounds + 2..=2 * rounds + 1], SIZES[2], &mut view);
            view.other_ring
                .extend(ring_words(&q[2 * rounds + 2], SIZES[2]));
            view
        })
        .collect()
}

/// One ReLU layer of `n` values: AND batches (bits only), the closing round (5n bits then
/// n ring elements), the injection round (2n bits).
fn relu_layer(msgs: &[Vec<u8>], n: usize, view: &mut QueryView) {
    // With n a multiple of 4, an AND batch of g gates (2gn bits) fills whole bytes.
    assert_eq!(
        n % 4,
        0,
        "the layout below assumes no padding in AND batches"
    );
    let total: usize = msgs.iter().map(Vec::len).sum();
    assert_eq!(total, relu::bytes_sent(FIXED, 1, n), "ReLU bytes");
    let (batches, last) = msgs.split_at(msgs.len() - 2);
    for m in batches {
        view.relu_rounds.push((m.clone(), 8 * m.len()));
    }
    let closing = &last[0];
    let bit_bytes = (5 * n).div_ceil(8);
    assert_eq!(closing.len(), bit_bytes + 8 * n, "closing round bytes");
    view.relu_rounds
        .push((closing[..bit_bytes].to_vec(), 5 * n));
    view.other_ring.extend(ring_words(&closing[bit_bytes..], n));
    assert_eq!(last[1].len(), (2 * n).div_ceil(8), "injection round bytes");
    view.relu_rounds.push((last[1].clone(), 2 * n));
}

fn ring_words(bytes: &[u8], n: usize) -> Vec<u64> {
    assert_eq!(bytes.len(), 8 * n, "a ring message of {n} elements");
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn encoded(values: &[f64]) -> Vec<Ring> {
    values.iter().map(|&v| FIXED.encode(v)).collect()
}

/// The first 8-byte-aligned word of any payload that equals a forbidden value, as
/// (payload index, byte offset, value).
fn find_word(payloads: &[Vec<u8>], forbidden: &[u64]) -> Option<(usize, usize, u64)> {
    payloads.iter().enumerate().find_map(|(i, p)| {
        p.chunks_exact(8).enumerate().find_map(|(j, c)| {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            forbidden.contains(&w).then_some((i, 8 * j, w))
        })
    })
}

#[test]
fn the_inputs_encoding_never_appears_in_the_servers_transcript() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    let n = SIZES[0];
    let inputs = [
        encoded(&vec![0.75; n]),
        encoded(
            &(0..n)
                .map(|i| (i + 1) as f64 / (n + 1) as f64)
                .collect::<Vec<_>>(),
        ),
        encoded(&(0..n).map(|_| common::unit(&mut rng)).collect::<Vec<_>>()),
    ];
    let forbidden: Vec<u64> = inputs
        .iter()
        .flatten()
        .flat_map(|&v| [v, v.wrapping_neg()])
        .collect();
    assert!(!forbidden.contains(&0), "a zero would not be distinctive");

    // Negative control: the unmasked input, as a broken protocol would send it, is found.
    let unmasked: Vec<Vec<u8>> = inputs.iter().map(|x| le_bytes(x)).collect();
    assert!(find_word(&unmasked, &forbidden).is_some());

    for run in 0..5 {
        let payloads = recorded_session(&plan, &weights, &inputs);
        assert_eq!(payloads.len(), 3 * (3 + 2 * relu::rounds(FIXED, 1)));
        if let Some((frame, offset, w)) = find_word(&payloads, &forbidden) {
            panic!("run {run}: frame {frame} carries {w:#x} (an input value) at byte {offset}");
        }
    }
}

fn le_bytes(x: &[u64]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Per-bit-position counts of ones over 64-bit words.
#[derive(Clone, Copy)]
struct BitFreq {
    ones: [u64; 64],
    n: u64,
}

impl BitFreq {
    fn of<'a>(words: impl IntoIterator<Item = &'a u64>) -> BitFreq {
        let mut f = BitFreq {
            ones: [0; 64],
            n: 0,
        };
        for w in words {
            for (b, ones) in f.ones.iter_mut().enumerate() {
                *ones += (w >> b) & 1;
            }
            f.n += 1;
        }
        f
    }

    fn freq(&self, bit: usize) -> f64 {
        self.ones[bit] as f64 / self.n as f64
    }
}

/// Half-width `t` of a one-sample check of `n` samples in [0, 1]: by Hoeffding,
/// P(|mean − E| ≥ t) ≤ 2·exp(−2·n·t²), set to FALSE_FAILURE / CHECKS. For F's bit
/// positions, n = 400 queries × 16 words = 6400 and t = √(ln(2·1024/10⁻⁷) / 12800) ≈ 0.043:
/// each check fails by accident with probability ≤ 10⁻¹⁰, all of them ≤ 10⁻⁷.
fn one_sample_tolerance(n: u64) -> f64 {
    let t = ((2.0 * CHECKS / FALSE_FAILURE).ln() / (2.0 * n as f64)).sqrt();
    // Enough samples that a real bias of 0.05 or more cannot hide.
    assert!(t < 0.05, "{n} samples are too few for a meaningful check");
    t
}

/// Half-width `t` of a two-sample check, means of `n` samples each: the difference is a
/// sum of 2n independent terms of range 1/n, so P(|D − E D| ≥ t) ≤ 2·exp(−n·t²), again
/// set to FALSE_FAILURE / CHECKS (n = 6400 gives t ≈ 0.061).
fn two_sample_tolerance(n: u64) -> f64 {
    let t = ((2.0 * CHECKS / FALSE_FAILURE).ln() / n as f64).sqrt();
    assert!(t < 0.07, "{n} samples are too few for a meaningful check");
    t
}

/// Every bit position is 1 with frequency 1/2 ± tolerance.
fn check_uniform_bits(f: &BitFreq) -> Result<(), String> {
    let t = one_sample_tolerance(f.n);
    match (0..64).find(|&b| (f.freq(b) - 0.5).abs() >= t) {
        Some(b) => Err(format!(
            "bit {b} is 1 with frequency {:.4} over {} words (tolerance {t:.4})",
            f.freq(b),
            f.n
        )),
        None => Ok(()),
    }
}

/// Per bit position, the two frequencies differ by less than the tolerance.
fn check_same_bits(a: &BitFreq, b: &BitFreq) -> Result<(), String> {
    assert_eq!(a.n, b.n);
    let t = two_sample_tolerance(a.n);
    match (0..64).find(|&i| (a.freq(i) - b.freq(i)).abs() >= t) {
        Some(i) => Err(format!(
            "bit {i}: frequency {:.4} for one input, {:.4} for the other (tolerance {t:.4})",
            a.freq(i),
            b.freq(i)
        )),
        None => Ok(()),
    }
}

/// (ones, bits) over the first `bits` bits of `bytes`.
fn ones(bytes: &[u8], bits: usize) -> (u64, u64) {
    let ones = (0..bits)
        .filter(|&i| bytes[i / 8] >> (i % 8) & 1 == 1)
        .count();
    (ones as u64, bits as u64)
}

/// The fraction of ones is 1/2 ± tolerance.
fn check_half_ones((ones, n): (u64, u64)) -> Result<(), String> {
    let t = one_sample_tolerance(n);
    let p = ones as f64 / n as f64;
    if (p - 0.5).abs() >= t {
        return Err(format!("{p:.4} of {n} bits are ones (tolerance {t:.4})"));
    }
    Ok(())
}

/// The two fractions of ones (equal sample counts) differ by less than the tolerance.
fn check_same_ones(a: (u64, u64), b: (u64, u64)) -> Result<(), String> {
    assert_eq!(a.1, b.1);
    let t = two_sample_tolerance(a.1);
    let (pa, pb) = (a.0 as f64 / a.1 as f64, b.0 as f64 / b.1 as f64);
    if (pa - pb).abs() >= t {
        return Err(format!(
            "{pa:.4} vs {pb:.4} ones over {} bits (tolerance {t:.4})",
            a.1
        ));
    }
    Ok(())
}

/// What the server receives over [`QUERIES`] queries of one input, summarised.
struct Observed {
    first_f: BitFreq,
    other_ring: BitFreq,
    /// (ones, bits) per ReLU round of a query, summed over queries.
    relu_rounds: Vec<(u64, u64)>,
}

fn observe(plan: &Plan, weights: &Weights, input: &[Ring]) -> Observed {
    let mut views = Vec::new();
    for _ in 0..QUERIES / PER_SESSION {
        let inputs = vec![input.to_vec(); PER_SESSION];
        let payloads = recorded_session(plan, weights, &inputs);
        views.extend(split_queries(&payloads, PER_SESSION));
    }
    let mut relu_rounds = vec![(0, 0); views[0].relu_rounds.len()];
    for v in &views {
        for (acc, (bytes, bits)) in relu_rounds.iter_mut().zip(&v.relu_rounds) {
            let (o, n) = ones(bytes, *bits);
            *acc = (acc.0 + o, acc.1 + n);
        }
    }
    Observed {
        first_f: BitFreq::of(views.iter().flat_map(|v| &v.first_f)),
        other_ring: BitFreq::of(views.iter().flat_map(|v| &v.other_ring)),
        relu_rounds,
    }
}

#[test]
fn what_the_server_receives_is_uniform_whatever_the_input() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    let (lo, hi) = plan.input_range;
    let low = encoded(&vec![lo as f64; SIZES[0]]);
    let high = encoded(&vec![hi as f64; SIZES[0]]);
    let (a, b) = (
        observe(&plan, &weights, &low),
        observe(&plan, &weights, &high),
    );
    // The union bound below FALSE_FAILURE holds if this run makes at most CHECKS checks:
    // per input 64 + 64 bit positions and one per ReLU round, then as many comparisons.
    let checks = 3 * (64 + 64 + a.relu_rounds.len());
    assert!(checks as f64 <= CHECKS, "{checks} checks exceed the budget");
    for (name, o) in [("all-min", &a), ("all-max", &b)] {
        let fail = |what: &str, e: String| panic!("{name} input, {what}: {e}");
        check_uniform_bits(&o.first_f).unwrap_or_else(|e| fail("F of the first layer", e));
        check_uniform_bits(&o.other_ring).unwrap_or_else(|e| fail("later ring words", e));
        for (r, &count) in o.relu_rounds.iter().enumerate() {
            check_half_ones(count).unwrap_or_else(|e| fail(&format!("ReLU round {r}"), e));
        }
    }
    check_same_bits(&a.first_f, &b.first_f)
        .unwrap_or_else(|e| panic!("F differs between inputs: {e}"));
    check_same_bits(&a.other_ring, &b.other_ring)
        .unwrap_or_else(|e| panic!("later ring words differ between inputs: {e}"));
    for (r, (&x, &y)) in a.relu_rounds.iter().zip(&b.relu_rounds).enumerate() {
        check_same_ones(x, y)
            .unwrap_or_else(|e| panic!("ReLU round {r} differs between inputs: {e}"));
    }
}

/// The checks above fail on what broken protocols would send, with as many samples.
#[test]
fn the_statistical_checks_fail_on_a_broken_protocol() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let n = SIZES[0];
    let low = encoded(&vec![0.0; n]);
    let high = encoded(&vec![1.0; n]);
    let repeat = |x: &[Ring]| -> Vec<u64> { x.iter().copied().cycle().take(QUERIES * n).collect() };

    // F = x, no mask at all.
    let (plain_low, plain_high) = (BitFreq::of(&repeat(&low)), BitFreq::of(&repeat(&high)));
    assert!(check_uniform_bits(&plain_low).is_err());
    assert!(check_uniform_bits(&plain_high).is_err());
    assert!(check_same_bits(&plain_low, &plain_high).is_err());

    // F = x − V with V only 62 bits wide: the top bits give it away.
    let short: Vec<u64> = repeat(&high)
        .iter()
        .map(|x| x.wrapping_sub(rng.next_u64() >> 2))
        .collect();
    assert!(check_uniform_bits(&BitFreq::of(&short)).is_err());

    // F = x − V with the same V in every query ("reuse leaks").
    let v: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
    let reused: Vec<u64> = repeat(&low)
        .iter()
        .zip(v.iter().cycle())
        .map(|(x, v)| x.wrapping_sub(*v))
        .collect();
    assert!(check_uniform_bits(&BitFreq::of(&reused)).is_err());

    // Unmasked bits (the input's own bit planes) in place of masked ReLU shares.
    let bits = |x: &[Ring]| ones(&le_bytes(&repeat(x)), 64 * QUERIES * n);
    assert!(check_half_ones(bits(&low)).is_err());
    assert!(check_half_ones(bits(&high)).is_err());
    assert!(check_same_ones(bits(&low), bits(&high)).is_err());

    // And genuine uniform words pass, so the checks are not merely strict.
    let uniform: Vec<u64> = (0..QUERIES * n).map(|_| rng.next_u64()).collect();
    let other: Vec<u64> = (0..QUERIES * n).map(|_| rng.next_u64()).collect();
    check_uniform_bits(&BitFreq::of(&uniform)).unwrap();
    check_same_bits(&BitFreq::of(&uniform), &BitFreq::of(&other)).unwrap();
}

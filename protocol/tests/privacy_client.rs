//! What the client receives says nothing about the weights beyond the output.
//!
//! The client's transcript: at setup E = W − U for every linear layer (U uniform, once
//! per session), then per query the server's shares in each ReLU round (masked by the
//! triples and the injection bits) and the server's output share. These tests record
//! that transcript and check that no weight appears in it, and that E is uniform
//! whatever W is, with a negative control showing the check can fail.

mod common;

use common::{mlp, run_session, Recorder, TestSeed, FIXED, SIZES};
use veil_protocol::channel::MemTransport;
use veil_protocol::plan::{LayerKind, Plan, Weights};
use veil_protocol::ring::Ring;

/// Runs a session of `queries` queries; returns the payloads the client received.
fn client_transcript(plan: &Plan, weights: &Weights, queries: usize) -> Vec<Vec<u8>> {
    let (a, b) = MemTransport::pair();
    let (client, log) = Recorder::new(b);
    let input = vec![FIXED.encode(0.5); plan.input_len()];
    let inputs = vec![input; queries];
    let sides = run_session(plan, weights, a, client, &inputs);
    sides
        .server
        .expect("server panicked")
        .expect("server failed");
    sides
        .client
        .expect("client panicked")
        .expect("client failed");
    let frames = std::mem::take(&mut *log.lock().expect("log lock"));
    frames
        .into_iter()
        .map(|f| f[..f.len() - 8].to_vec())
        .collect()
}

fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
}

/// The E messages: the first frame per linear layer.
fn e_words(plan: &Plan, payloads: &[Vec<u8>]) -> Vec<u64> {
    let linear = plan
        .layers
        .iter()
        .filter(|l| matches!(l.kind, LayerKind::Linear { .. }))
        .count();
    payloads[..linear].iter().flat_map(|p| words(p)).collect()
}

/// Largest deviation from 1/2 over 127 statistics: each bit position's frequency of
/// ones, and how often each pair of neighbouring bits agree. For uniform words all are
/// 1/2; small signed values (sign-extended) fail the second kind even when their signs
/// are random.
fn worst_bit_bias(ws: &[u64]) -> f64 {
    let n = ws.len() as f64;
    let freq = |pred: &dyn Fn(u64) -> bool| ws.iter().filter(|w| pred(**w)).count() as f64 / n;
    let singles = (0..64).map(|bit| freq(&|w| w >> bit & 1 == 1));
    let pairs = (0..63).map(|bit| freq(&|w| (w >> bit ^ w >> (bit + 1)) & 1 == 0));
    singles
        .chain(pairs)
        .map(|f| (f - 0.5).abs())
        .fold(0.0, f64::max)
}

/// Hoeffding: a fair bit's frequency over n samples strays by t with probability at most
/// 2·exp(−2nt²); over 127 statistics and a few checks, t for a false alarm below 1e-7.
fn tolerance(n: usize) -> f64 {
    ((2.0 * 127.0 * 4.0 / 1e-7f64).ln() / (2.0 * n as f64)).sqrt()
}

#[test]
fn no_weight_appears_in_the_clients_transcript() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    let payloads = client_transcript(&plan, &weights, 3);
    let forbidden: Vec<u64> = weights
        .linear
        .iter()
        .flat_map(|l| l.w.iter().chain(&l.bias))
        .copied()
        .filter(|w| *w != 0)
        .collect();
    for (i, p) in payloads.iter().enumerate() {
        for w in words(p) {
            assert!(
                !forbidden.contains(&w),
                "frame {i} carries a weight (seed {})",
                seed.hex()
            );
        }
    }
    // Negative control: the unmasked weights would be caught.
    let plain: Vec<u64> = weights.linear[0].w.clone();
    assert!(plain.iter().any(|w| forbidden.contains(w)));
}

#[test]
fn the_masked_weights_are_uniform_whatever_the_weights() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    let mut zero = weights.clone();
    zero.linear
        .iter_mut()
        .for_each(|l| l.w.iter_mut().for_each(|w| *w = 0));
    let mut samples: [Vec<Ring>; 2] = [Vec::new(), Vec::new()];
    // Several sessions: each draws a fresh U.
    for _ in 0..24 {
        for (s, w) in samples.iter_mut().zip([&weights, &zero]) {
            s.extend(e_words(&plan, &client_transcript(&plan, w, 1)));
        }
    }
    let n = samples[0].len();
    let t = tolerance(n);
    assert!(t < 0.05, "too few samples ({n}) for a meaningful check");
    for s in &samples {
        let bias = worst_bit_bias(s);
        assert!(bias < t, "E is biased ({bias} ≥ {t}), seed {}", seed.hex());
    }
    // Negative control: the weights themselves, unmasked, fail the same check.
    let unmasked: Vec<u64> = weights.linear.iter().flat_map(|l| l.w.clone()).collect();
    assert!(worst_bit_bias(&unmasked) >= tolerance(unmasked.len()));
}

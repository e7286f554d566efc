use proptest::prelude::Just;
use rand_core::RngCore;

use super::*;
use crate::channel::{Channel, MemTransport};
use crate::fixtures::both;
use crate::he::params::PRIMES;
use crate::plan::{Image, LinearOp, SumPool, Window};
use crate::prg::{Prg, Seed};

fn rng(n: u8) -> Prg {
    Prg::new(Seed([n; 16]))
}

fn conv(c: usize, hw: usize, out: usize, size: usize, stride: usize, pad: usize) -> Linear {
    Linear {
        pool: None,
        op: LinearOp::Conv {
            input: Image { c, h: hw, w: hw },
            out_channels: out,
            window: Window {
                size: [size, size],
                stride: [stride, stride],
                pads: [pad; 4],
            },
        },
        residual: None,
    }
}

/// One exchange over an in-memory pipe: the client's and the server's shares, and the
/// bytes each sent.
fn exchange(layer: &Linear, bits: u32, w: &[Ring], v: &[Ring], seed: u8) -> Exchanged {
    let shape = HeLayer::new(*layer, bits);
    let kernels = shape.kernels(w).expect("weights within the bound");
    let (a, b) = MemTransport::pair();
    let (mut cc, mut cs) = (Channel::new(a), Channel::new(b));
    let (client, server) = both(
        || {
            let mut he = HeClient::setup(&mut cc, &mut rng(seed)).expect("client setup");
            cc.take_meter();
            let share = shape.client(&mut he, v, &mut cc).expect("client");
            (
                share,
                cc.meter().phase_total(crate::channel::Phase::Control).sent,
            )
        },
        || {
            let mut he = HeServer::setup(&mut cs, &mut rng(seed + 1)).expect("server setup");
            cs.take_meter();
            let share = kernels.make(&mut he, &mut cs).expect("server");
            (
                share,
                cs.meter().phase_total(crate::channel::Phase::Control).sent,
            )
        },
    );
    Exchanged {
        client: client.0,
        server: server.0,
        bytes: (client.1, server.1),
    }
}

struct Exchanged {
    client: Vec<Ring>,
    server: Vec<Ring>,
    bytes: (u64, u64),
}

fn small_weights(n: usize, r: &mut Prg) -> Vec<Ring> {
    (0..n)
        .map(|_| (r.next_u64() % 4097).wrapping_sub(2048))
        .collect()
}

fn uniform(n: usize, r: &mut Prg) -> Vec<Ring> {
    (0..n).map(|_| r.next_u64()).collect()
}

/// The shares sum to `W ⋆ V` modulo the outputs' width, for dense layers of one and of
/// several blocks, convolutions with padding and stride, and a sum-pool before the op;
/// and the bytes on the wire are those the layer reports.
#[test]
fn shares_sum_to_the_layers_op() {
    let mut r = rng(7);
    let layers = [
        Linear::dense(10, 784),
        Linear::dense(100, 9000),
        Linear::dense(300, 50),
        conv(1, 28, 16, 5, 1, 0),
        conv(3, 32, 8, 3, 1, 1),
        conv(16, 12, 16, 5, 2, 2),
        conv(64, 16, 4, 3, 1, 1),
        Linear {
            pool: Some(SumPool {
                input: Image { c: 4, h: 8, w: 8 },
                window: Window::new([2, 2], [2, 2]),
            }),
            op: LinearOp::Dense { rows: 10, cols: 64 },
            residual: None,
        },
    ];
    for (i, layer) in layers.iter().enumerate() {
        for bits in [64, 37] {
            let w = small_weights(layer.op.weight_len(), &mut r);
            let v = uniform(layer.input_len(), &mut r);
            let got = exchange(layer, bits, &w, &v, i as u8 * 2);
            let mask = Scale::new(bits).mask();
            let want = layer.apply(&w, &v);
            for (j, want) in want.iter().enumerate() {
                let sum = got.client[j].wrapping_add(got.server[j]) & mask;
                assert_eq!(sum, want & mask, "{layer:?} at {bits} bits, output {j}");
            }
            assert_eq!(got.bytes, HeLayer::new(*layer, bits).bytes(), "{layer:?}");
        }
    }
}

/// A layer of random shape: dense, or a convolution with random padding and stride, with
/// or without a sum-pool before it.
fn any_layer() -> impl proptest::strategy::Strategy<Value = Linear> {
    use proptest::prelude::*;
    let dense = (1usize..200, 1usize..3000).prop_map(|(rows, cols)| Linear::dense(rows, cols));
    let conv = (
        1usize..6,
        3usize..20,
        1usize..9,
        1usize..4,
        1usize..3,
        0usize..2,
    )
        .prop_map(|(c, hw, out, size, stride, pad)| conv(c, hw.max(size), out, size, stride, pad));
    let pooled = (1usize..4, 1usize..5, 1usize..20).prop_map(|(c, half, rows)| Linear {
        pool: Some(SumPool {
            input: Image {
                c,
                h: 2 * half,
                w: 2 * half,
            },
            window: Window::new([2, 2], [2, 2]),
        }),
        op: LinearOp::Dense {
            rows,
            cols: c * half * half,
        },
        residual: None,
    });
    prop_oneof![dense, conv, pooled]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]

    /// For any shape and plaintext width, the shares sum to the op on the mask.
    #[test]
    fn shares_sum_to_the_op_for_random_shapes(
        layer in any_layer(),
        bits in proptest::prop_oneof![Just(64u32), 20u32..64],
        seed in 0u8..100,
    ) {
        let mut r = rng(seed);
        let w = small_weights(layer.op.weight_len(), &mut r);
        let v = uniform(layer.input_len(), &mut r);
        let got = exchange(&layer, bits, &w, &v, seed);
        let mask = Scale::new(bits).mask();
        for (j, want) in layer.apply(&w, &v).iter().enumerate() {
            let sum = got.client[j].wrapping_add(got.server[j]) & mask;
            proptest::prop_assert_eq!(sum, want & mask, "{:?} at {} bits, output {}", layer, bits, j);
        }
    }
}

/// What the server sees and keeps does not depend on V: its shares come from its own
/// randomness alone (the same seed gives the same shares for another V), and the
/// uploads' residues look uniform whether V is zero or not, where an upload without
/// `a·s` would show V.
#[test]
fn the_servers_view_does_not_depend_on_the_input() {
    let layer = Linear::dense(16, 2000);
    let mut r = rng(9);
    let w = small_weights(layer.op.weight_len(), &mut r);
    let zero = vec![0; layer.input_len()];
    let other = uniform(layer.input_len(), &mut r);
    let (a, b) = (
        exchange(&layer, 64, &w, &zero, 3),
        exchange(&layer, 64, &w, &other, 3),
    );
    assert_eq!(
        a.server, b.server,
        "the server's share must not depend on V"
    );
    assert_ne!(a.client, b.client);

    let shape = HeLayer::new(layer, 64);
    let (sk, _) = SecretKey::generate(&mut r);
    let scale = Scale::new(64);
    let residues = |v: &[Ring], r: &mut Prg| -> Vec<f64> {
        let input = &shape.layout.encode_input(v)[0];
        let upload = sk.encrypt(r, &scale, input);
        upload
            .c0
            .limb(0)
            .iter()
            .map(|&x| x as f64 / PRIMES[0] as f64)
            .collect()
    };
    // Kolmogorov–Smirnov against the uniform law: with 8192 values, a distance above
    // 0.03 has odds below 10^-6 by chance.
    let distance = |mut u: Vec<f64>| {
        u.sort_by(f64::total_cmp);
        let n = u.len() as f64;
        u.iter()
            .enumerate()
            .map(|(i, &x)| (x - i as f64 / n).abs().max(((i + 1) as f64 / n - x).abs()))
            .fold(0.0, f64::max)
    };
    for v in [&zero, &other] {
        let d = distance(residues(v, &mut r));
        assert!(d < 0.03, "an upload's residues are not uniform: {d}");
    }
    // The same statistic sees V = 0 in `e + ⌊Q·m/t⌉` (what an upload without `a·s` holds).
    let bare = (0..N)
        .map(|_| (r.next_u64() % 43) as f64 / PRIMES[0] as f64)
        .collect();
    assert!(distance(bare) > 0.5);
}

/// Weights whose absolute sum in one product passes the bound are refused, with the layer
/// named, before any exchange.
#[test]
fn weights_beyond_the_bound_are_refused() {
    let layer = Linear::dense(2, 4);
    let mut w = vec![1; 8];
    assert!(HeLayer::new(layer, 64).kernels(&w).is_ok());
    w[5] = 1 << WEIGHT_BITS;
    assert!(HeLayer::new(layer, 64).kernels(&w).is_err());
    w[5] = (1u64 << WEIGHT_BITS).wrapping_neg();
    assert!(HeLayer::new(layer, 64).kernels(&w).is_err());
}

/// A peer's damaged message is an error, not a panic: a short upload at the server, a
/// short reply at the client.
#[test]
fn damaged_messages_are_refused() {
    let layer = Linear::dense(4, 8);
    let shape = HeLayer::new(layer, 64);
    let kernels = shape.kernels(&[1; 32]).expect("small weights");
    let mut r = rng(11);
    let (sk, pk) = SecretKey::generate(&mut r);
    let mut he_server = HeServer {
        pk: PublicKey::from_msg(&pk),
        prg: rng(12),
        kept: Default::default(),
    };
    let (a, b) = MemTransport::pair();
    let (mut peer, mut cs) = (Channel::new(a), Channel::new(b));
    peer.send(&[0; 100]).expect("send");
    assert!(kernels.make(&mut he_server, &mut cs).is_err());

    let mut he_client = HeClient {
        sk,
        prg: rng(13),
        kept: Default::default(),
    };
    let (a, b) = MemTransport::pair();
    let (mut peer, mut cc) = (Channel::new(a), Channel::new(b));
    peer.send(&[7; 100]).expect("send");
    let got = shape.client(&mut he_client, &[0; 8], &mut cc);
    assert!(got.is_err());
}

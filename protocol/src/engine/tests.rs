use super::cost::{self, Cost};
use super::*;
use crate::channel::{Channel, MemTransport, Tally};
use crate::codec::{Reader, Writer};
use crate::layers::linear::PreparedLinear;
use crate::layers::relu_gmw::{self as relu, ReluShare};
use crate::local::{run_local, LocalRun};
use crate::material::LinearShare;
use crate::plan::{Backend, LinearWeights, PlanLayer};
use crate::prg::Seed;
use crate::ring::{truncate, FixedPoint};
use crate::stored::Stored;
use rand_core::RngCore;

/// Every source of material, for the tests that run each: the dealer, both ways of making
/// the linear layers' material under the default OT, and the linear layers by the other OT.
const SOURCES: [Preprocessing; 4] = [
    Preprocessing::Dealer,
    Preprocessing::TwoParty(LinearPrep::He, OtKind::Silent),
    Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Silent),
    Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Iknp),
];

/// Both ways of making the linear layers' material without a dealer.
const LINEAR: [LinearPrep; 2] = [LinearPrep::He, LinearPrep::Ot];

/// A test's generator from the OS, its seed printed on failure by the caller.
fn test_rng() -> (Seed, Prg) {
    let seed = Seed::random();
    (seed, Prg::new(seed))
}

/// A random MLP `sizes[0] → sizes[1] → … ` with ReLU between, weights small enough that
/// pre-activations stay inside k bits.
fn mlp(sizes: &[usize], fixed: FixedPoint, rng: &mut Prg) -> (Plan, Weights) {
    let mut layers = Vec::new();
    let mut linear = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        let (cols, rows) = (w[0], w[1]);
        layers.push(PlanLayer {
            name: format!("fc{i}"),
            kind: LayerKind::dense(rows, cols),
        });
        let small = |rng: &mut Prg, scale: f64| {
            fixed.encode((rng.next_u32() as f64 / u32::MAX as f64 - 0.5) * scale)
        };
        linear.push(LinearWeights {
            w: (0..rows * cols).map(|_| small(rng, 0.5)).collect(),
            bias: (0..rows).map(|_| small(rng, 0.5) << fixed.f).collect(),
        });
        if i + 2 < sizes.len() {
            layers.push(PlanLayer {
                name: format!("relu{i}"),
                kind: LayerKind::ReluTrunc { len: rows },
            });
        }
    }
    let plan = Plan {
        model: "random-mlp".into(),
        input_shape: vec![1, sizes[0]],
        input_range: (0.0, 1.0),
        fixed,
        backend: crate::plan::Backend::Gmw,
        layers,
    };
    plan.validate().unwrap();
    (plan, Weights { linear })
}

/// The plaintext definition, inline (the model crate holds the real oracle): linear
/// layers by their bilinear map plus bias and residual, a ReLU or max-pool as the floor
/// shift of each window's non-negative maximum.
fn plain(plan: &Plan, weights: &Weights, input: &[Ring]) -> Vec<Ring> {
    let mut x = input.to_vec();
    let mut outputs: Vec<Vec<Ring>> = Vec::new();
    let mut w = weights.linear.iter();
    for l in &plan.layers {
        x = match &l.kind {
            LayerKind::Linear(linear) => {
                let lw = w.next().unwrap();
                let mut y = crate::share::add(&linear.apply(&lw.w, &x), &lw.bias);
                if let Some(r) = linear.residual {
                    for (y, r) in y.iter_mut().zip(&outputs[r]) {
                        *y = y.wrapping_add(r << plan.fixed.f);
                    }
                }
                y
            }
            kind => {
                let win = kind.windows().unwrap();
                win.index
                    .chunks(win.m)
                    .map(|c| {
                        let max = c.iter().map(|&i| x[i] as i64).max().unwrap();
                        if max < 0 {
                            0
                        } else {
                            truncate(max as u64, plan.fixed.f)
                        }
                    })
                    .collect()
            }
        };
        outputs.push(x.clone());
    }
    x
}

/// A small CNN with every layer kind: a padded convolution, a 2x2 max-pool with its
/// ReLU, a strided convolution, a ReLU, a 1x1 convolution adding a residual, a ReLU, and
/// a dense layer after a sum-pool.
fn cnn(fixed: FixedPoint, rng: &mut Prg) -> (Plan, Weights) {
    use crate::plan::{Image, Linear, LinearOp, SumPool, Window};
    let conv = |c, h, w, out, size: [usize; 2], stride, pads| {
        LayerKind::Linear(Linear {
            pool: None,
            op: LinearOp::Conv {
                input: Image { c, h, w },
                out_channels: out,
                window: Window { size, stride, pads },
            },
            residual: None,
        })
    };
    let mut kinds = vec![
        conv(2, 6, 7, 4, [3, 3], [1, 1], [1, 1, 1, 1]),
        LayerKind::MaxPoolRelu {
            input: Image { c: 4, h: 6, w: 7 },
            window: Window::new([2, 2], [2, 2]),
        },
        conv(4, 3, 3, 4, [3, 2], [1, 1], [1, 0, 1, 1]),
        LayerKind::ReluTrunc { len: 36 },
        conv(4, 3, 3, 4, [1, 1], [1, 1], [0; 4]),
        LayerKind::ReluTrunc { len: 36 },
        LayerKind::Linear(Linear {
            pool: Some(SumPool {
                input: Image { c: 4, h: 3, w: 3 },
                window: Window::new([2, 2], [1, 1]),
            }),
            op: LinearOp::Dense { rows: 3, cols: 16 },
            residual: None,
        }),
    ];
    if let LayerKind::Linear(l) = &mut kinds[4] {
        l.residual = Some(1);
    }
    let small = |rng: &mut Prg, scale: f64| {
        fixed.encode((rng.next_u32() as f64 / u32::MAX as f64 - 0.5) * scale)
    };
    let mut linear = Vec::new();
    let layers = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            if let LayerKind::Linear(l) = &kind {
                linear.push(LinearWeights {
                    w: (0..l.op.weight_len()).map(|_| small(rng, 0.6)).collect(),
                    bias: (0..l.output_len())
                        .map(|_| small(rng, 0.5) << fixed.f)
                        .collect(),
                });
            }
            PlanLayer {
                name: format!("layer{i}"),
                kind,
            }
        })
        .collect();
    let plan = Plan {
        model: "random-cnn".into(),
        input_shape: vec![1, 2, 6, 7],
        input_range: (0.0, 1.0),
        fixed,
        backend: Backend::Gmw,
        layers,
    };
    plan.validate().unwrap();
    (plan, Weights { linear })
}

#[test]
fn a_secure_cnn_is_bit_exact_with_the_plain_definition() {
    let (seed, mut rng) = test_rng();
    let fixed = FixedPoint { f: 10, k: 34 };
    let (mut plan, weights) = cnn(fixed, &mut rng);
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        for source in SOURCES {
            check_runs(&plan, &weights, &mut rng, seed, source);
        }
    }
}

#[test]
fn a_secure_mlp_is_bit_exact_with_the_plain_definition() {
    let (seed, mut rng) = test_rng();
    let fixed = FixedPoint { f: 10, k: 30 };
    let (mut plan, weights) = mlp(&[20, 16, 12, 4], fixed, &mut rng);
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        for source in SOURCES {
            check_runs(&plan, &weights, &mut rng, seed, source);
        }
    }
}

/// One local run of `plan` on `input` with material from `source`.
fn run(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
    source: Preprocessing,
    rng: &mut Prg,
) -> LocalRun {
    run_local(plan, weights, input, source, rng).unwrap()
}

/// An encoded input of uniform values in [0, 1].
fn random_input(plan: &Plan, rng: &mut Prg) -> Vec<Ring> {
    (0..plan.input_len())
        .map(|_| plan.fixed.encode(rng.next_u32() as f64 / u32::MAX as f64))
        .collect()
}

fn check_runs(plan: &Plan, weights: &Weights, rng: &mut Prg, seed: Seed, source: Preprocessing) {
    for _ in 0..3 {
        let input = random_input(plan, rng);
        let output = run(plan, weights, &input, source, rng).output;
        let want = plain(plan, weights, &input);
        assert_eq!(output, want, "{:?} {source:?}, seed {seed:?}", plan.backend);
    }
}

fn joint(a: Tally, b: Tally) -> (u64, u64) {
    crate::channel::link_cost(a, b)
}

#[test]
fn each_layer_costs_exactly_its_formula() {
    let fixed = FixedPoint { f: 12, k: 32 };
    let (_, mut rng) = test_rng();
    let (mut plan, weights) = mlp(&[30, 24, 16, 10], fixed, &mut rng);
    let input = vec![fixed.encode(0.5); 30];
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        let run = run(&plan, &weights, &input, Preprocessing::Dealer, &mut rng);
        let model = cost::online(&plan);
        for (layer, want) in model.iter().enumerate() {
            let scope = Scope::layer(Phase::Online, layer);
            let (bytes, rounds) = joint(run.server.tally(scope), run.client.tally(scope));
            assert_eq!(Cost { bytes, rounds }, *want, "{backend:?}, layer {layer}");
        }
        let total: u64 = model.iter().map(|c| c.rounds).sum();
        let setup: u64 = [0, 2, 4]
            .iter()
            .map(|&l| {
                let scope = Scope::layer(Phase::Setup, l);
                joint(run.server.tally(scope), run.client.tally(scope)).0
            })
            .sum();
        assert_eq!(setup, cost::setup(&plan).bytes);
        assert_eq!(setup, 8 * (30 * 24 + 24 * 16 + 16 * 10));
        match backend {
            Backend::Gmw => {
                assert_eq!(model[1].bytes, 2 * relu::bytes_sent(fixed, 1, 24) as u64);
                assert_eq!(total, 1 + 2 * relu::rounds(fixed, 1) as u64 + 1);
            }
            Backend::Gc => {
                assert_eq!(model[1].bytes, 16 * 32 * 24, "the server's labels only");
                // F, labels, F, labels, F and the output: one round each.
                assert_eq!(total, 6);
            }
        }
    }
}

#[test]
fn each_cnn_layer_costs_exactly_its_formula() {
    let fixed = FixedPoint { f: 10, k: 34 };
    let (_, mut rng) = test_rng();
    let (mut plan, weights) = cnn(fixed, &mut rng);
    let input = vec![fixed.encode(0.25); plan.input_len()];
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        let run = run(&plan, &weights, &input, Preprocessing::Dealer, &mut rng);
        for (layer, want) in cost::online(&plan).iter().enumerate() {
            let scope = Scope::layer(Phase::Online, layer);
            let (bytes, rounds) = joint(run.server.tally(scope), run.client.tally(scope));
            assert_eq!(Cost { bytes, rounds }, *want, "{backend:?}, layer {layer}");
        }
        let setup: u64 = plan
            .linear_layers()
            .map(|(l, _)| {
                let scope = Scope::layer(Phase::Setup, l);
                joint(run.server.tally(scope), run.client.tally(scope)).0
            })
            .sum();
        assert_eq!(setup, cost::setup(&plan).bytes);
    }
    // The 2x2 max-pool: the carry circuit and two selection batches, closing, injection;
    // the residual layer sends F and the re-shared residual.
    assert_eq!(relu::rounds(fixed, 4), relu::rounds(fixed, 1) + 2);
    plan.backend = Backend::Gmw;
    assert_eq!(cost::online(&plan)[4].bytes, 8 * (36 + 36));
}

#[test]
fn dealer_free_layers_cost_exactly_their_formula() {
    let fixed = FixedPoint { f: 10, k: 34 };
    let (_, mut rng) = test_rng();
    let (cnn_plan, cnn_weights) = cnn(fixed, &mut rng);
    let (mlp_plan, mlp_weights) = mlp(&[30, 24, 16, 10], fixed, &mut rng);
    let plans = [(cnn_plan, cnn_weights), (mlp_plan, mlp_weights)];
    for ((mut plan, weights), linear) in plans
        .into_iter()
        .flat_map(|p| LINEAR.map(|l| (p.clone(), l)))
    {
        for backend in [Backend::Gmw, Backend::Gc] {
            plan.backend = backend;
            let input = vec![fixed.encode(0.25); plan.input_len()];
            let run = run(
                &plan,
                &weights,
                &input,
                // The formulas below are IKNP's.
                Preprocessing::TwoParty(linear, OtKind::Iknp),
                &mut rng,
            );
            let formula = cost::two_party(&plan, linear, OtKind::Iknp).unwrap();
            for (layer, want) in formula.iter().enumerate() {
                let is_linear = plan.layers[layer].kind.is_linear();
                let scope = Scope::layer(Phase::Offline, layer);
                let (bytes, rounds) = joint(run.server.tally(scope), run.client.tally(scope));
                // Under GMW a layer's rounds are its own flights, though the engine
                // visits its scope twice (material, then the offline step): a linear
                // layer's product by OT is one flight, by RLWE a round trip whose upload
                // rides in the client's last flight when the client spoke last (after its
                // public key, or a ReLU layer's pairs), a GMW layer's material three
                // (triples, then the pairs both ways). (A garbled layer's scope opens with
                // the material phase and closes with its own OTs and tables.)
                if backend == Backend::Gmw {
                    let flights = match (is_linear, linear) {
                        (true, LinearPrep::He) => 1..=2,
                        (true, LinearPrep::Ot) => 1..=1,
                        (false, _) => 3..=3,
                    };
                    assert!(
                        flights.contains(&rounds),
                        "layer {layer}: {rounds} offline rounds"
                    );
                }
                if backend == Backend::Gc && !is_linear {
                    continue; // the garbled layer's own offline traffic shares the scope
                }
                assert_eq!(bytes, *want, "{backend:?} {linear:?}, layer {layer}");
            }
            // No E = W − U: the setup holds the base OTs and the RLWE public key, as the
            // layers use them (and GC's own set-up).
            for (l, _) in plan.linear_layers() {
                let scope = Scope::layer(Phase::Setup, l);
                assert_eq!(joint(run.server.tally(scope), run.client.tally(scope)).0, 0);
            }
            if backend == Backend::Gmw {
                let scope = Scope::phase(Phase::Setup);
                let (bytes, _) = joint(run.server.tally(scope), run.client.tally(scope));
                let key = match linear {
                    LinearPrep::He => crate::he::exchange::PUBLIC_KEY_BYTES as u64,
                    LinearPrep::Ot => 0,
                };
                assert_eq!(
                    bytes,
                    2 * (32 + 4096) + key,
                    "base OTs both ways, and the key"
                );
            }
            // The online phase is the dealer path's.
            for (layer, want) in cost::online(&plan).iter().enumerate() {
                let scope = Scope::layer(Phase::Online, layer);
                let (bytes, rounds) = joint(run.server.tally(scope), run.client.tally(scope));
                assert_eq!(Cost { bytes, rounds }, *want, "{backend:?}, layer {layer}");
            }
        }
    }
}

/// One layer's stored bytes (its protocol's tag, then its ready state).
fn layer_bytes(put: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::default();
    put(&mut w);
    w.into_bytes()
}

/// A stored ready state, read back as its type.
fn read_stored<T: Stored>(bytes: &[u8]) -> T {
    let mut r = Reader::new(&bytes[1..]);
    let value = T::get(&mut r).unwrap();
    r.finish().unwrap();
    value
}

/// Both parties' queries made in one dealer-free session, each as its layers' bytes.
type Made = (Vec<Vec<Vec<u8>>>, Vec<Vec<Vec<u8>>>);

/// Sets up one dealer-free session of `plan` and makes `n` queries' material and offline
/// steps; returns each party's queries, layer by layer, as stored bytes. The client counts
/// the layers it was told were done into `seen`.
fn made_queries(
    plan: &Plan,
    weights: &Weights,
    linear: LinearPrep,
    n: usize,
    seen: &mut Vec<usize>,
) -> Made {
    let (a, b) = MemTransport::pair();
    let (_, mut rng) = test_rng();
    let (mut server_rng, mut client_rng) = (rng.split(), rng.split());
    std::thread::scope(|scope| {
        let server = scope.spawn(move || {
            let rng = &mut server_rng;
            let mut ch = Channel::new(a);
            let source = ServerSource::TwoParty(linear, OtKind::default());
            let mut setup = ServerSetup::run(&mut ch, plan, weights, source, rng).unwrap();
            (0..n)
                .map(|_| {
                    let m = setup.make(&mut ch).unwrap();
                    let q = setup.offline(&mut ch, m, rng).unwrap();
                    q.steps.iter().map(|s| layer_bytes(|w| s.put(w))).collect()
                })
                .collect()
        });
        let rng = &mut client_rng;
        let mut ch = Channel::new(b);
        let source = Preprocessing::TwoParty(linear, OtKind::default());
        let mut setup = ClientSetup::run(&mut ch, plan, source, rng).unwrap();
        let client = (0..n)
            .map(|_| {
                let m = setup.make(&mut ch, &mut |i| seen.push(i)).unwrap();
                let q = setup.offline(&mut ch, m, rng).unwrap();
                q.steps.iter().map(|s| layer_bytes(|w| s.put(w))).collect()
            })
            .collect();
        (server.join().unwrap(), client)
    })
}

/// Two queries of one dealer-free session: every piece of material is fresh, and the
/// linear shares sum to W ⋆ V (modulo what the layer's consumer reads, by RLWE).
#[test]
fn dealer_free_queries_never_share_material() {
    let fixed = FixedPoint { f: 10, k: 34 };
    let (_, mut rng) = test_rng();
    let (plan, weights) = cnn(fixed, &mut rng);
    for linear in LINEAR {
        fresh_material(&plan, &weights, linear);
    }
}

fn fresh_material(plan: &Plan, weights: &Weights, linear: LinearPrep) {
    let fixed = plan.fixed;
    let mut seen = Vec::new();
    let (server, client) = made_queries(plan, weights, linear, 2, &mut seen);
    let layers: Vec<usize> = (0..plan.layers.len()).collect();
    assert_eq!(
        seen,
        [layers.clone(), layers].concat(),
        "progress once per layer"
    );
    let mut w = weights.linear.iter();
    for (i, layer) in plan.layers.iter().enumerate() {
        for q in [&server, &client] {
            assert_ne!(
                q[0][i], q[1][i],
                "layer {i}: the second query's material is fresh"
            );
        }
        let LayerKind::Linear(l) = &layer.kind else {
            for q in [&server, &client] {
                let r: [ReluShare; 2] = [0, 1].map(|n| read_stored(&q[n][i]));
                assert_ne!(r[0].triples[0].u, r[1].triples[0].u, "layer {i}");
                assert_ne!(r[0].product.big_r, r[1].product.big_r, "layer {i}");
            }
            continue;
        };
        let w = &w.next().unwrap().w;
        for q in 0..2 {
            let s: LinearShare = read_stored(&server[q][i]);
            let c: PreparedLinear = read_stored(&client[q][i]);
            assert!(s.mask.is_empty(), "the server never holds V");
            let (mask, residual_mask, output) = c.parts();
            let mut sum = crate::share::add(&s.uv, output);
            if let Some(t) = residual_mask {
                // The client's share carries 2^f · T for a residual input: take it off.
                for (v, t) in sum.iter_mut().zip(t) {
                    *v = v.wrapping_sub(t << fixed.f);
                }
            }
            let bits = match linear {
                LinearPrep::He => crate::he::exchange::output_bits(plan, i),
                LinearPrep::Ot => 64,
            };
            let read = |v: Ring| v & (u64::MAX >> (64 - bits));
            let want: Vec<Ring> = l.apply(w, mask).into_iter().map(read).collect();
            let sum: Vec<Ring> = sum.into_iter().map(read).collect();
            assert_eq!(sum, want, "layer {i} {linear:?}: shares of W ⋆ V");
        }
    }
}

/// Queries made ahead of time: three queries' material is made in one session, kept as
/// bytes, then spent out of order over a new channel with no session at all. Every output
/// is bit-exact (a garbled layer resumes at its own tweaks), and damaged bytes are an error.
#[test]
fn kept_queries_are_spent_later_out_of_order() {
    let (seed, mut rng) = test_rng();
    let fixed = FixedPoint { f: 10, k: 34 };
    let (mut plan, weights) = cnn(fixed, &mut rng);
    for (backend, linear) in [
        (Backend::Gmw, LinearPrep::He),
        (Backend::Gc, LinearPrep::Ot),
    ] {
        plan.backend = backend;
        let (server, client) = made_queries(&plan, &weights, linear, 3, &mut Vec::new());
        let joined = |layers: &Vec<Vec<u8>>| {
            let mut w = Writer::default();
            w.u32(layers.len() as u32);
            layers.iter().for_each(|l| {
                w.bytes(l);
            });
            w.into_bytes()
        };
        let server: Vec<Vec<u8>> = server.iter().map(joined).collect();
        let client: Vec<Vec<u8>> = client.iter().map(joined).collect();

        for q in [2, 0, 1] {
            let input = random_input(&plan, &mut rng);
            let (a, b) = MemTransport::pair();
            let output = std::thread::scope(|scope| {
                scope.spawn(|| {
                    let query = ServerQuery::from_bytes(&plan, &server[q]).unwrap();
                    server_online(&mut Channel::new(a), &plan, &weights, query).unwrap();
                });
                let prepared = PreparedQuery::from_bytes(&plan, &client[q]).unwrap();
                client_online(&mut Channel::new(b), &plan, prepared, &input)
                    .unwrap()
                    .0
            });
            let want = plain(&plan, &weights, &input);
            assert_eq!(output, want, "{backend:?}, query {q}, seed {seed:?}");
        }

        let bytes = &client[0];
        assert!(PreparedQuery::from_bytes(&plan, &bytes[..bytes.len() - 1]).is_err());
        assert!(
            ServerQuery::from_bytes(&plan, bytes).is_err(),
            "the other party's"
        );
        let mut other = plan.clone();
        other.layers.pop();
        assert!(ServerQuery::from_bytes(&other, &server[0]).is_err());
    }
}

use super::cost::{self, Cost};
use super::*;
use crate::channel::Tally;
use crate::layers::relu;
use crate::local::{run_local, run_local_two_party, LocalRun};
use crate::plan::{Backend, LinearWeights, PlanLayer};
use crate::prg::{Prg, Seed};
use crate::ring::{truncate, FixedPoint};
use rand_core::RngCore;

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
    let seed = Seed::random();
    let mut rng = Prg::new(seed);
    let fixed = FixedPoint { f: 10, k: 34 };
    let (mut plan, weights) = cnn(fixed, &mut rng);
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        check_runs(&plan, &weights, &mut rng, seed, run_local);
        check_runs(&plan, &weights, &mut rng, seed, run_local_two_party);
    }
}

#[test]
fn a_secure_mlp_is_bit_exact_with_the_plain_definition() {
    let seed = Seed::random();
    let mut rng = Prg::new(seed);
    let fixed = FixedPoint { f: 10, k: 30 };
    let (mut plan, weights) = mlp(&[20, 16, 12, 4], fixed, &mut rng);
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        check_runs(&plan, &weights, &mut rng, seed, run_local);
        check_runs(&plan, &weights, &mut rng, seed, run_local_two_party);
    }
}

type Runner = fn(&Plan, &Weights, &[Ring]) -> Result<LocalRun, ProtocolError>;

/// An encoded input of uniform values in [0, 1].
fn random_input(plan: &Plan, rng: &mut Prg) -> Vec<Ring> {
    (0..plan.input_len())
        .map(|_| plan.fixed.encode(rng.next_u32() as f64 / u32::MAX as f64))
        .collect()
}

fn check_runs(plan: &Plan, weights: &Weights, rng: &mut Prg, seed: Seed, run: Runner) {
    for _ in 0..3 {
        let input = random_input(plan, rng);
        let run = run(plan, weights, &input).unwrap();
        let want = plain(plan, weights, &input);
        assert_eq!(run.output, want, "{:?}, seed {seed:?}", plan.backend);
    }
}

fn joint(a: Tally, b: Tally) -> (u64, u64) {
    crate::channel::link_cost(a, b)
}

#[test]
fn each_layer_costs_exactly_its_formula() {
    let fixed = FixedPoint { f: 12, k: 32 };
    let mut rng = Prg::new(Seed::random());
    let (mut plan, weights) = mlp(&[30, 24, 16, 10], fixed, &mut rng);
    let input = vec![fixed.encode(0.5); 30];
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        let run = run_local(&plan, &weights, &input).unwrap();
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
    let mut rng = Prg::new(Seed::random());
    let (mut plan, weights) = cnn(fixed, &mut rng);
    let input = vec![fixed.encode(0.25); plan.input_len()];
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        let run = run_local(&plan, &weights, &input).unwrap();
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
    let mut rng = Prg::new(Seed::random());
    let (cnn_plan, cnn_weights) = cnn(fixed, &mut rng);
    let (mlp_plan, mlp_weights) = mlp(&[30, 24, 16, 10], fixed, &mut rng);
    for (mut plan, weights) in [(cnn_plan, cnn_weights), (mlp_plan, mlp_weights)] {
        for backend in [Backend::Gmw, Backend::Gc] {
            plan.backend = backend;
            let input = vec![fixed.encode(0.25); plan.input_len()];
            let run = run_local_two_party(&plan, &weights, &input).unwrap();
            let formula = crate::prep::offline_bytes(&plan).unwrap();
            for (layer, want) in formula.iter().enumerate() {
                if backend == Backend::Gc && !plan.layers[layer].kind.is_linear() {
                    continue; // the garbled layer's own offline traffic shares the scope
                }
                let scope = Scope::layer(Phase::Offline, layer);
                let (bytes, _) = joint(run.server.tally(scope), run.client.tally(scope));
                assert_eq!(bytes, *want, "{backend:?}, layer {layer}");
            }
            // No E = W − U: the setup holds the base OTs only (and GC's own set-up).
            for (l, _) in plan.linear_layers() {
                let scope = Scope::layer(Phase::Setup, l);
                assert_eq!(joint(run.server.tally(scope), run.client.tally(scope)).0, 0);
            }
            if backend == Backend::Gmw {
                let scope = Scope::phase(Phase::Setup);
                let (bytes, _) = joint(run.server.tally(scope), run.client.tally(scope));
                assert_eq!(bytes, 2 * (32 + 4096), "base OTs both ways");
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

/// Two queries of one dealer-free session: every piece of material is fresh, and the
/// linear shares sum to W ⋆ V.
#[test]
fn dealer_free_queries_never_share_material() {
    use crate::channel::MemTransport;
    use crate::prep::TwoPartyPrep;
    let fixed = FixedPoint { f: 10, k: 34 };
    let mut rng = Prg::new(Seed::random());
    let (plan, weights) = cnn(fixed, &mut rng);
    let (a, b) = MemTransport::pair();
    let (server, client) = std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let mut ch = Channel::new(a);
            let mut prep = TwoPartyPrep::server(&mut ch, &plan, &weights).unwrap();
            [(); 2].map(|_| prep.query(&mut ch, &plan, &mut |_| {}).unwrap())
        });
        let mut ch = Channel::new(b);
        let mut prep = TwoPartyPrep::client(&mut ch, &plan).unwrap();
        let mut seen = Vec::new();
        let client = [(); 2].map(|_| prep.query(&mut ch, &plan, &mut |i| seen.push(i)).unwrap());
        let layers: Vec<usize> = (0..plan.layers.len()).collect();
        assert_eq!(
            seen,
            [layers.clone(), layers].concat(),
            "progress once per layer"
        );
        (server.join().unwrap(), client)
    });
    let linear = |m: &QueryMaterial, i: usize| match &m.layers[i] {
        LayerMaterial::Linear(l) => l.clone(),
        _ => panic!("layer {i} is linear"),
    };
    let relu = |m: &QueryMaterial, i: usize| match &m.layers[i] {
        LayerMaterial::Relu(r) => r.clone(),
        _ => panic!("layer {i} is a GMW ReLU"),
    };
    let mut w = weights.linear.iter();
    for (i, layer) in plan.layers.iter().enumerate() {
        match &layer.kind {
            LayerKind::Linear(l) => {
                let w = &w.next().unwrap().w;
                let (s, c) = (
                    [0, 1].map(|q| linear(&server[q], i)),
                    [0, 1].map(|q| linear(&client[q], i)),
                );
                for q in 0..2 {
                    assert!(s[q].mask.is_empty());
                    assert_eq!(
                        crate::share::add(&s[q].uv, &c[q].uv),
                        l.apply(w, &c[q].mask)
                    );
                }
                assert_ne!(c[0].mask, c[1].mask, "layer {i}");
                assert_ne!(s[0].uv, s[1].uv, "layer {i}");
            }
            _ => {
                let (s, c) = (
                    [0, 1].map(|q| relu(&server[q], i)),
                    [0, 1].map(|q| relu(&client[q], i)),
                );
                for r in [&s, &c] {
                    assert_ne!(r[0].triples[0].u, r[1].triples[0].u, "layer {i}");
                    assert_ne!(r[0].product.big_r, r[1].product.big_r, "layer {i}");
                    assert_ne!(r[0].carry.arith, r[1].carry.arith, "layer {i}");
                    assert_ne!(r[0].wrap.arith, r[1].wrap.arith, "layer {i}");
                }
            }
        }
    }
}

/// Queries made ahead of time: three queries' material is made in one session, kept as
/// bytes, then spent out of order over a new channel with no session at all. Every output
/// is bit-exact (a garbled layer resumes at its own tweaks), and damaged bytes are an error.
#[test]
fn kept_queries_are_spent_later_out_of_order() {
    use crate::channel::MemTransport;
    let seed = Seed::random();
    let mut rng = Prg::new(seed);
    let fixed = FixedPoint { f: 10, k: 34 };
    let (mut plan, weights) = cnn(fixed, &mut rng);
    for backend in [Backend::Gmw, Backend::Gc] {
        plan.backend = backend;
        let (a, b) = MemTransport::pair();
        let (server, client) = std::thread::scope(|scope| {
            let server = scope.spawn(|| {
                let mut ch = Channel::new(a);
                let mut setup = server_setup(&mut ch, &plan, &weights, None).unwrap();
                [(); 3].map(|_| {
                    let m = server_material(&mut ch, &plan, &mut setup).unwrap();
                    server_offline(&mut ch, &plan, &mut setup, m)
                        .unwrap()
                        .to_bytes()
                })
            });
            let mut ch = Channel::new(b);
            let mut setup = client_setup(&mut ch, &plan, Preprocessing::TwoParty).unwrap();
            let client = [(); 3].map(|_| {
                let m = client_material(&mut ch, &plan, &mut setup, &mut |_| {}).unwrap();
                client_offline(&mut ch, &plan, &mut setup, m)
                    .unwrap()
                    .to_bytes()
            });
            (server.join().unwrap(), client)
        });

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

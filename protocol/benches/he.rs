//! The homomorphic linear layers without a dealer: every linear layer of a shipped model,
//! one query's material (the client's encryption, the server's products, the client's
//! decryption), both parties in this process on two threads over the in-memory pipe, with
//! the bytes each sends. Goals (issue 13): MiniONN's MNIST CNN ≤ 3 MB and ≤ 100 ms, the
//! MLP ≤ 1.5 MB, MiniONN's CIFAR-10 network ≤ 60 MB and ≤ 3 s.
// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion};

use veil_protocol::channel::{Channel, MemTransport, Phase};
use veil_protocol::he::exchange::{output_bits, HeClient, HeLayer, HeServer, ServerKernels};
use veil_protocol::plan::LayerKind;
use veil_protocol::prg::Prg;

/// The binaries' allocator, so that these figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Ch = Channel<MemTransport>;

/// Both parties after setup, and every linear layer of one model.
struct Model {
    client: HeClient,
    server: HeServer,
    cc: Ch,
    cs: Ch,
    layers: Vec<(HeLayer, ServerKernels)>,
}

impl Model {
    /// Loads `file` from the shipped models and runs the key setup.
    fn load(file: &str) -> Model {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(file);
        let model = veil_model::load(&path).expect("a shipped model");
        let mut weights = model.weights.linear.iter();
        let layers = (model.plan.layers.iter().enumerate())
            .filter_map(|(index, layer)| match &layer.kind {
                LayerKind::Linear(l) => Some((index, *l)),
                _ => None,
            })
            .map(|(index, l)| {
                let shape = HeLayer::new(l, output_bits(&model.plan, index));
                let w = weights.next().expect("weights for each linear layer");
                let kernels = shape.kernels(&w.w).expect("the shipped weights fit");
                (shape, kernels)
            })
            .collect();
        let (a, b) = MemTransport::pair();
        let (mut cc, mut cs) = (Channel::new(a), Channel::new(b));
        let (client, server) = thread::scope(|sc| {
            let server = sc.spawn(|| HeServer::setup(&mut cs, &mut Prg::from_os()).unwrap());
            let client = HeClient::setup(&mut cc, &mut Prg::from_os()).unwrap();
            (client, server.join().expect("server thread"))
        });
        Model {
            client,
            server,
            cc,
            cs,
            layers,
        }
    }

    /// One query's material for every linear layer.
    fn query(&mut self) {
        let Model {
            client,
            server,
            cc,
            cs,
            layers,
        } = self;
        thread::scope(|sc| {
            let served = sc.spawn(|| {
                for (_, kernels) in layers.iter() {
                    kernels.make(server, cs).expect("server side");
                }
            });
            for (shape, _) in layers.iter() {
                let mask = client.mask(shape.input_len());
                shape.client(client, &mask, cc).expect("client side");
            }
            served.join().expect("server thread");
        });
    }

    /// Bytes each party sends for one query.
    fn bytes(&mut self) -> (u64, u64) {
        self.cc.take_meter();
        self.cs.take_meter();
        self.query();
        let sent = |ch: &Ch| ch.meter().phase_total(Phase::Control).sent;
        (sent(&self.cc), sent(&self.cs))
    }
}

fn linear_layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("he");
    g.sample_size(10);
    for (name, file) in [
        ("secureml-mlp", "mnist-mlp.onnx"),
        ("minionn-mnist", "mnist-cnn-minionn.onnx"),
        ("minionn-cifar10", "cifar10-minionn.onnx"),
    ] {
        let mut model = Model::load(file);
        let (up, down) = model.bytes();
        println!(
            "he/{name}: {} linear layers, one query: client sent {up} B, server sent {down} B, \
             {:.2} MB in all",
            model.layers.len(),
            (up + down) as f64 / 1e6
        );
        g.bench_function(name, |b| b.iter(|| model.query()));
    }
    g.finish();
}

criterion_group!(benches, linear_layers);
criterion_main!(benches);

//! What the crate's unit tests share: a small plan (a dense layer, then a ReLU) and its
//! dealt material, and two parties run at once.

use crate::layers::linear::LinearLayer;
use crate::layers::relu_gmw::{ReluGmw, ReluShare};
use crate::layers::LayerProtocol;
use crate::material::{Draw, LinearShare, MaterialMsg};
use crate::plan::{Backend, LayerKind, Plan, PlanLayer};
use crate::prg::Prg;
use crate::ring::FixedPoint;

/// A plan of `cols` inputs, a dense layer of `rows` outputs, and a ReLU.
pub(crate) fn dense_relu(cols: usize, rows: usize, fixed: FixedPoint) -> Plan {
    Plan {
        model: "dense-relu".into(),
        input_shape: vec![cols],
        input_range: (0.0, 1.0),
        fixed,
        backend: Backend::Gmw,
        layers: vec![
            PlanLayer {
                name: "fc".into(),
                kind: LayerKind::dense(rows, cols),
            },
            PlanLayer {
                name: "relu".into(),
                kind: LayerKind::ReluTrunc { len: rows },
            },
        ],
    }
}

/// One party's material for a [`dense_relu`] plan.
pub(crate) type Expanded = (LinearShare, ReluShare);

/// Each party's material for a [`dense_relu`] plan from the dealer's two messages,
/// expanded as the engine does (the layers in order, one drawing each); panics if a
/// correction is missing or left over.
pub(crate) fn expand_both(
    plan: &Plan,
    server: &MaterialMsg,
    client: &MaterialMsg,
) -> (Expanded, Expanded) {
    let LayerKind::Linear(l) = plan.layers[0].kind else {
        unreachable!("the first layer is linear")
    };
    let linear = LinearLayer::new(l, plan.fixed, 64);
    let relu = ReluGmw::new(plan.fixed, plan.layers[1].kind.windows().unwrap(), 64);
    let mut prg = Prg::new(server.seed);
    let mut d = Draw::server(&mut prg);
    let (Some(sl), _) = linear.draw(&mut d, None).unwrap() else {
        unreachable!("the server's side")
    };
    let (Some(sr), _) = relu.draw(&mut d, None).unwrap() else {
        unreachable!("the server's side")
    };
    let mut prg = Prg::new(client.seed);
    let mut d = Draw::client(&mut prg, &client.corrections);
    let (_, Some(cl)) = linear.draw(&mut d, None).unwrap() else {
        unreachable!("the client's side")
    };
    let (_, Some(cr)) = relu.draw(&mut d, None).unwrap() else {
        unreachable!("the client's side")
    };
    d.finish().expect("every correction read");
    ((sl, sr), (cl, cr))
}

/// Runs `f` here and `g` on a second thread, at once: the two parties of a protocol.
pub(crate) fn both<A: Send, B: Send>(
    f: impl FnOnce() -> A + Send,
    g: impl FnOnce() -> B + Send,
) -> (A, B) {
    std::thread::scope(|sc| {
        let h = sc.spawn(g);
        let a = f();
        (a, h.join().expect("peer thread"))
    })
}

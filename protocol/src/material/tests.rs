use super::*;
use crate::plan::PlanLayer;
use crate::ring::FixedPoint;

fn plan() -> Plan {
    Plan {
        model: "t".into(),
        input_shape: vec![5],
        input_range: (0.0, 1.0),
        fixed: FixedPoint { f: 6, k: 20 },
        backend: crate::plan::Backend::Gmw,
        layers: vec![
            PlanLayer {
                name: "fc".into(),
                kind: LayerKind::dense(70, 5),
            },
            PlanLayer {
                name: "relu".into(),
                kind: LayerKind::ReluTrunc { len: 70 },
            },
        ],
    }
}

fn both(plan: &Plan, masks: &SessionMasks) -> (QueryMaterial, QueryMaterial) {
    let (s, c) = deal(plan, masks);
    (
        expand(plan, Role::Server, s).unwrap(),
        expand(plan, Role::Client, c).unwrap(),
    )
}

#[test]
fn expanded_material_satisfies_every_identity() {
    let plan = plan();
    let masks = SessionMasks::expand(&plan, Seed::random());
    let (s, c) = both(&plan, &masks);
    let (LayerMaterial::Linear(sl), LayerMaterial::Linear(cl)) = (&s.layers[0], &c.layers[0])
    else {
        panic!("linear material expected")
    };
    let uv = crate::linalg::matvec(masks.linear(0), 70, 5, &cl.mask);
    assert_eq!(
        crate::share::add(&sl.uv, &cl.uv),
        uv,
        "[UV] shares reconstruct U·V"
    );
    assert!(sl.mask.is_empty(), "the server never holds V");

    let (LayerMaterial::Relu(sr), LayerMaterial::Relu(cr)) = (&s.layers[1], &c.layers[1]) else {
        panic!("relu material expected")
    };
    let schedule = crate::layers::relu::schedule(plan.fixed, 1, 70);
    assert_eq!(
        sr.triples.len(),
        schedule.iter().map(|(g, _)| g).sum::<usize>()
    );
    for (a, b) in sr.triples.iter().zip(&cr.triples) {
        let u = a.u.xor(&b.u).unwrap();
        let v = a.v.xor(&b.v).unwrap();
        assert_eq!(u.and(&v).unwrap(), a.w.xor(&b.w).unwrap(), "c = a·b");
    }
    for (a, b) in [
        (&sr.carry, &cr.carry),
        (&sr.wrap, &cr.wrap),
        (&sr.product.inject, &cr.product.inject),
    ] {
        let r = a.r.xor(&b.r).unwrap();
        for i in 0..70 {
            assert_eq!(a.arith[i].wrapping_add(b.arith[i]), r.get(i) as u64);
        }
    }
    let r = sr.product.inject.r.xor(&cr.product.inject.r).unwrap();
    for i in 0..70 {
        let big_r = sr.product.big_r[i].wrapping_add(cr.product.big_r[i]);
        let rr = sr.product.product[i].wrapping_add(cr.product.product[i]);
        assert_eq!(rr, (r.get(i) as u64).wrapping_mul(big_r));
    }
}

#[test]
fn each_deal_is_fresh_and_the_server_gets_only_a_seed() {
    let plan = plan();
    let masks = SessionMasks::expand(&plan, Seed::random());
    let (s1, c1) = deal(&plan, &masks);
    let (s2, c2) = deal(&plan, &masks);
    assert_ne!(s1.seed, s2.seed);
    assert_ne!(c1.corrections, c2.corrections);
    assert_eq!(s1.encode().len(), 16);
    assert_eq!(c1.corrections.len(), correction_len(&plan));
    assert_eq!(
        correction_len_by_layer(&plan).iter().sum::<usize>(),
        correction_len(&plan)
    );
}

#[test]
fn wrong_length_messages_are_refused() {
    let plan = plan();
    let masks = SessionMasks::expand(&plan, Seed::random());
    let (_, c) = deal(&plan, &masks);
    let bytes = c.encode();
    assert!(MaterialMsg::decode(&plan, Role::Client, &bytes).is_ok());
    assert!(MaterialMsg::decode(&plan, Role::Client, &bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(MaterialMsg::decode(&plan, Role::Client, &longer).is_err());
    assert!(MaterialMsg::decode(&plan, Role::Server, &bytes).is_err());
}

use super::*;
use crate::fixtures::{dense_relu, expand_both};
use crate::layers::relu_gmw::schedule;
use crate::ring::FixedPoint;

fn plan() -> Plan {
    dense_relu(5, 70, FixedPoint { f: 6, k: 20 })
}

#[test]
fn expanded_material_satisfies_every_identity() {
    let plan = plan();
    let mut rng = Prg::new(Seed::random());
    let masks = SessionMasks::expand(&plan, Seed::from_rng(&mut rng));
    let (s_msg, c_msg) = deal(&masks, &mut rng);
    let ((sl, sr), (cl, cr)) = expand_both(&plan, &s_msg, &c_msg);

    let uv = crate::linalg::matvec(masks.layer(0), 70, 5, &cl.mask);
    assert_eq!(
        crate::share::add(&sl.uv, &cl.uv),
        uv,
        "[UV] shares reconstruct U·V"
    );
    assert!(sl.mask.is_empty(), "the server never holds V");

    let schedule = schedule(plan.fixed, 1, 70);
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
    let mut rng = Prg::new(Seed::random());
    let masks = SessionMasks::expand(&plan, Seed::from_rng(&mut rng));
    let (s1, c1) = deal(&masks, &mut rng);
    let (s2, c2) = deal(&masks, &mut rng);
    assert_ne!(s1.seed, s2.seed);
    assert_ne!(c1.corrections, c2.corrections);
    assert_eq!(s1.encode().len(), 16);
    assert_eq!(c1.corrections.len(), correction_len(&plan));
    assert_eq!(
        correction_len_by_layer(&plan),
        vec![8 * 70, correction_len(&plan) - 8 * 70],
        "one ring element per output of the linear layer"
    );
}

#[test]
fn the_same_seeds_deal_the_same_material() {
    let plan = plan();
    let seed = Seed::random();
    let masks = SessionMasks::expand(&plan, seed);
    let (a, b) = (
        deal(&masks, &mut Prg::new(seed)),
        deal(&masks, &mut Prg::new(seed)),
    );
    assert_eq!(a, b, "the dealer draws nothing of its own");
}

#[test]
fn wrong_length_messages_are_refused() {
    let plan = plan();
    let mut rng = Prg::new(Seed::random());
    let masks = SessionMasks::expand(&plan, Seed::from_rng(&mut rng));
    let (_, c) = deal(&masks, &mut rng);
    let bytes = c.encode();
    assert!(MaterialMsg::decode(correction_len(&plan), &bytes).is_ok());
    assert!(MaterialMsg::decode(correction_len(&plan), &bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(MaterialMsg::decode(correction_len(&plan), &longer).is_err());
    assert!(MaterialMsg::decode(0, &bytes).is_err());
}

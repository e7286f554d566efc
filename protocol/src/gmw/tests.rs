use super::*;
use crate::channel::MemTransport;
use crate::prg::{Prg, Seed};
use rand_core::RngCore;
use std::thread;
use veil_circuits::{sign_and_carries, Plain};

/// A trusted dealer for tests: `gates` triples of width `n`, shared.
pub(crate) fn deal_triples(
    gates: usize,
    n: usize,
    rng: &mut Prg,
) -> (Vec<BitTriple>, Vec<BitTriple>) {
    let bits = |rng: &mut Prg| {
        let mut b = Bits::zeros(n);
        b.words.iter_mut().for_each(|w| *w = rng.next_u64());
        b.mask_tail();
        b
    };
    let mut a = Vec::new();
    let mut c = Vec::new();
    for _ in 0..gates {
        let (u0, v0, w0, u1, v1) = (bits(rng), bits(rng), bits(rng), bits(rng), bits(rng));
        let w = u0.xor(&u1).unwrap().and(&v0.xor(&v1).unwrap()).unwrap();
        let w1 = w.xor(&w0).unwrap();
        a.push(BitTriple {
            u: u0,
            v: v0,
            w: w0,
        });
        c.push(BitTriple {
            u: u1,
            v: v1,
            w: w1,
        });
    }
    (a, c)
}

#[test]
fn gmw_runs_the_carry_circuit_exactly_as_plain_does() {
    let seed = Seed::random();
    let mut rng = Prg::new(seed);
    let (n, k, f) = (100usize, 32u32, 12usize);
    let xs: Vec<u64> = (0..n).map(|_| rng.next_u64() & 0xffff_ffff).collect();
    let ys: Vec<u64> = (0..n).map(|_| rng.next_u64() & 0xffff_ffff).collect();
    let plain = sign_and_carries(
        &mut Plain,
        &Bits::slice_all(&xs, k),
        &Bits::slice_all(&ys, k),
        f,
    )
    .unwrap();

    let (t0, t1) = deal_triples(200, n, &mut rng);
    let (a, b) = MemTransport::pair();
    let client = thread::spawn(move || {
        let mut ch = Channel::new(b);
        let (x, y) = input_wires(Role::Client, &ys, k);
        let mut g = Gmw::new(&mut ch, Role::Client, t1);
        sign_and_carries(&mut g, &x, &y, f).unwrap()
    });
    let mut ch = Channel::new(a);
    let (x, y) = input_wires(Role::Server, &xs, k);
    let mut g = Gmw::new(&mut ch, Role::Server, t0);
    let s = sign_and_carries(&mut g, &x, &y, f).unwrap();
    let c = client.join().unwrap();
    let open = |a: &Bits, b: &Bits| a.xor(b).unwrap();
    assert_eq!(open(&s.msb, &c.msb), plain.msb, "seed {seed:?}");
    assert_eq!(open(&s.carry_f, &c.carry_f), plain.carry_f);
    assert_eq!(open(&s.wrap, &c.wrap), plain.wrap);
}

#[test]
fn running_out_of_triples_is_an_error() {
    let (a, _b) = MemTransport::pair();
    let mut ch = Channel::new(a);
    let mut g = Gmw::new(&mut ch, Role::Server, Vec::new());
    let w = Bits::zeros(3);
    assert!(matches!(
        g.and_batch(&[(&w, &w)]),
        Err(ProtocolError::Material(_))
    ));
}

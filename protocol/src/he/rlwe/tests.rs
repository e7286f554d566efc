use super::*;
use crate::he::definition::negacyclic_mul_acc;
use crate::he::params::{C0_EXTRA_BITS, C1_EXTRA_BITS};
use crate::prg::{Prg, Seed};
use rand_core::RngCore;

fn rng(n: u8) -> Prg {
    Prg::new(Seed([n; 16]))
}

/// The negacyclic product `m·w mod t` by its definition, `w` sparse.
fn product(m: &[u64], w: &[(usize, i64)], mask: u64) -> Vec<u64> {
    let mut out = vec![0u64; N];
    negacyclic_mul_acc(&mut out, m, w);
    out.iter().map(|v| v & mask).collect()
}

/// Encrypts `m`, multiplies by the sparse `w` at the server, replies on `at`, decrypts:
/// the client's and the server's shares.
fn run(bits: u32, m: &[u64], w: &[(usize, i64)], at: &[usize]) -> (Vec<u64>, Vec<u64>) {
    let (mut client, mut server) = (rng(1), rng(2));
    let scale = Scale::new(bits);
    let (sk, pk_msg) = SecretKey::generate(&mut client);
    let upload = sk.encrypt(&mut client, &scale, m);
    let pk = PublicKey::from_msg(&pk_msg);
    let mut dense = vec![0i64; N];
    for &(j, v) in w {
        dense[j] = v;
    }
    let mut wp = Poly::from_signed(&dense);
    wp.ntt();
    let mut prod = Product::new();
    prod.add(&Ciphertext::from_upload(&upload), &wp);
    let widths = (bits + C1_EXTRA_BITS, bits + C0_EXTRA_BITS);
    let (reply, shares) = prod.reply(&mut server, &pk, at, &scale, widths);
    (sk.decrypt(&reply, at, &scale, widths), shares)
}

#[test]
fn shares_of_the_plaintext_product_come_out_exactly() {
    let mut r = rng(9);
    for bits in [64, 37, 20, 1] {
        let scale = Scale::new(bits);
        let m: Vec<u64> = (0..N).map(|_| r.next_u64() & scale.mask()).collect();
        // Weights of up to 2^20 in absolute value at 40 places, ‖w‖₁ < 2^26.
        let w: Vec<(usize, i64)> = (0..40)
            .map(|i| (i * 97 % N, (r.next_u64() % (1 << 21)) as i64 - (1 << 20)))
            .collect();
        let at: Vec<usize> = (0..N).step_by(7).collect();
        let (client, server) = run(bits, &m, &w, &at);
        let want = product(&m, &w, scale.mask());
        for (j, &k) in at.iter().enumerate() {
            let sum = client[j].wrapping_add(server[j]) & scale.mask();
            assert_eq!(sum, want[k], "ℓ = {bits}, coefficient {k}");
        }
    }
}

#[test]
fn switching_rounds_the_scaled_value() {
    // c = 0 and c = Q − 1 (that is, −1) both round to 0; c = ⌊Q/2⌋ to half the range.
    let q = PRIMES;
    assert_eq!(switch([0; K], 64), 0);
    assert_eq!(switch([q[0] - 1, q[1] - 1, q[2] - 1], 64), 0);
    // Q is odd: (Q − 1)/2 ≡ −1/2 ≡ (q_i − 1)/2 mod each prime; it scales to 2^63.
    let half: [u64; K] = std::array::from_fn(|i| (q[i] - 1) / 2);
    let got = switch(half, 64);
    let want = 1u128 << 63;
    assert!(got.abs_diff(want) <= 1, "{got} vs {want}");
}

#[test]
fn ciphertexts_and_keys_print_no_secret() {
    let (sk, _) = SecretKey::generate(&mut rng(3));
    assert_eq!(
        format!("{sk:?}"),
        format!("SecretKey({N} values, redacted)")
    );
}

/// What the client sees of one product: its key, and the ciphertext of a random `m`.
struct Client {
    sk: SecretKey,
    pk: PublicKey,
    ct: Ciphertext,
    m: Vec<u64>,
}

fn client(seed: u8, scale: &Scale) -> Client {
    let mut r = rng(seed);
    let (sk, pk_msg) = SecretKey::generate(&mut r);
    let m: Vec<u64> = (0..N).map(|_| r.next_u64() & scale.mask()).collect();
    let ct = Ciphertext::from_upload(&sk.encrypt(&mut r, scale, &m));
    Client {
        pk: PublicKey::from_msg(&pk_msg),
        sk,
        ct,
        m,
    }
}

/// A sparse kernel: `count` weights of absolute value below `2^bits`.
fn kernel(r: &mut Prg, count: usize, bits: u32) -> (Vec<(usize, i64)>, Poly) {
    let w: Vec<(usize, i64)> = (0..count)
        .map(|i| {
            (
                i * 31 % N,
                (r.next_u64() % (2 << bits)) as i64 - (1 << bits),
            )
        })
        .collect();
    let mut dense = vec![0i64; N];
    for &(j, v) in &w {
        dense[j] = v;
    }
    let mut p = Poly::from_signed(&dense);
    p.ntt();
    (w, p)
}

/// `c0 + c1·s` at every coefficient, `c1` in coefficient form.
fn phase(sk: &SecretKey, c1: &Poly, c0_at: impl Fn(usize) -> [u64; K]) -> Vec<[u64; K]> {
    let mut c1 = c1.clone();
    c1.ntt();
    let mut cs = Poly::zero();
    cs.mul_acc(&c1, &sk.s);
    cs.intt();
    (0..N)
        .map(|k| {
            let (x, c0) = (cs.residues(k), c0_at(k));
            std::array::from_fn(|i| arith::add(x[i], c0[i], PRIMES[i]))
        })
        .collect()
}

/// `x − ⌊Q·m/t⌉` as a centred integer, for a difference below `q0·q1/2` (CRT on the
/// first two primes).
fn noise(x: [u64; K], m: u64, scale: &Scale) -> i128 {
    let e = scale.encode(m);
    let (q0, q1) = (PRIMES[0], PRIMES[1]);
    let (d0, d1) = (arith::sub(x[0], e[0], q0), arith::sub(x[1], e[1], q1));
    let h = arith::mul(arith::sub(d1, d0 % q1, q1), context().q0_inv_mod_q1, q1);
    let v = d0 as i128 + q0 as i128 * h as i128;
    let modulus = q0 as i128 * q1 as i128;
    match v > modulus / 2 {
        true => v - modulus,
        false => v,
    }
}

/// The two-sample Kolmogorov–Smirnov statistic of the magnitudes: the largest gap of the
/// empirical CDFs of `|a|` and `|b|` (magnitudes, so that a wider noise centred alike
/// shows).
fn ks(a: Vec<i128>, b: Vec<i128>) -> f64 {
    let magnitudes = |v: Vec<i128>| v.into_iter().map(i128::unsigned_abs).collect::<Vec<_>>();
    let (mut a, mut b) = (magnitudes(a), magnitudes(b));
    a.sort_unstable();
    b.sort_unstable();
    let (mut i, mut j, mut gap) = (0, 0, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        gap = gap.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    gap
}

/// The product of the client's ciphertext with each of two kernels, W₁ small and sparse,
/// W₂ with `‖w‖₁` near the bound.
fn two_products(c: &Client) -> [(Vec<(usize, i64)>, Product); 2] {
    let mut r = rng(40);
    [kernel(&mut r, 4, 2), kernel(&mut r, 256, 18)].map(|(w, p)| {
        let mut prod = Product::new();
        prod.add(&c.ct, &p);
        (w, prod)
    })
}

/// The noise of a sent coefficient hides the weights: its distribution is the same for
/// two kernels of very different size, where the product's own noise tells them apart.
#[test]
fn flooding_hides_the_noise_that_the_weights_leave() {
    let scale = Scale::new(64);
    let c = client(41, &scale);
    let at: Vec<usize> = (0..N).collect();
    let (mut raw, mut sent) = (Vec::new(), Vec::new());
    for (w, prod) in two_products(&c) {
        let plain = product(&c.m, &w, scale.mask());
        // Before the reply: c0 + c1·s − ⌊Q·(W·m)/t⌉ = Σ (ε + e)·w, which grows with W.
        let (mut c0, mut c1) = (prod.c0.clone(), prod.c1.clone());
        c0.intt();
        c1.intt();
        let phases = phase(&c.sk, &c1, |k| c0.residues(k));
        raw.push((0..N).map(|k| noise(phases[k], plain[k], &scale)).collect());
        // The reply at Q, as it is switched and sent.
        let masked = prod.mask(&mut rng(42), &c.pk, &at, &scale);
        let phases = phase(&c.sk, &masked.c1, |k| masked.c0[k]);
        sent.push(
            (0..N)
                .map(|k| {
                    let m = plain[k].wrapping_sub(masked.shares[k]);
                    let e = noise(phases[k], m, &scale);
                    assert!(e.unsigned_abs() < 1 << (FLOOD_BITS + 1), "coefficient {k}");
                    e
                })
                .collect::<Vec<_>>(),
        );
    }
    // With 8192 samples a side, a gap above 0.05 happens by chance with odds below 10^-8.
    let [raw1, raw2] = <[Vec<i128>; 2]>::try_from(raw).expect("two kernels");
    assert!(
        ks(raw1, raw2) > 0.9,
        "the test must see the weights in unflooded noise"
    );
    let [sent1, sent2] = <[Vec<i128>; 2]>::try_from(sent).expect("two kernels");
    let gap = ks(sent1, sent2);
    assert!(
        gap < 0.05,
        "the sent noise depends on the weights: gap {gap}"
    );
}

/// The reply's `c1` is re-randomised: nowhere near `a·w`, which it would equal otherwise
/// and which the client, knowing `a`, could solve for W.
#[test]
fn rerandomisation_hides_the_weights_in_c1() {
    let scale = Scale::new(64);
    let c = client(43, &scale);
    for (_, prod) in two_products(&c) {
        let mut aw = prod.c1.clone();
        aw.intt();
        let near = |c1: &Poly| {
            (0..N)
                .filter(|&k| {
                    let diff = noise(c1.residues(k), 0, &scale) - noise(aw.residues(k), 0, &scale);
                    diff.unsigned_abs() < 1 << 40
                })
                .count()
        };
        assert_eq!(near(&aw), N, "the test must see a·w where it is");
        let masked = prod.mask(&mut rng(44), &c.pk, &[0], &scale);
        let hits = near(&masked.c1);
        assert!(hits < 8, "c1 lies near a·w at {hits} coefficients");
    }
}

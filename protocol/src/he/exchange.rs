//! One linear layer's material by RLWE: shares of `W ⋆ V` for the client's fresh mask V,
//! the server's weights W, in one round trip.
//!
//! Setup, once per session: the client draws its key pair and sends the public key (its
//! seed and `b`: 16 + 165,888 bytes). Per query and layer:
//! 1. client → server: V's encryption, `pool(V)` laid out as `Layout` says, each input
//!    polynomial a seeded ciphertext (its seed and `c0` at Q: 165,904 bytes);
//! 2. server → client: for each output polynomial, the sum of its products with the
//!    kernels, re-randomised, `⌊Q·r/t⌉` subtracted and flooded at each output coefficient,
//!    switched down: `c1` at `ℓ + 15` bits a coefficient, the output coefficients of `c0`
//!    at `ℓ + 3` ([`super::rlwe`]).
//!
//! The client decrypts `W ⋆ V − r mod 2^ℓ`, its share; the server's share is `r`.
//!
//! Who learns what: the server sees RLWE ciphertexts under the client's key, so nothing of
//! V; the client sees `W ⋆ V − r` (r uniform, so nothing) and noise flooded to within
//! 2^-40 of one that does not depend on W, with `c1` uniform under RLWE.

use std::collections::VecDeque;

use rand_core::CryptoRngCore;

use super::layout::{Layout, UPLOAD_BYTES};
use super::params::{C0_EXTRA_BITS, C1_EXTRA_BITS, MAX_SENT_BITS, N, WEIGHT_BITS};
use super::poly::Poly;
use super::rlwe::{Ciphertext, Product, PublicKey, PublicKeyMsg, Reply, Scale, SecretKey};
use super::wire::{get_ints, get_poly, packed_len, put_ints, put_poly, POLY_BYTES};
use crate::channel::Link;
use crate::codec::{Reader, Writer};
use crate::error::ProtocolError;
use crate::linalg;
use crate::plan::{Linear, Plan, Weights};
use crate::prg::{Prg, Seed};
use crate::ring::Ring;

/// Bytes of the client's public key on the wire (setup).
pub const PUBLIC_KEY_BYTES: usize = 16 + POLY_BYTES;

/// The client's half of an RLWE session: its secret key, and a generator for its
/// encryptions seeded at setup.
pub struct HeClient {
    sk: SecretKey,
    prg: Prg,
    /// Masks V whose encryptions went out ahead, in layer order ([`HeLayer::upload`]).
    kept: VecDeque<Vec<Ring>>,
}

/// The server's half: the client's public key, and a generator for its shares, its
/// re-randomisation and its flooding, seeded at setup.
pub struct HeServer {
    pk: PublicKey,
    prg: Prg,
    /// The client's encrypted masks read ahead, in layer order ([`ServerKernels::read`]).
    kept: VecDeque<Vec<Ciphertext>>,
}

redacted_debug!(HeClient, |_: &HeClient| N);
redacted_debug!(HeServer, |_: &HeServer| N);

impl HeClient {
    /// Setup at the client: a fresh key pair from `rng`; the public key goes to the server.
    pub fn setup(ch: &mut Link, rng: &mut dyn CryptoRngCore) -> Result<HeClient, ProtocolError> {
        let (sk, pk) = SecretKey::generate(rng);
        let mut w = Writer::with_capacity(PUBLIC_KEY_BYTES);
        w.bytes(&pk.seed.0);
        put_poly(&mut w, &pk.b);
        ch.send(&w.into_bytes())?;
        Ok(HeClient {
            sk,
            prg: Prg::new(Seed::from_rng(rng)),
            kept: VecDeque::new(),
        })
    }

    /// A fresh uniform mask V of `n` values, from the session's generator.
    pub fn mask(&mut self, n: usize) -> Vec<Ring> {
        self.prg.ring_vec(n)
    }
}

impl HeServer {
    /// Setup at the server: the client's public key; the server's generator from `rng`.
    pub fn setup(ch: &mut Link, rng: &mut dyn CryptoRngCore) -> Result<HeServer, ProtocolError> {
        let msg = ch.recv()?;
        let mut r = Reader::new(&msg);
        let seed = Seed(r.array("public key seed")?);
        let b = get_poly(&mut r, "public key")?;
        r.finish()?;
        Ok(HeServer {
            pk: PublicKey::from_msg(&PublicKeyMsg { seed, b }),
            prg: Prg::new(Seed::from_rng(rng)),
            kept: VecDeque::new(),
        })
    }
}

/// Plaintext widths of the reply: `(ℓ + 15, ℓ + 3)`.
fn widths(bits: u32) -> (u32, u32) {
    (bits + C1_EXTRA_BITS, bits + C0_EXTRA_BITS)
}

/// A linear layer's shape as the exchange needs it: the layer and the plaintext width of
/// its outputs (64 for a model's last layer, `k` where a ReLU reads them).
#[derive(Clone, Debug)]
pub struct HeLayer {
    layer: Linear,
    layout: Layout,
    bits: u32,
}

/// The server's session state for one layer: its kernels, in NTT form.
pub struct ServerKernels {
    shape: HeLayer,
    kernels: Vec<Poly>,
}

impl HeLayer {
    /// The exchange for `layer` with `bits`-bit outputs.
    pub fn new(layer: Linear, bits: u32) -> HeLayer {
        HeLayer {
            layout: Layout::of(&layer, bits),
            layer,
            bits,
        }
    }

    /// Number of input values the client's mask covers (before any sum-pool).
    pub fn input_len(&self) -> usize {
        self.layer.input_len()
    }

    /// Payload bytes (client → server, server → client) of one query's exchange.
    pub fn bytes(&self) -> (u64, u64) {
        let up = self.layout.inputs() * UPLOAD_BYTES;
        let (b1, b0) = widths(self.bits);
        let down: usize = (0..self.layout.outputs())
            .map(|j| packed_len(N, b1) + packed_len(self.layout.at(j).len(), b0))
            .sum();
        (up as u64, down as u64)
    }

    /// The server's kernels for `weights`, refused if the weights meeting in one output
    /// polynomial exceed the parameters' bound.
    pub fn kernels(&self, weights: &[Ring]) -> Result<ServerKernels, ProtocolError> {
        let signed = self.layout.kernels(weights);
        if self.l1_max(&signed) >= 1u128 << WEIGHT_BITS {
            return Err(ProtocolError::Misuse(
                "the weights exceed the homomorphic parameters' bound",
            ));
        }
        let kernels = signed
            .iter()
            .map(|k| {
                let mut p = Poly::from_signed(k);
                p.ntt();
                p
            })
            .collect();
        Ok(ServerKernels {
            shape: self.clone(),
            kernels,
        })
    }

    /// The largest `‖ŵ‖₁` over the output polynomials: every kernel summed into one.
    fn l1_max(&self, kernels: &[Vec<i64>]) -> u128 {
        let l1: Vec<u128> = kernels
            .iter()
            .map(|k| k.iter().map(|&w| w.unsigned_abs() as u128).sum())
            .collect();
        (0..self.layout.outputs())
            .map(|j| self.layout.products(j).iter().map(|&(_, k)| l1[k]).sum())
            .max()
            .unwrap_or(0)
    }

    /// The client's mask V and its share of `W ⋆ V` for one query: the mask sent ahead
    /// ([`HeLayer::upload_ahead`]) if there is one, else a fresh one, sent now.
    pub fn client_make(
        &self,
        he: &mut HeClient,
        ch: &mut Link,
    ) -> Result<(Vec<Ring>, Vec<Ring>), ProtocolError> {
        match he.kept.pop_front() {
            Some(mask) => {
                let share = self.share(he, ch)?;
                Ok((mask, share))
            }
            None => {
                let mask = he.mask(self.input_len());
                let share = self.client(he, &mask, ch)?;
                Ok((mask, share))
            }
        }
    }

    /// Draws a fresh mask and sends its encryption ahead of the query's other layers,
    /// keeping the mask for [`HeLayer::client_make`].
    pub fn upload_ahead(&self, he: &mut HeClient, ch: &mut Link) -> Result<(), ProtocolError> {
        let mask = he.mask(self.input_len());
        self.upload(he, &mask, ch)?;
        he.kept.push_back(mask);
        Ok(())
    }

    /// The client's side: encrypts `pool(V)`, sends it, decrypts its share of `W ⋆ V`.
    pub fn client(
        &self,
        he: &mut HeClient,
        mask: &[Ring],
        ch: &mut Link,
    ) -> Result<Vec<Ring>, ProtocolError> {
        self.upload(he, mask, ch)?;
        self.share(he, ch)
    }

    /// The first half of [`HeLayer::client`]: encrypts `pool(V)` and sends it.
    pub fn upload(
        &self,
        he: &mut HeClient,
        mask: &[Ring],
        ch: &mut Link,
    ) -> Result<(), ProtocolError> {
        let z = match &self.layer.pool {
            Some(p) => linalg::sum_pool(p.input, p.window, mask),
            None => mask.to_vec(),
        };
        let scale = Scale::new(self.bits);
        let mut w = Writer::with_capacity(self.layout.inputs() * UPLOAD_BYTES);
        for input in self.layout.encode_input(&z) {
            let upload = he.sk.encrypt(&mut he.prg, &scale, &input);
            w.bytes(&upload.seed.0);
            put_poly(&mut w, &upload.c0);
        }
        Ok(ch.send(&w.into_bytes())?)
    }

    /// The second half: receives the server's reply and decrypts the client's share.
    pub fn share(&self, he: &mut HeClient, ch: &mut Link) -> Result<Vec<Ring>, ProtocolError> {
        let msg = ch.recv()?;
        let mut r = Reader::new(&msg);
        let scale = Scale::new(self.bits);
        let (b1, b0) = widths(self.bits);
        let mut share = vec![0; self.layer.output_len()];
        for j in 0..self.layout.outputs() {
            let at = self.layout.at(j);
            let reply = Reply {
                c1: get_ints(&mut r, N, b1, "reply c1")?,
                c0: get_ints(&mut r, at.len(), b0, "reply c0")?,
            };
            let coefficients: Vec<usize> = at.iter().map(|&(k, _)| k).collect();
            let plain = he.sk.decrypt(&reply, &coefficients, &scale, (b1, b0));
            for (&(_, index), v) in at.iter().zip(plain) {
                share[index] = v;
            }
        }
        r.finish()?;
        Ok(share)
    }
}

impl ServerKernels {
    /// The server's side: the client's ciphertexts (read ahead by
    /// [`ServerKernels::read_ahead`] if they were, else read now) times the kernels; returns
    /// its share of `W ⋆ V`.
    pub fn make(&self, he: &mut HeServer, ch: &mut Link) -> Result<Vec<Ring>, ProtocolError> {
        let cts = match he.kept.pop_front() {
            Some(cts) => cts,
            None => self.read(ch)?,
        };
        self.reply(he, &cts, ch)
    }

    /// Reads the client's ciphertexts sent ahead, keeping them for
    /// [`ServerKernels::make`].
    pub fn read_ahead(&self, he: &mut HeServer, ch: &mut Link) -> Result<(), ProtocolError> {
        let cts = self.read(ch)?;
        he.kept.push_back(cts);
        Ok(())
    }

    /// The client's ciphertexts, the first half of [`ServerKernels::make`].
    pub fn read(&self, ch: &mut Link) -> Result<Vec<Ciphertext>, ProtocolError> {
        let shape = &self.shape;
        let msg = ch.recv()?;
        let mut r = Reader::new(&msg);
        let cts = (0..shape.layout.inputs())
            .map(|_| {
                let seed = Seed(r.array("ciphertext seed")?);
                let c0 = get_poly(&mut r, "ciphertext")?;
                Ok(Ciphertext::from_upload(&super::rlwe::Upload { seed, c0 }))
            })
            .collect::<Result<Vec<_>, ProtocolError>>()?;
        r.finish()?;
        Ok(cts)
    }

    /// The second half: the products, re-randomised and flooded, sent back; returns the
    /// server's share.
    pub fn reply(
        &self,
        he: &mut HeServer,
        cts: &[Ciphertext],
        ch: &mut Link,
    ) -> Result<Vec<Ring>, ProtocolError> {
        let shape = &self.shape;
        let scale = Scale::new(shape.bits);
        let (b1, b0) = widths(shape.bits);
        let mut w = Writer::default();
        let mut share = vec![0; shape.layer.output_len()];
        for j in 0..shape.layout.outputs() {
            let mut product = Product::new();
            for (i, k) in shape.layout.products(j) {
                product.add(&cts[i], &self.kernels[k]);
            }
            let at = shape.layout.at(j);
            let coefficients: Vec<usize> = at.iter().map(|&(k, _)| k).collect();
            let (reply, r_shares) =
                product.reply(&mut he.prg, &he.pk, &coefficients, &scale, (b1, b0));
            put_ints(&mut w, &reply.c1, b1);
            put_ints(&mut w, &reply.c0, b0);
            for (&(_, index), v) in at.iter().zip(r_shares) {
                share[index] = v;
            }
        }
        ch.send(&w.into_bytes())?;
        Ok(share)
    }
}

/// The plaintext width of linear layer `index`'s outputs in `plan`: 64 for the last
/// layer (opened whole) and for the logits a label-only answer's argmax compares whole,
/// `k` for a layer that a ReLU reads.
pub fn output_bits(plan: &Plan, index: usize) -> u32 {
    match plan.layers.get(index + 1).map(|l| &l.kind) {
        None | Some(crate::plan::LayerKind::Argmax { .. }) => 64,
        Some(_) => plan.fixed.k,
    }
}

/// Checks that `plan` and `weights` fit the parameters (what a server hosting the model
/// without a dealer checks at load): every output polynomial's weights below the bound,
/// and no more flooded coefficients per query than the flooding covers. The reason if not.
pub fn weights_fit(plan: &Plan, weights: &Weights) -> Result<(), String> {
    let mut linear = weights.linear.iter();
    let mut sent = 0usize;
    for (index, layer) in plan.layers.iter().enumerate() {
        let crate::plan::LayerKind::Linear(l) = &layer.kind else {
            continue;
        };
        let Some(w) = linear.next() else {
            return Err("the weights do not fit the plan".into());
        };
        let shape = HeLayer::new(*l, output_bits(plan, index));
        sent += (0..shape.layout.outputs())
            .map(|j| shape.layout.at(j).len())
            .sum::<usize>();
        let l1 = shape.l1_max(&shape.layout.kernels(&w.w));
        if l1 >= 1u128 << WEIGHT_BITS {
            return Err(format!(
                "layer {} has weights whose absolute sum in one product is 2^{:.1}, above the \
                 2^{WEIGHT_BITS} that the homomorphic parameters carry",
                layer.name,
                (l1 as f64).log2()
            ));
        }
    }
    if sent > 1 << MAX_SENT_BITS {
        return Err(format!(
            "its linear layers have {sent} outputs per query, more than the 2^{MAX_SENT_BITS} \
             that the homomorphic parameters' flooding covers"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

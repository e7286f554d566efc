//! Drawing one query's correlated randomness: one code path for the dealer and both parties.
//!
//! The dealer runs it with both parties' PRGs and *writes* each correction; the client
//! runs it with its own PRG and *reads* the corrections the dealer sent; the server runs
//! it with its own PRG alone (all its shares are seeded). Because all three run the same
//! code, the order of PRG calls cannot drift apart.

use veil_circuits::Bits;

use crate::bitstream::{read_bits, BitWriter};
use crate::codec::{DecodeError, Reader, Writer};
use crate::gmw::BitTriple;
use crate::plan::Linear;
use crate::prg::Prg;
use crate::ring::Ring;
use crate::stored::Stored;

/// How corrections (the client's explicitly sent shares) are produced or consumed.
enum Corrections<'a> {
    /// The dealer computes each correction and appends it.
    Write(&'a mut Writer),
    /// The client reads each correction from the dealer's message.
    Read(Reader<'a>),
    /// The server needs none; only the byte count is kept (also used to size messages).
    Skip(usize),
}

impl Corrections<'_> {
    fn ring(
        &mut self,
        n: usize,
        make: impl FnOnce() -> Vec<Ring>,
    ) -> Result<Vec<Ring>, DecodeError> {
        match self {
            Corrections::Write(w) => {
                let v = make();
                w.ring(&v);
                Ok(v)
            }
            Corrections::Read(r) => r.ring(n, "ring corrections"),
            Corrections::Skip(count) => {
                *count += 8 * n;
                Ok(Vec::new())
            }
        }
    }

    fn bits(
        &mut self,
        lens: &[usize],
        make: impl FnOnce() -> Vec<Bits>,
    ) -> Result<Vec<Bits>, DecodeError> {
        let bytes = lens.iter().sum::<usize>().div_ceil(8);
        match self {
            Corrections::Write(w) => {
                let v = make();
                let mut bw = BitWriter::default();
                v.iter().for_each(|b| bw.push(b));
                w.bytes(&bw.into_bytes());
                Ok(v)
            }
            Corrections::Read(r) => read_bits(r.take(bytes, "bit corrections")?, lens),
            Corrections::Skip(count) => {
                *count += bytes;
                Ok(Vec::new())
            }
        }
    }
}

/// The sources of one drawing: each party's PRG where that party's share is wanted, and
/// the client's corrections (written by the dealer, read by the client).
pub(crate) struct Draw<'a> {
    server: Option<&'a mut Prg>,
    client: Option<&'a mut Prg>,
    corrections: Corrections<'a>,
}

/// Both sides of one piece, the server's and the client's; a side is `None` where it is
/// not being drawn.
pub(crate) type Pair<S, C = S> = (Option<S>, Option<C>);

impl<'a> Draw<'a> {
    /// The dealer's drawing: both sides, corrections written to `out`.
    pub fn dealer(server: &'a mut Prg, client: &'a mut Prg, out: &'a mut Writer) -> Self {
        Draw {
            server: Some(server),
            client: Some(client),
            corrections: Corrections::Write(out),
        }
    }

    /// The server's drawing: its side from its seed alone.
    pub fn server(prg: &'a mut Prg) -> Self {
        Draw {
            server: Some(prg),
            client: None,
            corrections: Corrections::Skip(0),
        }
    }

    /// The client's drawing: its side from its seed and the dealer's `corrections`.
    pub fn client(prg: &'a mut Prg, corrections: &'a [u8]) -> Self {
        Draw {
            server: None,
            client: Some(prg),
            corrections: Corrections::Read(Reader::new(corrections)),
        }
    }

    /// A drawing of neither side that only counts the corrections' bytes.
    pub fn counting() -> Draw<'static> {
        Draw {
            server: None,
            client: None,
            corrections: Corrections::Skip(0),
        }
    }

    /// The correction bytes counted so far (0 unless counting or at the server).
    pub fn counted(&self) -> usize {
        match self.corrections {
            Corrections::Skip(n) => n,
            _ => 0,
        }
    }

    /// Checks that the client read every correction, no more and no fewer.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.corrections {
            Corrections::Read(r) => r.finish(),
            _ => Ok(()),
        }
    }
}

const BOTH: &str = "the dealer draws both sides";

fn random_bits(prg: &mut Prg, n: usize) -> Bits {
    let mut b = Bits {
        words: prg.words(n.div_ceil(64)),
        len: n,
    };
    b.mask_tail();
    b
}

impl Draw<'_> {
    /// AND triples, one per entry of `widths` (its width): the server's (u, v, w) and
    /// the client's (u, v) are seeded; the client's w is a correction (1 bit per AND).
    pub fn triples(&mut self, widths: &[usize]) -> Result<Pair<Vec<BitTriple>>, DecodeError> {
        let server: Option<Vec<BitTriple>> = self.server.as_mut().map(|p| {
            widths
                .iter()
                .map(|&n| BitTriple {
                    u: random_bits(p, n),
                    v: random_bits(p, n),
                    w: random_bits(p, n),
                })
                .collect()
        });
        let client: Option<Vec<(Bits, Bits)>> = self.client.as_mut().map(|p| {
            widths
                .iter()
                .map(|&n| (random_bits(p, n), random_bits(p, n)))
                .collect()
        });
        let w1 = self.corrections.bits(widths, || {
            let (s, c) = (server.as_ref().expect(BOTH), client.as_ref().expect(BOTH));
            s.iter()
                .zip(c)
                .map(|(s, (u1, v1))| {
                    let u = s.u.xor(u1).expect("equal widths");
                    let v = s.v.xor(v1).expect("equal widths");
                    u.and(&v).and_then(|w| w.xor(&s.w)).expect("equal widths")
                })
                .collect()
        })?;
        let client = client.map(|c| {
            c.into_iter()
                .zip(w1)
                .map(|((u, v), w)| BitTriple { u, v, w })
                .collect()
        });
        Ok((server, client))
    }

    /// A random bit r, XOR-shared (both shares seeded) and additively shared over the ring
    /// (server seeded, client corrected): what bit injection spends.
    pub fn inject_pair(&mut self, n: usize) -> Result<Pair<InjectPair>, DecodeError> {
        let server = self
            .server
            .as_mut()
            .map(|p| (random_bits(p, n), p.ring_vec(n)));
        let client_r = self.client.as_mut().map(|p| random_bits(p, n));
        let arith = self.corrections.ring(n, || {
            let ((r0, a0), r1) = (server.as_ref().expect(BOTH), client_r.as_ref().expect(BOTH));
            (0..n)
                .map(|i| ((r0.get(i) ^ r1.get(i)) as u64).wrapping_sub(a0[i]))
                .collect()
        })?;
        Ok((
            server.map(|(r, arith)| InjectPair { r, arith }),
            client_r.map(|r| InjectPair { r, arith }),
        ))
    }

    /// An injection pair plus a random ring value R (both shares seeded) and shares of
    /// r·R (server seeded, client corrected): a bit-times-ring product in one round.
    pub fn bit_ring(&mut self, n: usize) -> Result<Pair<BitRing>, DecodeError> {
        let (si, ci) = self.inject_pair(n)?;
        let s_big = self.server.as_mut().map(|p| p.ring_vec(n));
        let c_big = self.client.as_mut().map(|p| p.ring_vec(n));
        let s_prod = self.server.as_mut().map(|p| p.ring_vec(n));
        let c_prod = self.corrections.ring(n, || {
            let (si, ci) = (si.as_ref().expect(BOTH), ci.as_ref().expect(BOTH));
            let (r0, r1) = (s_big.as_ref().expect(BOTH), c_big.as_ref().expect(BOTH));
            let p0 = s_prod.as_ref().expect(BOTH);
            (0..n)
                .map(|i| {
                    let r = (si.r.get(i) ^ ci.r.get(i)) as u64;
                    r.wrapping_mul(r0[i].wrapping_add(r1[i]))
                        .wrapping_sub(p0[i])
                })
                .collect()
        })?;
        let join = |inject, big_r, product| BitRing {
            inject,
            big_r,
            product,
        };
        Ok((
            si.zip(s_big).zip(s_prod).map(|((i, b), p)| join(i, b, p)),
            ci.zip(c_big).map(|(i, b)| join(i, b, c_prod)),
        ))
    }

    /// The client's mask V (seeded) and shares of U ⋆ V for one linear layer: the
    /// server's share seeded, the client's corrected. `u` is the session mask (dealer only).
    pub fn linear(
        &mut self,
        layer: &Linear,
        u: Option<&[Ring]>,
    ) -> Result<Pair<LinearShare>, DecodeError> {
        let (rows, cols) = (layer.output_len(), layer.input_len());
        let mask = self.client.as_mut().map(|p| p.ring_vec(cols));
        let s_uv = self.server.as_mut().map(|p| p.ring_vec(rows));
        let c_uv = self.corrections.ring(rows, || {
            let (u, v, s) = (
                u.expect(BOTH),
                mask.as_ref().expect(BOTH),
                s_uv.as_ref().expect(BOTH),
            );
            layer
                .apply(u, v)
                .into_iter()
                .zip(s)
                .map(|(uv, s)| uv.wrapping_sub(*s))
                .collect()
        })?;
        Ok((
            s_uv.map(|uv| LinearShare {
                mask: Vec::new(),
                uv,
            }),
            mask.map(|mask| LinearShare { mask, uv: c_uv }),
        ))
    }
}

/// One party's share of a random bit injected into the ring.
pub struct InjectPair {
    /// XOR share of the bit r.
    pub r: Bits,
    /// Additive share of r as a ring element.
    pub arith: Vec<Ring>,
}

/// One party's share of a bit-times-ring product's material.
pub struct BitRing {
    /// The random bit r, XOR- and additively shared.
    pub inject: InjectPair,
    /// Additive share of the random ring value R.
    pub big_r: Vec<Ring>,
    /// Additive share of r·R.
    pub product: Vec<Ring>,
}

/// One party's material for a linear layer.
pub struct LinearShare {
    /// The client's mask V (input length); empty on the server.
    pub mask: Vec<Ring>,
    /// This party's share of U·V (output length).
    pub uv: Vec<Ring>,
}

redacted_debug!(InjectPair, |p: &InjectPair| p.arith.len());
redacted_debug!(BitRing, |p: &BitRing| p.big_r.len());
redacted_debug!(LinearShare, |p: &LinearShare| p.uv.len());

impl Stored for InjectPair {
    fn put(&self, w: &mut Writer) {
        self.r.put(w);
        self.arith.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(InjectPair {
            r: Stored::get(r)?,
            arith: Stored::get(r)?,
        })
    }
}

impl Stored for BitRing {
    fn put(&self, w: &mut Writer) {
        self.inject.put(w);
        self.big_r.put(w);
        self.product.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BitRing {
            inject: Stored::get(r)?,
            big_r: Stored::get(r)?,
            product: Stored::get(r)?,
        })
    }
}

impl Stored for LinearShare {
    fn put(&self, w: &mut Writer) {
        self.mask.put(w);
        self.uv.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(LinearShare {
            mask: Stored::get(r)?,
            uv: Stored::get(r)?,
        })
    }
}

//! A residual input: a linear layer adds an earlier layer's output `r` (scale 2^f) to its
//! own (scale 2^(2f)), as `2^f · r`, on shares.
//!
//! The server could add `2^f · r_s` and the client `2^f · r_c` locally, but then the
//! client's output share would depend on `r_c`, known only online, and a garbled-circuit
//! ReLU after the layer fetches its input labels offline with the client's share as OT
//! choices. So the client re-shares: offline it draws a uniform `T` and adds `2^f · T` to
//! its output share (known offline again); online it sends `G = r_c − T` beside the
//! linear layer's `F`, and the server adds `2^f · (r_s + G)`. The shares still sum to
//! `W ⋆ x + b + 2^f · r`.
//!
//! Cost: `8 · outputs` more bytes in the linear layer's one online message, no round.
//! Who learns what: the server sees `G`, uniform because `T` is; the client nothing new.

use rand_core::CryptoRngCore;

use crate::codec::{DecodeError, Reader, Writer};
use crate::ring::Ring;
use crate::share;

/// Payload bytes the re-sharing adds to the layer's online message.
pub fn online_bytes(outputs: usize) -> usize {
    8 * outputs
}

/// The client's offline step: draws `T` from `rng`, adds `2^f · T` to its output share,
/// and returns `T` for the online step.
pub fn client_mask(output: &mut [Ring], f: u32, rng: &mut dyn CryptoRngCore) -> Vec<Ring> {
    let t: Vec<Ring> = (0..output.len()).map(|_| rng.next_u64()).collect();
    for (o, t) in output.iter_mut().zip(&t) {
        *o = o.wrapping_add(t << f);
    }
    t
}

/// The client's online step: appends `G = r_c − T` to the layer's message.
pub fn client_write(w: &mut Writer, share: &[Ring], mask: &[Ring]) {
    w.ring(&share::sub(share, mask));
}

/// The server's online step: reads `G` (`n` values) from the layer's message.
pub fn server_read(r: &mut Reader<'_>, n: usize) -> Result<Vec<Ring>, DecodeError> {
    r.ring(n, "re-shared residual G")
}

/// The server's online step: adds `2^f · (r_s + G)` to its output share `y`.
pub fn server_add(y: &mut [Ring], share: &[Ring], g: &[Ring], f: u32) {
    for ((v, rs), g) in y.iter_mut().zip(share).zip(g) {
        *v = v.wrapping_add(rs.wrapping_add(*g) << f);
    }
}

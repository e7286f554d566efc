//! Matrix-vector products, convolutions and sum-pools over Z_{2^64}.

use crate::ring::Ring;
use crate::{Image, Window};

/// `M · x` for a `rows × cols` row-major matrix, wrapping.
pub fn matvec(m: &[Ring], rows: usize, cols: usize, x: &[Ring]) -> Vec<Ring> {
    debug_assert_eq!(m.len(), rows * cols);
    debug_assert_eq!(x.len(), cols);
    m.chunks_exact(cols)
        .map(|row| {
            row.iter()
                .zip(x)
                .fold(0u64, |acc, (a, b)| acc.wrapping_add(a.wrapping_mul(*b)))
        })
        .collect()
}

/// 2-D cross-correlation of the `c × h × w` image `x` with kernels `w`
/// (`out × c × kh × kw`), zero padding, wrapping. Direct loops whose innermost runs along an
/// output row, so the compiler vectorises it.
pub fn conv2d(
    w: &[Ring],
    out_channels: usize,
    input: Image,
    window: Window,
    x: &[Ring],
) -> Vec<Ring> {
    debug_assert_eq!(x.len(), input.len());
    let (oh, ow) = window
        .out_dims(input.h, input.w)
        .expect("a validated window");
    let [kh, kw] = window.size;
    let [sy, sx] = window.stride;
    debug_assert_eq!(w.len(), out_channels * input.c * kh * kw);
    let mut y = vec![0u64; out_channels * oh * ow];
    for (o, out) in y.chunks_exact_mut(oh * ow).enumerate() {
        for c in 0..input.c {
            let plane = &x[c * input.h * input.w..(c + 1) * input.h * input.w];
            for dy in 0..kh {
                for dx in 0..kw {
                    let wv = w[((o * input.c + c) * kh + dy) * kw + dx];
                    if wv == 0 {
                        continue;
                    }
                    // Output columns whose input column lies inside the image.
                    let first = (window.pads[1].saturating_sub(dx)).div_ceil(sx);
                    let last = (input.w + window.pads[1])
                        .checked_sub(dx)
                        .map_or(0, |e| e.div_ceil(sx))
                        .min(ow);
                    for oy in 0..oh {
                        let Some(iy) = (oy * sy + dy).checked_sub(window.pads[0]) else {
                            continue;
                        };
                        if iy >= input.h || first >= last {
                            continue;
                        }
                        let row = &plane[iy * input.w..(iy + 1) * input.w];
                        let out_row = &mut out[oy * ow..(oy + 1) * ow];
                        for (ox, acc) in out_row.iter_mut().enumerate().take(last).skip(first) {
                            let ix = ox * sx + dx - window.pads[1];
                            *acc = acc.wrapping_add(wv.wrapping_mul(row[ix]));
                        }
                    }
                }
            }
        }
    }
    y
}

/// The sum over each window of each channel of `x` (zero padding adds nothing), wrapping.
pub fn sum_pool(input: Image, window: Window, x: &[Ring]) -> Vec<Ring> {
    debug_assert_eq!(x.len(), input.len());
    let (oh, ow) = window
        .out_dims(input.h, input.w)
        .expect("a validated window");
    let mut y = Vec::with_capacity(input.c * oh * ow);
    for c in 0..input.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0u64;
                for dy in 0..window.size[0] {
                    for dx in 0..window.size[1] {
                        let iy = (oy * window.stride[0] + dy).checked_sub(window.pads[0]);
                        let ix = (ox * window.stride[1] + dx).checked_sub(window.pads[1]);
                        if let (Some(iy), Some(ix)) = (iy, ix) {
                            if iy < input.h && ix < input.w {
                                acc = acc.wrapping_add(x[(c * input.h + iy) * input.w + ix]);
                            }
                        }
                    }
                }
                y.push(acc);
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{RngCore, SeedableRng};

    /// Convolution by the definition, one output at a time.
    fn conv_naive(w: &[Ring], oc: usize, input: Image, win: Window, x: &[Ring]) -> Vec<Ring> {
        let (oh, ow) = win.out_dims(input.h, input.w).unwrap();
        let mut y = Vec::new();
        for o in 0..oc {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0u64;
                    for c in 0..input.c {
                        for dy in 0..win.size[0] {
                            for dx in 0..win.size[1] {
                                let iy = (oy * win.stride[0] + dy) as i64 - win.pads[0] as i64;
                                let ix = (ox * win.stride[1] + dx) as i64 - win.pads[1] as i64;
                                if iy < 0 || ix < 0 || iy >= input.h as i64 || ix >= input.w as i64
                                {
                                    continue;
                                }
                                let wv =
                                    w[((o * input.c + c) * win.size[0] + dy) * win.size[1] + dx];
                                let xv = x[(c * input.h + iy as usize) * input.w + ix as usize];
                                acc = acc.wrapping_add(wv.wrapping_mul(xv));
                            }
                        }
                    }
                    y.push(acc);
                }
            }
        }
        y
    }

    #[test]
    fn conv_matches_the_definition_on_odd_shapes() {
        let mut prg = rand_chacha::ChaCha12Rng::seed_from_u64(7);
        let mut ring_vec = |n: usize| (0..n).map(|_| prg.next_u64()).collect::<Vec<Ring>>();
        let cases = [
            (
                Image { c: 1, h: 5, w: 7 },
                2,
                Window::new([3, 3], [1, 1]),
                [0; 4],
            ),
            (
                Image { c: 3, h: 6, w: 5 },
                4,
                Window::new([3, 2], [2, 1]),
                [1, 0, 1, 1],
            ),
            (
                Image { c: 2, h: 4, w: 4 },
                3,
                Window::new([1, 1], [1, 1]),
                [0; 4],
            ),
            (
                Image { c: 2, h: 9, w: 8 },
                2,
                Window::new([5, 5], [2, 2]),
                [2, 2, 1, 1],
            ),
        ];
        for (input, oc, mut win, pads) in cases {
            win.pads = pads;
            let w = ring_vec(oc * input.c * win.area());
            let x = ring_vec(input.len());
            assert_eq!(
                conv2d(&w, oc, input, win, &x),
                conv_naive(&w, oc, input, win, &x)
            );
        }
    }

    #[test]
    fn sum_pool_adds_each_window() {
        let input = Image { c: 2, h: 2, w: 4 };
        let x: Vec<Ring> = (1..=16).collect();
        assert_eq!(
            sum_pool(input, Window::new([2, 2], [2, 2]), &x),
            vec![14, 22, 46, 54]
        );
        let mut padded = Window::new([2, 2], [2, 2]);
        padded.pads = [1, 1, 1, 1];
        assert_eq!(
            sum_pool(Image { c: 1, h: 2, w: 2 }, padded, &[1, 2, 3, 4]),
            vec![1, 2, 3, 4]
        );
    }

    #[test]
    fn matvec_wraps() {
        let m = [1, 2, u64::MAX, 3];
        assert_eq!(matvec(&m, 2, 2, &[5, 7]), vec![19, 16u64.wrapping_sub(0)]);
    }
}

//! Plain loops for the layers, generic over the arithmetic: f64 for the float model,
//! wrapping Z_{2^64} for the fixed-point reference.
//!
//! These are model/'s own loops, written apart from the protocol's `linalg` so that the
//! reference is an independent oracle; the float model runs the same loops and is checked
//! against torch, so an indexing slip here cannot hide. Images are `c × h × w` in C order.

use veil_plan::ring::Ring;
use veil_plan::{Image, Window};

/// The arithmetic a kernel runs in.
pub trait Num: Copy {
    /// The additive identity.
    const ZERO: Self;
    /// `self + other` (wrapping in the ring).
    fn add(self, other: Self) -> Self;
    /// `self · other` (wrapping in the ring).
    fn mul(self, other: Self) -> Self;
    /// The larger of the two (as signed numbers in the ring).
    fn max(self, other: Self) -> Self;
}

impl Num for f64 {
    const ZERO: f64 = 0.0;
    fn add(self, other: f64) -> f64 {
        self + other
    }
    fn mul(self, other: f64) -> f64 {
        self * other
    }
    fn max(self, other: f64) -> f64 {
        f64::max(self, other)
    }
}

impl Num for Ring {
    const ZERO: Ring = 0;
    fn add(self, other: Ring) -> Ring {
        self.wrapping_add(other)
    }
    fn mul(self, other: Ring) -> Ring {
        self.wrapping_mul(other)
    }
    fn max(self, other: Ring) -> Ring {
        if (other as i64) > (self as i64) {
            other
        } else {
            self
        }
    }
}

/// Output height and width of `window` over `input`, or `None` if it does not fit.
pub fn out_dims(input: Image, window: Window) -> Option<(usize, usize)> {
    let dim = |n: usize, lo: usize, hi: usize, k: usize, s: usize| {
        let padded = n + lo + hi;
        (s > 0 && k > 0 && padded >= k).then(|| (padded - k) / s + 1)
    };
    let [top, left, bottom, right] = window.pads;
    Some((
        dim(input.h, top, bottom, window.size[0], window.stride[0])?,
        dim(input.w, left, right, window.size[1], window.stride[1])?,
    ))
}

/// The output image of `window` over `input` with `channels` channels (empty if it does
/// not fit).
pub fn out_image(input: Image, window: Window, channels: usize) -> Image {
    let (h, w) = out_dims(input, window).unwrap_or((0, 0));
    Image { c: channels, h, w }
}

/// The in-bounds taps of the window at output `(oy, ox)`: `(dy, dx, y, x)` with `(dy, dx)`
/// the kernel position and `(y, x)` the input pixel; padded positions are left out.
pub fn taps(
    input: Image,
    window: Window,
    oy: usize,
    ox: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let [kh, kw] = window.size;
    let (y0, x0) = (oy * window.stride[0], ox * window.stride[1]);
    let [top, left, ..] = window.pads;
    (0..kh).flat_map(move |dy| {
        (0..kw).filter_map(move |dx| {
            let y = (y0 + dy).checked_sub(top).filter(|&y| y < input.h)?;
            let x = (x0 + dx).checked_sub(left).filter(|&x| x < input.w)?;
            Some((dy, dx, y, x))
        })
    })
}

/// `W·x`, W row-major `rows × cols`.
///
/// # Panics
/// If the lengths do not fit.
pub fn dense<T: Num>(w: &[T], rows: usize, cols: usize, x: &[T]) -> Vec<T> {
    assert!(x.len() == cols && w.len() == rows * cols, "dense shapes");
    w.chunks_exact(cols)
        .map(|row| {
            row.iter()
                .zip(x)
                .fold(T::ZERO, |acc, (&a, &b)| acc.add(a.mul(b)))
        })
        .collect()
}

/// Cross-correlation (ONNX Conv) of `x` with W laid out `out × in × kh × kw`, zero padding.
///
/// # Panics
/// If the lengths do not fit.
pub fn conv2d<T: Num>(
    w: &[T],
    out_channels: usize,
    input: Image,
    window: Window,
    x: &[T],
) -> Vec<T> {
    let [kh, kw] = window.size;
    assert!(
        x.len() == input.len() && w.len() == out_channels * input.c * kh * kw,
        "conv shapes"
    );
    let out = out_image(input, window, out_channels);
    let mut y = Vec::with_capacity(out.len());
    for o in 0..out_channels {
        for oy in 0..out.h {
            for ox in 0..out.w {
                let mut acc = T::ZERO;
                for c in 0..input.c {
                    let kernel = &w[(o * input.c + c) * kh * kw..][..kh * kw];
                    let plane = &x[c * input.h * input.w..][..input.h * input.w];
                    for (dy, dx, iy, ix) in taps(input, window, oy, ox) {
                        acc = acc.add(kernel[dy * kw + dx].mul(plane[iy * input.w + ix]));
                    }
                }
                y.push(acc);
            }
        }
    }
    y
}

/// Applies `reduce` to each window of each channel (padded positions left out).
///
/// # Panics
/// If `x` does not hold `input`.
pub fn pool<T: Num>(
    input: Image,
    window: Window,
    x: &[T],
    mut reduce: impl FnMut(&[T]) -> T,
) -> Vec<T> {
    assert_eq!(x.len(), input.len(), "pool input length");
    let out = out_image(input, window, input.c);
    let mut y = Vec::with_capacity(out.len());
    let mut values = Vec::with_capacity(window.size[0] * window.size[1]);
    for c in 0..input.c {
        let plane = &x[c * input.h * input.w..][..input.h * input.w];
        for oy in 0..out.h {
            for ox in 0..out.w {
                values.clear();
                values.extend(
                    taps(input, window, oy, ox).map(|(_, _, iy, ix)| plane[iy * input.w + ix]),
                );
                y.push(reduce(&values));
            }
        }
    }
    y
}

/// The sum over each window (zero padding adds nothing).
pub fn sum_pool<T: Num>(input: Image, window: Window, x: &[T]) -> Vec<T> {
    pool(input, window, x, |v| {
        v.iter().fold(T::ZERO, |a, &b| a.add(b))
    })
}

/// The maximum over each window.
pub fn max_pool<T: Num>(input: Image, window: Window, x: &[T]) -> Vec<T> {
    pool(input, window, x, |v| {
        v.iter().copied().reduce(T::max).unwrap_or(T::ZERO)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: Image = Image { c: 1, h: 3, w: 3 };

    #[test]
    fn padded_strided_conv_by_hand() {
        // 3×3 input 1..9, 2×2 kernel of ones, stride 2, padding 1 all round → 2×2 output:
        // windows {1}, {2,3}, {4,7}, {5,6,8,9}.
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        let window = Window {
            size: [2, 2],
            stride: [2, 2],
            pads: [1, 1, 1, 1],
        };
        assert_eq!(
            conv2d(&[1.0; 4], 1, IMG, window, &x),
            vec![1.0, 5.0, 11.0, 28.0]
        );
        assert_eq!(sum_pool(IMG, window, &x), vec![1.0, 5.0, 11.0, 28.0]);
    }

    #[test]
    fn ring_max_is_signed() {
        let x: Vec<Ring> = [-5i64, -2, -9, -1].iter().map(|&v| v as Ring).collect();
        let img = Image { c: 1, h: 2, w: 2 };
        assert_eq!(
            max_pool(img, Window::new([2, 2], [2, 2]), &x),
            vec![-1i64 as Ring]
        );
        assert_eq!(Num::max(1 << 63, 0u64), 0);
    }
}

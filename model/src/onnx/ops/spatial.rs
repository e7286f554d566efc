//! Layers over images: Conv, MaxPool, AveragePool, GlobalAveragePool and the ReduceMean
//! over both spatial axes that the dynamo exporter writes for a global average pool.
//!
//! Images are `[1, c, h, w]` tensors. Windows have no dilation; padding follows ONNX
//! (`pads` = top, left, bottom, right, or `auto_pad`).

use veil_plan::{Image, Window};

use super::{attr_int, attr_ints, attr_str, finite, shape_error, unsupported_use};
use crate::error::ModelError;
use crate::ir::{Conv, Op};
use crate::kernels::out_image;
use crate::onnx::proto::NodeProto;
use crate::onnx::tensor::Tensor;

/// The image a `[1, c, h, w]` shape holds.
fn image(node: &NodeProto, shape: &[usize]) -> Result<Image, ModelError> {
    match *shape {
        [1, c, h, w] => Ok(Image { c, h, w }),
        _ => Err(shape_error(
            node,
            format!("an image [1, c, h, w] is needed, the data has shape {shape:?}"),
        )),
    }
}

fn shape_of(image: Image) -> Vec<usize> {
    vec![1, image.c, image.h, image.w]
}

/// A pair of positive sizes from an attribute, or `default` if absent.
fn pair(node: &NodeProto, name: &str, default: [usize; 2]) -> Result<[usize; 2], ModelError> {
    match attr_ints(node, name) {
        None => Ok(default),
        Some(&[a, b]) if a >= 1 && b >= 1 => Ok([a as usize, b as usize]),
        Some(v) => Err(unsupported_use(
            node,
            format!("{name} {v:?}: two positive values are needed (2-D images only)"),
        )),
    }
}

/// A pool's `kernel_shape` (required).
fn pool_kernel(node: &NodeProto) -> Result<[usize; 2], ModelError> {
    match attr_ints(node, "kernel_shape") {
        None => Err(unsupported_use(node, "kernel_shape is missing")),
        Some(_) => pair(node, "kernel_shape", [1, 1]),
    }
}

/// Kernel, strides and padding of a node over `input`, with `kernel` its size; refuses
/// dilation, `ceil_mode` and padding as large as the kernel.
fn window(node: &NodeProto, input: Image, kernel: [usize; 2]) -> Result<Window, ModelError> {
    if let Some(d) = attr_ints(node, "dilations").filter(|d| d.iter().any(|&v| v != 1)) {
        return Err(unsupported_use(
            node,
            format!("dilations {d:?}: only dilation 1 is supported"),
        ));
    }
    if attr_int(node, "ceil_mode", 0) != 0 {
        return Err(unsupported_use(node, "ceil_mode = 1 is not supported"));
    }
    let stride = pair(node, "strides", [1, 1])?;
    let auto_pad = attr_str(node, "auto_pad", "NOTSET");
    let pads = match auto_pad.as_str() {
        "NOTSET" => match attr_ints(node, "pads") {
            None => [0; 4],
            Some(&[t, l, b, r]) if [t, l, b, r].iter().all(|&p| p >= 0) => {
                [t as usize, l as usize, b as usize, r as usize]
            }
            Some(p) => {
                return Err(unsupported_use(
                    node,
                    format!("pads {p:?}: four non-negative values are needed"),
                ))
            }
        },
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let upper = auto_pad == "SAME_UPPER";
            let (t, b) = same_pads(input.h, kernel[0], stride[0], upper);
            let (l, r) = same_pads(input.w, kernel[1], stride[1], upper);
            [t, l, b, r]
        }
        other => {
            return Err(unsupported_use(
                node,
                format!("auto_pad {other:?} is not an ONNX value"),
            ))
        }
    };
    let window = Window {
        size: kernel,
        stride,
        pads,
    };
    if pads[0].max(pads[2]) >= kernel[0] || pads[1].max(pads[3]) >= kernel[1] {
        return Err(unsupported_use(
            node,
            format!("pads {pads:?} are not smaller than the kernel {kernel:?}"),
        ));
    }
    if out_image(input, window, 1).is_empty() {
        return Err(shape_error(
            node,
            format!("the window {kernel:?} does not fit the image {input:?}"),
        ));
    }
    Ok(window)
}

/// `auto_pad = SAME_*`: the output is `ceil(n / stride)` long; the odd pad goes at the
/// end for SAME_UPPER, at the start for SAME_LOWER. Returns (start, end).
fn same_pads(n: usize, k: usize, s: usize, upper: bool) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(n);
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

/// Conv with constant weights `[M, C, kh, kw]` and optional bias `[M]`.
pub fn conv(
    node: &NodeProto,
    shape: &[usize],
    w: &Tensor,
    b: Option<&Tensor>,
) -> Result<(Conv, Vec<usize>), ModelError> {
    let input = image(node, shape)?;
    let group = attr_int(node, "group", 1);
    if group != 1 {
        return Err(unsupported_use(
            node,
            format!("group = {group}: grouped convolutions are not supported"),
        ));
    }
    let &[m, c, kh, kw] = w.dims.as_slice() else {
        return Err(unsupported_use(
            node,
            format!(
                "the weight {} has dims {:?}; [M, C, kh, kw] is needed",
                w.name, w.dims
            ),
        ));
    };
    if c != input.c || m == 0 || kh == 0 || kw == 0 {
        return Err(shape_error(
            node,
            format!(
                "the weight {} of dims {:?} does not fit {input:?}",
                w.name, w.dims
            ),
        ));
    }
    let kernel = pair(node, "kernel_shape", [kh, kw])?;
    if kernel != [kh, kw] {
        return Err(shape_error(
            node,
            format!(
                "kernel_shape {kernel:?} differs from the weight's {:?}",
                [kh, kw]
            ),
        ));
    }
    let window = window(node, input, kernel)?;
    let bias = match b {
        None => vec![0.0; m],
        Some(b) if b.dims == [m] => finite(b.floats()?, &b.name)?,
        Some(b) => {
            return Err(shape_error(
                node,
                format!("the bias {} has dims {:?}, [{m}] is needed", b.name, b.dims),
            ))
        }
    };
    let conv = Conv {
        input,
        out_channels: m,
        window,
        weight: finite(w.floats()?, &w.name)?,
        bias,
    };
    let out = shape_of(conv.output());
    Ok((conv, out))
}

/// MaxPool without padding, dilation or the indices output.
pub fn max_pool(node: &NodeProto, shape: &[usize]) -> Result<(Op, Vec<usize>), ModelError> {
    let input = image(node, shape)?;
    let window = window(node, input, pool_kernel(node)?)?;
    if window.pads != [0; 4] {
        return Err(unsupported_use(
            node,
            format!(
                "pads {:?}: a max-pool with padding is not supported",
                window.pads
            ),
        ));
    }
    let out = shape_of(out_image(input, window, input.c));
    Ok((Op::MaxPool { input, window }, out))
}

/// AveragePool: its divisor must be the window's area everywhere (`count_include_pad`
/// or no padding), since the next linear layer's weights carry it.
pub fn avg_pool(node: &NodeProto, shape: &[usize]) -> Result<(Op, Vec<usize>), ModelError> {
    let input = image(node, shape)?;
    let window = window(node, input, pool_kernel(node)?)?;
    if window.pads != [0; 4] && attr_int(node, "count_include_pad", 0) == 0 {
        return Err(unsupported_use(
            node,
            "padding with count_include_pad = 0 divides edge windows by fewer values; \
             only a uniform divisor is supported (count_include_pad = 1 or no padding)",
        ));
    }
    Ok(average(input, window))
}

/// GlobalAveragePool: the mean of each channel, shape `[1, c, 1, 1]`.
pub fn global_avg_pool(node: &NodeProto, shape: &[usize]) -> Result<(Op, Vec<usize>), ModelError> {
    let input = image(node, shape)?;
    Ok(average(input, Window::new([input.h, input.w], [1, 1])))
}

/// ReduceMean over exactly the two spatial axes of an image: a global average pool
/// (`[1, c, 1, 1]`, or `[1, c]` with `keepdims = 0`). `axes` is the input (opset 18+) or
/// the attribute.
pub fn reduce_mean(
    node: &NodeProto,
    shape: &[usize],
    axes: Option<&Tensor>,
) -> Result<(Op, Vec<usize>), ModelError> {
    let listed: Vec<i64> = match axes {
        Some(t) => t.ints()?.to_vec(),
        None => attr_ints(node, "axes").unwrap_or(&[]).to_vec(),
    };
    let mut normal: Vec<i64> = listed
        .iter()
        .map(|&a| if a < 0 { a + 4 } else { a })
        .collect();
    normal.sort_unstable();
    if shape.len() != 4 || normal != [2, 3] {
        return Err(unsupported_use(
            node,
            format!(
                "axes {listed:?} over shape {shape:?}: only the mean over both spatial \
                 axes of an image (a global average pool) is supported"
            ),
        ));
    }
    let (op, out) = global_avg_pool(node, shape)?;
    let keep = attr_int(node, "keepdims", 1) != 0;
    Ok((op, if keep { out } else { out[..2].to_vec() }))
}

fn average(input: Image, window: Window) -> (Op, Vec<usize>) {
    let out = shape_of(out_image(input, window, input.c));
    (Op::AvgPool { input, window }, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pad_where_onnx_says() {
        // n = 5, k = 2, s = 2: out 3, total (3-1)·2 + 2 − 5 = 1.
        assert_eq!(same_pads(5, 2, 2, true), (0, 1));
        assert_eq!(same_pads(5, 2, 2, false), (1, 0));
        // n = 7, k = 3, s = 1: total 2.
        assert_eq!(same_pads(7, 3, 1, true), (1, 1));
        // n = 4, k = 1, s = 2: no padding.
        assert_eq!(same_pads(4, 1, 2, true), (0, 0));
    }
}

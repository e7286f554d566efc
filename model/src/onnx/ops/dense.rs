//! Matrices: Gemm, MatMul, and the Add of a constant bias after them.

use super::{attr_float, attr_int, finite, shape_error, unsupported_use};
use crate::error::ModelError;
use crate::ir::Dense;
use crate::onnx::proto::NodeProto;
use crate::onnx::tensor::Tensor;

/// Checks the vector's shape is `[1, ..., 1, k]` and returns the leading dimensions.
fn flat_input<'s>(
    node: &NodeProto,
    shape: &'s [usize],
    k: usize,
) -> Result<&'s [usize], ModelError> {
    let count: usize = shape.iter().product();
    match shape.split_last() {
        Some((&last, lead)) if last == k && count == k => Ok(lead),
        _ => Err(shape_error(
            node,
            format!("the weights take {k} inputs but the data has shape {shape:?}"),
        )),
    }
}

/// Gemm: `y = alpha·A·op(B) + beta·C` with A the data, B and C constants.
pub fn gemm(
    node: &NodeProto,
    shape: &[usize],
    b: &Tensor,
    c: Option<&Tensor>,
) -> Result<(Dense, Vec<usize>), ModelError> {
    if attr_int(node, "transA", 0) != 0 {
        return Err(unsupported_use(node, "transA = 1 is not supported"));
    }
    let trans_b = match attr_int(node, "transB", 0) {
        0 => false,
        1 => true,
        t => return Err(unsupported_use(node, format!("transB = {t}"))),
    };
    let alpha = f64::from(attr_float(node, "alpha", 1.0));
    let beta = f64::from(attr_float(node, "beta", 1.0));
    let mut dense = weight_matrix(node, b, trans_b)?;
    dense.weight.iter_mut().for_each(|w| *w *= alpha);
    let lead = flat_input(node, shape, dense.cols)?;
    let mut out = lead.to_vec();
    out.push(dense.rows);
    if let Some(c) = c {
        let bias = broadcast_to(node, c, &[1, dense.rows])?;
        dense.bias = bias.into_iter().map(|v| beta * v).collect();
    }
    Ok((dense, out))
}

/// MatMul: `y = x·B` with B a constant `K × N` matrix; the bias starts at zero.
pub fn matmul(
    node: &NodeProto,
    shape: &[usize],
    b: &Tensor,
) -> Result<(Dense, Vec<usize>), ModelError> {
    let dense = weight_matrix(node, b, false)?;
    let lead = flat_input(node, shape, dense.cols)?;
    let mut out = lead.to_vec();
    out.push(dense.rows);
    Ok((dense, out))
}

/// Builds the out × in matrix from a rank-2 constant: `[N, K]` if `transposed`, else `[K, N]`.
fn weight_matrix(node: &NodeProto, b: &Tensor, transposed: bool) -> Result<Dense, ModelError> {
    let &[d0, d1] = b.dims.as_slice() else {
        return Err(unsupported_use(
            node,
            format!(
                "the weight {} has dims {:?}; a matrix is needed",
                b.name, b.dims
            ),
        ));
    };
    let values = finite(b.floats()?, &b.name)?;
    let (rows, cols) = if transposed { (d0, d1) } else { (d1, d0) };
    if rows == 0 || cols == 0 {
        return Err(shape_error(node, format!("the weight {} is empty", b.name)));
    }
    let weight = if transposed {
        values
    } else {
        (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| values[c * rows + r])
            .collect()
    };
    Ok(Dense {
        rows,
        cols,
        weight,
        bias: vec![0.0; rows],
    })
}

/// Add of a constant to the data: the result shape and the constant laid out over it.
pub fn add_constant(
    node: &NodeProto,
    shape: &[usize],
    c: &Tensor,
) -> Result<(Vec<f64>, Vec<usize>), ModelError> {
    let out = broadcast_shape(shape, &c.dims).ok_or_else(|| {
        shape_error(
            node,
            format!("cannot broadcast {:?} with {:?}", shape, c.dims),
        )
    })?;
    if out.iter().product::<usize>() != shape.iter().product::<usize>() {
        return Err(shape_error(
            node,
            format!("adding {:?} to {:?} would grow the data", c.dims, shape),
        ));
    }
    Ok((broadcast_to(node, c, &out)?, out))
}

/// Multidirectional (numpy) broadcasting of two shapes.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let pad = rank - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// Expands constant `c` to `out` by unidirectional broadcasting, in C order.
fn broadcast_to(node: &NodeProto, c: &Tensor, out: &[usize]) -> Result<Vec<f64>, ModelError> {
    let fits = c.dims.len() <= out.len()
        && c.dims
            .iter()
            .rev()
            .zip(out.iter().rev())
            .all(|(&d, &o)| d == o || d == 1);
    if !fits {
        return Err(shape_error(
            node,
            format!(
                "the constant {} of dims {:?} does not broadcast to {out:?}",
                c.name, c.dims
            ),
        ));
    }
    let values = finite(c.floats()?, &c.name)?;
    let pad = out.len() - c.dims.len();
    let count: usize = out.iter().product();
    let expanded = (0..count).map(|mut flat| {
        // Walk the output index from the last axis, accumulating the constant's index.
        let (mut index, mut stride) = (0, 1);
        for (axis, &o) in out.iter().enumerate().rev() {
            let i = flat % o;
            flat /= o;
            if axis >= pad {
                let d = c.dims[axis - pad];
                index += if d == 1 { 0 } else { i * stride };
                stride *= d;
            }
        }
        values[index]
    });
    Ok(expanded.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::tensor::TensorData;

    fn tensor(dims: &[usize], values: &[f64]) -> Tensor {
        Tensor {
            name: "c".into(),
            dims: dims.to_vec(),
            data: TensorData::F64(values.to_vec()),
        }
    }

    #[test]
    fn broadcasting_repeats_along_unit_axes() {
        let node = NodeProto::default();
        let c = tensor(&[2, 1], &[1.0, 2.0]);
        assert_eq!(
            broadcast_to(&node, &c, &[2, 3]).unwrap(),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        let c = tensor(&[3], &[1.0, 2.0, 3.0]);
        assert_eq!(
            broadcast_to(&node, &c, &[2, 3]).unwrap(),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        assert!(broadcast_to(&node, &c, &[3, 2]).is_err());
        assert_eq!(broadcast_shape(&[1, 4], &[1, 1, 4]), Some(vec![1, 1, 4]));
        assert_eq!(broadcast_shape(&[1, 4], &[3]), None);
    }

    #[test]
    fn matmul_transposes_the_weight() {
        let node = NodeProto::default();
        // B is K × N = 2 × 3; W must be 3 × 2.
        let b = tensor(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let (d, out) = matmul(&node, &[1, 2], &b).unwrap();
        assert_eq!((d.rows, d.cols, out), (3, 2, vec![1, 3]));
        assert_eq!(d.weight, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert!(matmul(&node, &[2, 2], &b).is_err());
    }
}

//! Shape bookkeeping: Flatten and Reshape move no values.

use super::{attr_int, shape_error};
use crate::error::ModelError;
use crate::onnx::proto::NodeProto;
use crate::onnx::tensor::Tensor;

/// Flatten: `[prod(dims[..axis]), prod(dims[axis..])]`.
pub fn flatten(node: &NodeProto, shape: &[usize]) -> Result<Vec<usize>, ModelError> {
    let rank = shape.len() as i64;
    let axis = attr_int(node, "axis", 1);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..=rank).contains(&axis) {
        return Err(shape_error(
            node,
            format!("axis {axis} for shape {shape:?}"),
        ));
    }
    let (head, tail) = shape.split_at(axis as usize);
    Ok(vec![head.iter().product(), tail.iter().product()])
}

/// Reshape to a constant shape (with ONNX's `0` = copy and `-1` = infer).
pub fn reshape(
    node: &NodeProto,
    shape: &[usize],
    target: &Tensor,
) -> Result<Vec<usize>, ModelError> {
    let allow_zero = attr_int(node, "allowzero", 0) != 0;
    let count: usize = shape.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.ints()?.iter().enumerate() {
        let dim = match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            0 if !allow_zero => *shape.get(i).ok_or_else(|| {
                shape_error(node, format!("shape entry {i} copies a missing dimension"))
            })?,
            d => usize::try_from(d)
                .map_err(|_| shape_error(node, format!("invalid shape entry {d}")))?,
        };
        out.push(dim);
    }
    let known = out
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| shape_error(node, "the target shape overflows"))?;
    if let Some(i) = infer {
        if known == 0 || !count.is_multiple_of(known) {
            return Err(shape_error(
                node,
                format!("cannot reshape {shape:?} to {:?}", target.ints()?),
            ));
        }
        out[i] = count / known;
    } else if known != count {
        return Err(shape_error(
            node,
            format!("cannot reshape {shape:?} ({count} values) to {out:?}"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::tensor::TensorData;

    #[test]
    fn reshape_copies_and_infers() {
        let node = NodeProto::default();
        let t = |v: &[i64]| Tensor {
            name: "s".into(),
            dims: vec![v.len()],
            data: TensorData::I64(v.to_vec()),
        };
        assert_eq!(
            reshape(&node, &[1, 1, 4, 4], &t(&[0, -1])).unwrap(),
            vec![1, 16]
        );
        assert_eq!(reshape(&node, &[1, 16], &t(&[-1])).unwrap(), vec![16]);
        assert!(reshape(&node, &[1, 16], &t(&[5, -1])).is_err());
        assert!(reshape(&node, &[1, 16], &t(&[-1, -1])).is_err());
        assert!(reshape(&node, &[1, 16], &t(&[i64::MAX, 4])).is_err());
        assert_eq!(flatten(&node, &[1, 1, 4, 4]).unwrap(), vec![1, 16]);
    }
}

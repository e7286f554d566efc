//! BatchNormalization in inference form, folded into the linear layer before it.
//!
//! `y = (x − mean) / sqrt(var + epsilon) · scale + B` per channel (axis 1) is `s·x + t`
//! with `s = scale / sqrt(var + epsilon)` and `t = B − mean·s`: the preceding layer's
//! weights of channel `c` scale by `s_c` and its bias becomes `b_c·s_c + t_c`.

use super::{attr_float, attr_int, finite, shape_error, unsupported_use};
use crate::error::ModelError;
use crate::ir::Op;
use crate::onnx::proto::NodeProto;
use crate::onnx::tensor::Tensor;

/// Folds the node (its constant inputs `scale, B, mean, var`) into `layer`, which must
/// be the Dense or Conv whose output (of `shape`) it normalizes.
pub fn fold_batch_norm(
    node: &NodeProto,
    shape: &[usize],
    layer: Option<&mut Op>,
    params: [&Tensor; 4],
) -> Result<(), ModelError> {
    if attr_int(node, "training_mode", 0) != 0 {
        return Err(unsupported_use(
            node,
            "training_mode = 1: only the inference form is supported",
        ));
    }
    let (weight, bias, channels) = match layer {
        Some(Op::Dense(d)) => (&mut d.weight, &mut d.bias, d.rows),
        Some(Op::Conv(c)) => (&mut c.weight, &mut c.bias, c.out_channels),
        _ => {
            return Err(unsupported_use(
                node,
                "a BatchNormalization must directly follow a Conv, Gemm or MatMul, \
                 into which it is folded",
            ))
        }
    };
    if shape.get(1) != Some(&channels) {
        return Err(shape_error(
            node,
            format!("the data {shape:?} does not hold {channels} channels on axis 1"),
        ));
    }
    let [scale, b, mean, var] = params.map(|t| {
        if t.len() == channels {
            finite(t.floats()?, &t.name)
        } else {
            Err(shape_error(
                node,
                format!("{} has {} values for {channels} channels", t.name, t.len()),
            ))
        }
    });
    let (scale, b, mean, var) = (scale?, b?, mean?, var?);
    let epsilon = f64::from(attr_float(node, "epsilon", 1e-5));
    let per_channel = weight.len() / channels;
    for c in 0..channels {
        let s = scale[c] / (var[c] + epsilon).sqrt();
        if !s.is_finite() {
            return Err(shape_error(
                node,
                format!("channel {c} has variance {} + epsilon {epsilon}", var[c]),
            ));
        }
        weight[c * per_channel..][..per_channel]
            .iter_mut()
            .for_each(|w| *w *= s);
        bias[c] = bias[c] * s + b[c] - mean[c] * s;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Dense;
    use crate::onnx::tensor::TensorData;

    fn t(values: &[f64]) -> Tensor {
        Tensor {
            name: "p".into(),
            dims: vec![values.len()],
            data: TensorData::F64(values.to_vec()),
        }
    }

    #[test]
    fn folds_into_the_rows_of_a_dense_layer() {
        let mut op = Op::Dense(Dense {
            rows: 2,
            cols: 2,
            weight: vec![1.0, 2.0, 3.0, 4.0],
            bias: vec![1.0, -1.0],
        });
        let node = NodeProto::default();
        // var + eps = 4 and 0.25 (eps = 0 here is 1e-5 by default: use var − 1e-5).
        let eps = f64::from(1e-5f32);
        let params = [
            t(&[2.0, 1.0]),
            t(&[0.5, 0.0]),
            t(&[1.0, -1.0]),
            t(&[4.0 - eps, 0.25 - eps]),
        ];
        fold_batch_norm(
            &node,
            &[1, 2],
            Some(&mut op),
            [&params[0], &params[1], &params[2], &params[3]],
        )
        .unwrap();
        let Op::Dense(d) = op else { unreachable!() };
        // s = [1, 2], t = [0.5 − 1, 0 + 2] = [−0.5, 2].
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(&d.weight, &[1.0, 2.0, 6.0, 8.0]), "{:?}", d.weight);
        assert!(close(&d.bias, &[0.5, 0.0]), "{:?}", d.bias);
        assert!(fold_batch_norm(
            &node,
            &[1, 2],
            None,
            [&params[0], &params[1], &params[2], &params[3]]
        )
        .is_err());
    }
}

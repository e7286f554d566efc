//! The plaintext answers every secure output is judged against: the fixed-point
//! reference (bit for bit) and the float model (accuracy).

use veil_model::{decode_output, encode_input, reference, InputError, LoadedModel};
use veil_protocol::plan::Plan;
use veil_protocol::ring::Ring;

/// What the plaintext models say about a list of inputs.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// The inputs encoded for the plan (what the client submits).
    pub inputs: Vec<Vec<Ring>>,
    /// The fixed-point reference's outputs, as ring elements.
    pub fixed: Vec<Vec<Ring>>,
    /// The reference's predicted labels.
    pub fixed_labels: Vec<usize>,
    /// The float model's predicted labels.
    pub float_labels: Vec<usize>,
}

/// Encodes `images` and runs both plaintext models on them, the fixed-point one as the
/// session's `plan` says (ending in an argmax for label-only answers).
pub fn expected(
    plan: &Plan,
    model: &LoadedModel,
    images: &[Vec<f32>],
) -> Result<Expected, InputError> {
    let mut out = Expected::default();
    for image in images {
        let input = encode_input(plan, image)?;
        let fixed = reference(plan, &model.weights, &input);
        out.fixed_labels.push(label(plan, &fixed));
        let float_input: Vec<f64> = image.iter().map(|&v| f64::from(v)).collect();
        out.float_labels
            .push(argmax(&model.float.eval(&float_input)));
        out.inputs.push(input);
        out.fixed.push(fixed);
    }
    Ok(out)
}

/// The label of an output of `plan` (the reference's or a secure one): the output itself
/// for a label-only plan, else the largest of the decoded logits.
pub fn label(plan: &Plan, output: &[Ring]) -> usize {
    match (plan.label_only(), output) {
        (true, [label]) => *label as usize,
        _ => argmax(&decode_output(plan, output)),
    }
}

/// The index of the largest value (the first one on ties; 0 for an empty slice).
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// How many of `predicted` equal `labels`, as a fraction (0 when there is nothing).
pub fn accuracy(predicted: &[usize], labels: &[u8]) -> f64 {
    let n = predicted.len().min(labels.len());
    if n == 0 {
        return 0.0;
    }
    let hits = predicted
        .iter()
        .zip(labels)
        .filter(|(&p, &l)| p == usize::from(l))
        .count();
    hits as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_largest() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -2.0]), 1);
        assert_eq!(argmax(&[-1.0]), 0);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn accuracy_counts_matches() {
        assert_eq!(accuracy(&[7, 2, 1, 9], &[7, 2, 1, 0]), 0.75);
        assert_eq!(accuracy(&[], &[]), 0.0);
    }
}

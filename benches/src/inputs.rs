//! The inputs a `run` queries with, chosen from the plan's input shape so that new models
//! work without code changes: the shipped MNIST test images for models that take 784
//! values, else random values in the plan's calibrated input range (costs do not depend
//! on the values, only on the shapes).

use std::path::Path;

use rand_core::RngCore;
use veil_model::encode_input;
use veil_protocol::plan::Plan;
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::ring::Ring;

use crate::data::TestSet;
use crate::error::BenchError;

/// Values in an MNIST image (28 × 28).
pub const MNIST_LEN: usize = 784;

/// The seed of the random inputs: fixed, so that runs repeat.
const SEED: Seed = Seed([0x5e; 16]);

/// Where a run's inputs come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The shipped MNIST test images, in order (repeating after the last).
    Mnist,
    /// Uniform random values in the plan's input range.
    Random,
}

impl Source {
    /// The source that fits `plan`.
    pub fn for_plan(plan: &Plan) -> Source {
        if plan.input_len() == MNIST_LEN {
            Source::Mnist
        } else {
            Source::Random
        }
    }

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Source::Mnist => "MNIST test images",
            Source::Random => "random inputs in the calibrated range",
        }
    }
}

/// `q` encoded inputs for `plan`; MNIST images are read from the models folder `dir`.
pub fn query_inputs(plan: &Plan, dir: &Path, q: usize) -> Result<Vec<Vec<Ring>>, BenchError> {
    let raw: Vec<Vec<f32>> = match Source::for_plan(plan) {
        Source::Mnist => {
            let set = TestSet::load(dir)?;
            set.images.iter().cycle().take(q).cloned().collect()
        }
        Source::Random => random(plan, q),
    };
    raw.iter()
        .map(|values| encode_input(plan, values).map_err(BenchError::from))
        .collect()
}

/// `q` inputs of uniform values in the plan's input range.
fn random(plan: &Plan, q: usize) -> Vec<Vec<f32>> {
    let (lo, hi) = plan.input_range;
    let mut rng = Prg::new(SEED);
    (0..q)
        .map(|_| {
            (0..plan.input_len())
                .map(|_| {
                    let unit = rng.next_u32() as f32 / u32::MAX as f32;
                    (lo + unit * (hi - lo)).clamp(lo, hi)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::{repo_models_dir, resolve_model};

    fn mlp() -> Plan {
        let path = resolve_model(None, &repo_models_dir()).expect("shipped");
        veil_model::load(&path).expect("loads").plan
    }

    #[test]
    fn mnist_models_get_the_test_images() {
        let plan = mlp();
        assert_eq!(Source::for_plan(&plan), Source::Mnist);
        let inputs = query_inputs(&plan, &repo_models_dir(), 3).expect("images");
        let set = TestSet::load(&repo_models_dir()).unwrap();
        assert_eq!(inputs.len(), 3);
        assert_eq!(inputs[2], encode_input(&plan, &set.images[2]).unwrap());
    }

    #[test]
    fn other_shapes_get_random_inputs_in_range() {
        let plan = Plan {
            input_shape: vec![3, 32, 32],
            ..mlp()
        };
        assert_eq!(Source::for_plan(&plan), Source::Random);
        let values = random(&plan, 2);
        assert_eq!((values.len(), values[0].len()), (2, 3072));
        let (lo, hi) = plan.input_range;
        assert!(values.iter().flatten().all(|v| (lo..=hi).contains(v)));
        assert_ne!(values[0], values[1], "each query gets its own input");
        assert_eq!(values, random(&plan, 2), "runs repeat");
    }
}

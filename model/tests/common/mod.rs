//! Helpers shared by the integration tests: fixture paths, temporary folders, and the
//! fixed-point error bound.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use veil_model::{FloatModel, Op};
use veil_protocol::ring::FixedPoint;

/// A fixture file's path.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh, empty folder for one test (removed when dropped).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("veil-model-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bound on |fixed-point result − real result| for `input`, propagated layer by layer:
/// inputs and weights round by at most 2^-(f+1), biases by 2^-(2f+1); a linear layer
/// turns an input error `e` into `Σ_j |w_ij|·e + 2^-(f+1)·(|x_j| + e)` plus the bias
/// rounding; ReLU keeps `e` and the floor shift adds less than 2^-f.
pub fn fixed_error_bound(model: &FloatModel, fixed: FixedPoint, input: &[f64]) -> f64 {
    let half_ulp = 2f64.powi(-(fixed.f as i32) - 1);
    let mut e = half_ulp;
    let mut x = input.to_vec();
    for layer in &model.layers {
        match &layer.op {
            Op::Dense(d) => {
                e = d
                    .weight
                    .chunks_exact(d.cols)
                    .map(|row| {
                        row.iter()
                            .zip(&x)
                            .map(|(w, v)| w.abs() * e + half_ulp * (v.abs() + e))
                            .sum::<f64>()
                    })
                    .fold(0.0, f64::max)
                    + half_ulp * half_ulp * 2.0;
                x = d.apply(&x);
            }
            Op::Relu => {
                e += 2f64.powi(-(fixed.f as i32));
                x.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            _ => {}
        }
    }
    e
}

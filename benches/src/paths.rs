//! Where the shipped models and data live, from any working directory.
//!
//! The folder is `--models DIR` if given, else `$VEIL_MODELS` if set, else the
//! repository's `models/` (found from this crate's source folder at build time).

use std::path::{Path, PathBuf};

use crate::error::BenchError;

/// The environment variable that overrides the models folder.
pub const MODELS_ENV: &str = "VEIL_MODELS";

/// The model `veil-bench` runs when none is named.
pub const DEFAULT_MODEL: &str = "secureml-mlp";

/// The standard networks of CONTRACT.md: bench name and shipped file.
pub const STANDARD_MODELS: [(&str, &str); 4] = [
    ("secureml-mlp", "mnist-mlp.onnx"),
    ("chameleon-cnn", "mnist-cnn-chameleon.onnx"),
    ("minionn-mnist", "mnist-cnn-minionn.onnx"),
    ("minionn-cifar10", "cifar10-minionn.onnx"),
];

/// The repository's `models/` folder, as seen when this crate was built.
pub fn repo_models_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("models")
}

/// The models folder: `flag`, else `$VEIL_MODELS` (if set and not empty), else
/// [`repo_models_dir`].
pub fn models_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    match std::env::var_os(MODELS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_models_dir(),
    }
}

/// Where the standard network `name` would be shipped in `models` (`None`: not a
/// standard name).
pub fn standard_model(name: &str, models: &Path) -> Option<PathBuf> {
    STANDARD_MODELS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, file)| models.join(file))
}

/// The model file for `spec`: a standard name (in `models`), or a file path. Without a
/// spec, [`DEFAULT_MODEL`]. A file that does not exist is a usage error.
pub fn resolve_model(spec: Option<&str>, models: &Path) -> Result<PathBuf, BenchError> {
    let spec = spec.unwrap_or(DEFAULT_MODEL);
    if let Some(path) = standard_model(spec, models) {
        if path.is_file() {
            return Ok(path);
        }
        return Err(BenchError::Usage(format!(
            "the network {spec} ({}) is not shipped in this build",
            path.display()
        )));
    }
    let path = PathBuf::from(spec);
    if !path.is_file() {
        let names: Vec<&str> = STANDARD_MODELS.iter().map(|(n, _)| *n).collect();
        return Err(BenchError::Usage(format!(
            "no model file at {}; give an ONNX file or one of: {}",
            path.display(),
            names.join(", ")
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_is_shipped_and_found_by_name() {
        let dir = repo_models_dir();
        let path = resolve_model(None, &dir).expect("the shipped model");
        assert!(
            path.ends_with("models/mnist-mlp.onnx"),
            "{}",
            path.display()
        );
        let by_file = resolve_model(path.to_str(), &dir).expect("the same file");
        assert_eq!(by_file, path);
    }

    #[test]
    fn a_missing_file_is_a_usage_error() {
        let e = resolve_model(Some("no/such/model.onnx"), &repo_models_dir()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("no model file at no/such/model.onnx"),
            "{e}"
        );
    }

    #[test]
    fn a_standard_network_not_shipped_says_so() {
        let e = resolve_model(Some("chameleon-cnn"), Path::new("/nonexistent")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("not shipped in this build"), "{e}");
    }

    #[test]
    fn the_flag_wins() {
        assert_eq!(models_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
    }
}

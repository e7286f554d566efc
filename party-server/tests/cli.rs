//! `veil-server`'s flags as an operator meets them: mistakes are usage errors (exit code 2)
//! before anything listens.

use std::process::Command;

/// Runs `veil-server` with `args` on the shipped MLP; its exit code and stderr.
fn server(args: &[&str]) -> (Option<i32>, String) {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mnist-mlp.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_veil-server"))
        .args(["--listen", "127.0.0.1:0", "--model", model])
        .args(args)
        .env("VEIL_HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("veil-server runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_linear_path_is_he_or_ot_and_only_without_a_dealer() {
    let (code, stderr) = server(&["--linear", "paillier"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("he or ot"), "{stderr}");
    let (code, stderr) = server(&["--dealer", "127.0.0.1:7400", "--linear", "ot"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--dealer"), "{stderr}");
}

#[test]
fn the_kind_of_ot_is_silent_or_iknp_and_only_without_a_dealer() {
    let (code, stderr) = server(&["--ot", "bogus"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("silent or iknp"), "{stderr}");
    let (code, stderr) = server(&["--ot", "iknp", "--dealer", "127.0.0.1:7400"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--dealer"), "{stderr}");
}

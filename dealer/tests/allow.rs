//! `veil-dealer id` and `veil-dealer --allow FILE` at start, through the real binary: one
//! stable fingerprint; a list naming a model, or with a malformed line, is exit code 2.

use std::path::Path;
use std::process::Command;

/// `veil-dealer ARGS` with `VEIL_HOME=home`: exit code, stdout, stderr.
fn dealer(home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_veil-dealer"))
        .args(args)
        .env("VEIL_HOME", home)
        .output()
        .expect("running veil-dealer");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn id_prints_one_stable_fingerprint() {
    let home = tempfile::tempdir().unwrap();
    let (code, first, err) = dealer(home.path(), &["id"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, again, _) = dealer(home.path(), &["id"]);
    assert_eq!(first, again);
    let key = first.trim_end_matches('\n');
    assert_eq!(key.len(), 64, "{first:?}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{first:?}");
    assert!(home.path().join("identity-dealer.key").exists());
}

#[test]
fn an_allow_list_with_models_or_a_bad_line_is_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("allowed.txt");
    let allow = file.to_str().unwrap();
    let key = "c".repeat(64);
    std::fs::write(&file, format!("{key} mnist-mlp\n")).unwrap();
    let (code, _, err) = dealer(home.path(), &["--listen", "127.0.0.1:0", "--allow", allow]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("allowed.txt") && err.contains("mnist-mlp"),
        "{err}"
    );
    std::fs::write(&file, format!("{key}\n\n{}\n", &key[..10])).unwrap();
    let (code, _, err) = dealer(home.path(), &["--listen", "127.0.0.1:0", "--allow", allow]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("line 3") && err.contains("64 hex digits"),
        "{err}"
    );
}

//! Many inputs in one `veil-client infer`: a folder, a glob pattern or a batch `.npy`,
//! answered in one session (setup paid once), one JSON object per input naming it, a bad
//! input reported in its own object while the others go on, exit code 1 if any failed.

mod common;

use std::path::Path;

use common::{infer, sample, Run};
use serde_json::Value;
use veil_tests::{model_path, reference_output, Harness};

/// Each stdout line as JSON.
fn lines(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in {run:?}")))
        .collect()
}

/// The reference's label of `image`.
fn label_of(image: &[f32]) -> u64 {
    veil_model::argmax(&reference_output(image)) as u64
}

#[test]
fn a_folder_is_answered_in_one_session_and_a_bad_file_does_not_stop_it() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        std::fs::copy(sample(i), dir.path().join(format!("digit-{i}.npy"))).unwrap();
    }
    std::fs::write(dir.path().join("digit-2b.npy"), b"not an npy file").unwrap();
    // An image among them, prepared as the model's card says.
    let png = model_path("samples/mnist-0.png");
    std::fs::copy(png, dir.path().join("digit-5.png")).unwrap();
    std::fs::write(dir.path().join("readme.txt"), b"ignored").unwrap();
    let run = infer(&h, home.path(), dir.path(), &["--json"]);
    assert_eq!(run.code(), Some(1), "one input failed: {run:?}");
    assert!(run.stderr.contains("1 of 7 inputs failed"), "{run:?}");
    let answers = lines(&run);
    let names: Vec<String> = answers
        .iter()
        .map(|a| {
            let input = a["input"].as_str().expect("every object names its input");
            Path::new(input)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into()
        })
        .collect();
    let expected = [
        "digit-0.npy",
        "digit-1.npy",
        "digit-2.npy",
        "digit-2b.npy",
        "digit-3.npy",
        "digit-4.npy",
        "digit-5.png",
    ];
    assert_eq!(names, expected);
    assert_eq!(answers[6]["class"], "seven", "{}", answers[6]);
    let bad = &answers[3];
    assert!(
        bad["error"].as_str().is_some() && bad.get("label").is_none(),
        "{bad}"
    );
    let labels: Vec<u64> = answers.iter().filter_map(|a| a["label"].as_u64()).collect();
    assert_eq!(labels, [7, 2, 1, 0, 4, 7]);
    // One session: setup is reported by the first answer alone.
    let setups: Vec<u64> = answers
        .iter()
        .filter(|a| a.get("label").is_some())
        .map(|a| a["setup"]["bytes"].as_u64().unwrap())
        .collect();
    assert!(
        setups[0] > 0 && setups[1..].iter().all(|&b| b == 0),
        "{setups:?}"
    );
    h.shutdown();
}

#[test]
fn a_batch_npy_of_a_hundred_test_images_is_one_session_at_the_references_labels() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (set, _, _) =
        veil_model::read_idx_images(&model_path("mnist-test-1000-images.idx3-ubyte")).unwrap();
    let images: Vec<Vec<f32>> = set.into_iter().take(100).collect();
    let flat: Vec<f32> = images.concat();
    let batch = dir.path().join("batch.npy");
    veil_model::write_npy_f32(&batch, &[100, 1, 28, 28], &flat).unwrap();
    let run = infer(&h, home.path(), &batch, &["--json", "--label-only"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let answers = lines(&run);
    assert_eq!(answers.len(), 100, "one object per input");
    for (i, (a, image)) in answers.iter().zip(&images).enumerate() {
        let name = format!("{}[{i}]", batch.display());
        assert_eq!(a["input"].as_str(), Some(name.as_str()), "{a}");
        assert_eq!(a["label"].as_u64(), Some(label_of(image)), "{a}");
        assert!(a.get("logits").is_none(), "{a}");
        let setup = a["setup"]["bytes"].as_u64().unwrap();
        assert_eq!(setup > 0, i == 0, "setup counted once: {a}");
    }
    h.shutdown();
}

#[test]
fn a_glob_pattern_picks_its_matches_and_text_output_has_a_line_each() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        std::fs::copy(sample(i), dir.path().join(format!("q{i}.npy"))).unwrap();
    }
    std::fs::copy(sample(3), dir.path().join("other.npy")).unwrap();
    let pattern = dir.path().join("q*.npy");
    let run = infer(&h, home.path(), &pattern, &[]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    for (i, label) in [7, 2, 1].iter().enumerate() {
        assert!(
            run.stdout.contains(&format!("q{i}.npy: label {label}")),
            "{run:?}"
        );
    }
    assert!(!run.stdout.contains("other.npy"), "{run:?}");
    assert!(
        run.stdout.contains("3 of 3 inputs answered in one session"),
        "{run:?}"
    );
    // A pattern that matches nothing is bad usage.
    let none = infer(&h, home.path(), &dir.path().join("z*.npy"), &[]);
    assert_eq!(none.code(), Some(2), "{none:?}");
    h.shutdown();
}

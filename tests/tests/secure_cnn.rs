//! The shipped MNIST CNNs run securely over QUIC with both backends: every secure output
//! bit-exact with the plaintext fixed-point reference (model crate), on images the models
//! were not trained on, and as accurate as it. The full 1,000-image runs belong to
//! `veil-bench accuracy`.

use veil_protocol::plan::Backend;
use veil_tests::{argmax, mnist, model_path, reference_of, secure_output, shipped, Harness};

/// The CNNs CI checks, with how many shipped test images each backend queries.
const MODELS: [&str; 3] = [
    "mnist-cnn-minionn.onnx",
    "mnist-cnn-chameleon.onnx",
    "mnist-resnet.onnx",
];
const IMAGES: usize = 12;

fn check(file: &str, backend: Backend) {
    let model = shipped(file);
    let h = Harness::builder().model(None, &model_path(file)).start();
    let opts = veil_tests::Options {
        backend,
        ..h.options()
    };
    let mut session = h.open_with(&opts).unwrap_or_else(|e| {
        panic!(
            "opening a {backend:?} session for {file}: {e}\n{}",
            h.logs()
        )
    });
    assert_eq!(session.plan().backend, backend);
    let data = mnist();
    // Images from the end of the shipped subset: the earlier ones are the fixtures'.
    let start = data.images.len() - IMAGES;
    let (mut secure_right, mut reference_right) = (0, 0);
    for i in start..data.images.len() {
        let image = &data.images[i];
        let (secure, _) = secure_output(&mut session, image);
        let expected = reference_of(model, image);
        assert_eq!(
            secure, expected,
            "{file}, {backend:?}, image {i}: secure output differs"
        );
        let label = usize::from(data.labels[i]);
        let decode = |v: &[u64]| argmax(&veil_model::decode_output(&model.plan, v));
        secure_right += usize::from(decode(&secure) == label);
        reference_right += usize::from(decode(&expected) == label);
    }
    session.close();
    assert_eq!(
        secure_right, reference_right,
        "{file}: secure and reference accuracy"
    );
    // The models score about 99 %: a broken pipeline scores lower.
    assert!(
        secure_right + 2 >= IMAGES,
        "{file}: {secure_right}/{IMAGES} right"
    );
    h.shutdown();
}

#[test]
fn the_shipped_cnns_are_bit_exact_with_gmw() {
    for file in MODELS {
        check(file, Backend::Gmw);
    }
}

#[test]
fn the_shipped_cnns_are_bit_exact_with_garbled_circuits() {
    for file in MODELS {
        check(file, Backend::Gc);
    }
}

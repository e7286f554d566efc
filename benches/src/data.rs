//! The shipped MNIST test subset: 1,000 images and their labels (models/README.md).

use std::path::Path;

use crate::error::BenchError;

/// The image file, in the models folder.
pub const IMAGES_FILE: &str = "mnist-test-1000-images.idx3-ubyte";
/// The label file, in the models folder.
pub const LABELS_FILE: &str = "mnist-test-1000-labels.idx1-ubyte";

/// Labelled images, each flattened row-major with pixels scaled to [0, 1].
#[derive(Clone, Debug)]
pub struct TestSet {
    /// The images.
    pub images: Vec<Vec<f32>>,
    /// Their labels.
    pub labels: Vec<u8>,
}

impl TestSet {
    /// Reads the shipped images and labels from the models folder `dir`.
    pub fn load(dir: &Path) -> Result<TestSet, BenchError> {
        let (images, _, _) = veil_model::read_idx_images(&dir.join(IMAGES_FILE))?;
        let labels = veil_model::read_idx_labels(&dir.join(LABELS_FILE))?;
        if images.len() != labels.len() {
            return Err(BenchError::Usage(format!(
                "{IMAGES_FILE} holds {} images but {LABELS_FILE} {} labels",
                images.len(),
                labels.len()
            )));
        }
        Ok(TestSet { images, labels })
    }

    /// The first `n` images; asking for none or for more than there are is a usage error.
    pub fn first(mut self, n: usize) -> Result<TestSet, BenchError> {
        if n == 0 || n > self.len() {
            return Err(BenchError::Usage(format!(
                "--n {n}: the test set holds {} images; ask for 1 to {}",
                self.len(),
                self.len()
            )));
        }
        self.images.truncate(n);
        self.labels.truncate(n);
        Ok(self)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// True if there is no image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::repo_models_dir;

    #[test]
    fn the_shipped_set_has_1000_labelled_images() {
        let set = TestSet::load(&repo_models_dir()).expect("shipped files");
        assert_eq!(set.len(), 1000);
        assert_eq!(set.images[0].len(), 784);
        // models/samples/README.md: the first five labels.
        assert_eq!(&set.labels[..5], &[7, 2, 1, 0, 4]);
        let few = set.clone().first(3).expect("3 of 1000");
        assert_eq!((few.len(), few.labels.len()), (3, 3));
        assert_eq!(set.clone().first(0).unwrap_err().exit_code(), 2);
        assert_eq!(set.first(1001).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn missing_files_are_bad_input() {
        let e = TestSet::load(Path::new("/nonexistent")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}

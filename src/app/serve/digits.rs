//! The MNIST test digits the page can pick from ("random test digit").

use std::path::Path;

use crate::error::Result;
use crate::mnist::{MnistError, TEST_IMAGES as IMAGES, TEST_LABELS as LABELS, load_images, load_labels};
use crate::tensor::Tensor;

/// MNIST's test images and their labels.
pub struct TestDigits {
    images: Tensor,
    labels: Vec<u8>,
}

impl TestDigits {
    /// Loads the test set only (not the 60,000 training images) from `dir`, gzipped or not.
    pub fn load(dir: &Path) -> Result<TestDigits> {
        let file = |name: &str| {
            let (gz, plain) = (dir.join(format!("{name}.gz")), dir.join(name));
            match (gz.is_file(), plain.is_file()) {
                (true, _) => Ok(gz),
                (false, true) => Ok(plain),
                (false, false) => Err(MnistError::MissingFile { path: plain }),
            }
        };
        let images = load_images(&file(IMAGES)?)?;
        let labels = load_labels(&file(LABELS)?)?;
        if images.shape().first() != Some(&labels.len()) {
            return Err(crate::Error::model(format!(
                "the test set has {:?} images but {} labels",
                images.shape().first(),
                labels.len()
            )));
        }
        Ok(TestDigits { images, labels })
    }

    /// How many digits there are.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Digit `index`: its 784 grey values (0 black, 1 white, row-major) and its label.
    pub fn get(&self, index: usize) -> Option<(Vec<f32>, u8)> {
        let label = *self.labels.get(index)?;
        let side = 28 * 28;
        let pixels = self.images.data().get(index * side..(index + 1) * side)?.to_vec();
        Some((pixels, label))
    }
}

//! Loading MNIST, the way Keras's `mnist.load_data()` does, and preparing it as the book does.
//!
//! The four files come from `scripts/fetch-mnist`, which stores them in `data/mnist/` under
//! their official names:
//!
//! ```text
//! train-images-idx3-ubyte.gz   60000 × 28 × 28 u8   training images
//! train-labels-idx1-ubyte.gz   60000 u8             their digits, 0 to 9
//! t10k-images-idx3-ubyte.gz    10000 × 28 × 28 u8   test images
//! t10k-labels-idx1-ubyte.gz    10000 u8             their digits
//! ```
//!
//! The images come back as the book feeds them to the convnet: a `(N, 28, 28, 1)` tensor of
//! `f32` in `[0, 1]` (`train_images.reshape((60000, 28, 28, 1)).astype('float32') / 255`).

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::error::{self, ModelError, Result};
use crate::idx::{IdxArray, IdxData, IdxError, read_idx_file};
use crate::model::Sequential;
use crate::tensor::Tensor;

/// Height and width of an MNIST image, in pixels.
pub const IMAGE_SIZE: usize = 28;

/// The official file names, without the `.gz` that the downloaded files carry.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The MNIST data set, ready for the convnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// Training images, `(60000, 28, 28, 1)`, pixel values scaled to `[0, 1]`.
    pub train_images: Tensor,
    /// The digit (0 to 9) each training image shows.
    pub train_labels: Vec<u8>,
    /// Test images, `(10000, 28, 28, 1)`, pixel values scaled to `[0, 1]`.
    pub test_images: Tensor,
    /// The digit (0 to 9) each test image shows.
    pub test_labels: Vec<u8>,
}

/// What can be wrong with the MNIST files, beyond the IDX format itself.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MnistError {
    /// The data directory does not exist.
    #[error("MNIST directory {} not found: run scripts/fetch-mnist to download the data", dir.display())]
    MissingDir {
        /// The directory that was looked for.
        dir: PathBuf,
    },
    /// One of the four files is in neither its gzipped nor its plain form.
    #[error("MNIST file {} (or {}.gz) not found: run scripts/fetch-mnist to download the data", path.display(), path.display())]
    MissingFile {
        /// The file that was looked for, without `.gz`.
        path: PathBuf,
    },
    /// A file could not be read as IDX.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        source: IdxError,
    },
    /// An image file does not hold `u8` images of 28×28 pixels.
    #[error("{} does not hold MNIST images: expected u8 of shape (N, 28, 28), found {type_name} of shape {dims:?}", path.display())]
    NotImages {
        /// The file.
        path: PathBuf,
        /// The element type it holds.
        type_name: &'static str,
        /// The dimensions it has.
        dims: Vec<usize>,
    },
    /// A label file does not hold a one-dimensional array of `u8`.
    #[error("{} does not hold MNIST labels: expected u8 of shape (N), found {type_name} of shape {dims:?}", path.display())]
    NotLabels {
        /// The file.
        path: PathBuf,
        /// The element type it holds.
        type_name: &'static str,
        /// The dimensions it has.
        dims: Vec<usize>,
    },
    /// A label is not a digit.
    #[error("{}: label {label} at position {index} is not a digit 0 to 9", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Where the label is.
        index: usize,
        /// The label.
        label: u8,
    },
    /// There is not enough memory for the `f32` copy of the images.
    #[error("{}: not enough memory to hold its {images} images as f32", path.display())]
    OutOfMemory {
        /// The file.
        path: PathBuf,
        /// The number of images it holds.
        images: usize,
    },
    /// An image file and its label file disagree on how many examples there are.
    #[error("the {set} set has {images} images but {labels} labels")]
    CountMismatch {
        /// `"training"` or `"test"`.
        set: &'static str,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
}

// ANCHOR: load_data
/// Loads the four MNIST files from `dir` (normally `data/mnist`, filled by
/// `scripts/fetch-mnist`). Each file may be gzipped (`name.gz`, preferred) or plain (`name`).
///
/// ```no_run
/// let mnist = convnets::mnist::load_data("data/mnist".as_ref()).unwrap();
/// assert_eq!(mnist.train_images.shape(), &[60000, 28, 28, 1]);
/// assert_eq!(mnist.train_labels[0], 5);
/// ```
pub fn load_data(dir: &Path) -> Result<Mnist> {
    if !dir.is_dir() {
        return Err(MnistError::MissingDir { dir: dir.to_path_buf() }.into());
    }
    let train_images = load_images(&find(dir, TRAIN_IMAGES)?)?;
    let train_labels = load_labels(&find(dir, TRAIN_LABELS)?)?;
    check_counts("training", &train_images, &train_labels)?;
    let test_images = load_images(&find(dir, TEST_IMAGES)?)?;
    let test_labels = load_labels(&find(dir, TEST_LABELS)?)?;
    check_counts("test", &test_images, &test_labels)?;
    Ok(Mnist { train_images, train_labels, test_images, test_labels })
}
// ANCHOR_END: load_data

// ANCHOR: load_images
/// Loads one MNIST image file as a `(N, 28, 28, 1)` tensor with pixels scaled to `[0, 1]`.
pub fn load_images(path: &Path) -> Result<Tensor> {
    images_from_idx(read(path)?, path)
}

/// The images of an IDX array (read from `path`, named in errors) as a `(N, 28, 28, 1)`
/// tensor with pixels scaled to `[0, 1]`.
///
/// The array holds at most [`MAX_DATA_BYTES`](crate::idx::MAX_DATA_BYTES) pixels (171,196
/// images), so the `f32` copy takes at most four times that; if even that much memory cannot
/// be had, the error says so rather than aborting the program.
pub fn images_from_idx(array: IdxArray, path: &Path) -> Result<Tensor> {
    let pixels = match (array.data.as_u8(), &array.dims[..]) {
        (Some(pixels), &[_, IMAGE_SIZE, IMAGE_SIZE]) => pixels,
        _ => {
            return Err(MnistError::NotImages {
                path: path.to_path_buf(),
                type_name: array.type_name(),
                dims: array.dims,
            }
            .into());
        }
    };
    // The book's `astype('float32') / 255`: 0 is black, 1 is white.
    let mut scaled = Vec::new();
    if scaled.try_reserve_exact(pixels.len()).is_err() {
        return Err(MnistError::OutOfMemory { path: path.to_path_buf(), images: array.dims[0] }.into());
    }
    scaled.extend(pixels.iter().map(|&p| f32::from(p) / 255.0));
    Tensor::new(&[array.dims[0], IMAGE_SIZE, IMAGE_SIZE, 1], scaled)
}
// ANCHOR_END: load_images

/// Loads one MNIST label file: one digit, 0 to 9, per image.
pub fn load_labels(path: &Path) -> Result<Vec<u8>> {
    labels_from_idx(read(path)?, path)
}

/// The labels of an IDX array (read from `path`, named in errors): one digit, 0 to 9, per
/// image.
pub fn labels_from_idx(array: IdxArray, path: &Path) -> Result<Vec<u8>> {
    let labels = match (array.data, &array.dims[..]) {
        (IdxData::U8(labels), &[_]) => labels,
        (data, _) => {
            let type_name = data.idx_type().name();
            return Err(
                MnistError::NotLabels { path: path.to_path_buf(), type_name, dims: array.dims }.into()
            );
        }
    };
    if let Some((index, &label)) = labels.iter().enumerate().find(|&(_, &label)| label > 9) {
        return Err(MnistError::BadLabel { path: path.to_path_buf(), index, label }.into());
    }
    Ok(labels)
}

/// The number of classes of MNIST: the digits 0 to 9.
pub const CLASSES: usize = 10;

/// Checks that `model` classifies MNIST digits: it takes `(28, 28, 1)` images and outputs 10
/// class scores. The command line checks a loaded model with this before it reads any data.
pub fn check_model(model: &Sequential) -> Result<()> {
    let task = "classifying MNIST digits";
    let expected = [IMAGE_SIZE, IMAGE_SIZE, 1];
    if model.input_shape() != expected {
        let found = model.input_shape().to_vec();
        return Err(error::Error::Model(ModelError::Input { task, expected: expected.to_vec(), found }));
    }
    if model.output_shape() != [CLASSES] {
        let found = model.output_shape().to_vec();
        return Err(error::Error::Model(ModelError::Classes { task, expected: CLASSES, found }));
    }
    Ok(())
}

/// Reads an IDX file, naming the file in any error.
fn read(path: &Path) -> std::result::Result<IdxArray, MnistError> {
    read_idx_file(path).map_err(|source| MnistError::Read { path: path.to_path_buf(), source })
}

/// The path of `name.gz` in `dir` if it exists, else of `name`, else a `MissingFile` error.
fn find(dir: &Path, name: &str) -> std::result::Result<PathBuf, MnistError> {
    let gzipped = dir.join(format!("{name}.gz"));
    let plain = dir.join(name);
    if gzipped.is_file() {
        Ok(gzipped)
    } else if plain.is_file() {
        Ok(plain)
    } else {
        Err(MnistError::MissingFile { path: plain })
    }
}

/// Checks that there is one label per image.
fn check_counts(set: &'static str, images: &Tensor, labels: &[u8]) -> std::result::Result<(), MnistError> {
    let images = images.shape().first().copied().unwrap_or(0);
    if images != labels.len() {
        return Err(MnistError::CountMismatch { set, images, labels: labels.len() });
    }
    Ok(())
}

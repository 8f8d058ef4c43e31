//! Loading MNIST from a tiny fake data directory: shapes, scaling, labels, and a clear
//! error for each way the files can be wrong. None of this needs the real download.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use convnets::Error;
use convnets::idx::{IdxArray, IdxData, IdxError, write_idx_file};
use convnets::mnist::{
    MnistError, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, load_data, load_images, load_labels,
};

/// A fresh, empty directory in Cargo's scratch directory for integration tests.
fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mnist-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `n` images of 28×28 pixels; image `i` has every pixel equal to `i`, except its first
/// pixel, which is 255 (white).
fn images(n: usize) -> IdxArray {
    let mut pixels = Vec::new();
    for i in 0..n {
        pixels.push(255);
        pixels.extend(std::iter::repeat_n(i as u8, 28 * 28 - 1));
    }
    IdxArray::new(vec![n, 28, 28], IdxData::U8(pixels)).unwrap()
}

fn labels(values: &[u8]) -> IdxArray {
    IdxArray::new(vec![values.len()], IdxData::U8(values.to_vec())).unwrap()
}

fn write(dir: &Path, name: &str, array: &IdxArray) {
    write_idx_file(dir.join(format!("{name}.gz")), array, true).unwrap();
}

/// A complete fake MNIST: 3 training images labelled 5, 0, 4 and 2 test images labelled 7, 2.
fn fake_mnist(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    write(&dir, TRAIN_IMAGES, &images(3));
    write(&dir, TRAIN_LABELS, &labels(&[5, 0, 4]));
    write(&dir, TEST_IMAGES, &images(2));
    write(&dir, TEST_LABELS, &labels(&[7, 2]));
    dir
}

fn mnist_error(result: convnets::Result<impl std::fmt::Debug>) -> MnistError {
    match result {
        Err(Error::Mnist(e)) => e,
        other => panic!("expected an MNIST error, got {other:?}"),
    }
}

#[test]
fn loads_shapes_scaled_pixels_and_labels() {
    let dir = fake_mnist("ok");
    let mnist = load_data(&dir).unwrap();
    assert_eq!(mnist.train_images.shape(), &[3, 28, 28, 1]);
    assert_eq!(mnist.test_images.shape(), &[2, 28, 28, 1]);
    assert_eq!(mnist.train_labels, [5, 0, 4]);
    assert_eq!(mnist.test_labels, [7, 2]);
    // 255 → 1.0, 0 → 0.0, 2 → 2/255.
    assert_eq!(mnist.train_images.get(&[0, 0, 0, 0]), Some(1.0));
    assert_eq!(mnist.train_images.get(&[0, 5, 5, 0]), Some(0.0));
    assert_eq!(mnist.train_images.get(&[2, 27, 27, 0]), Some(2.0 / 255.0));
    assert!(mnist.train_images.data().iter().all(|&p| (0.0..=1.0).contains(&p)));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plain_files_without_gz_load_too() {
    let dir = temp_dir("plain");
    write_idx_file(dir.join(TRAIN_IMAGES), &images(3), false).unwrap();
    write_idx_file(dir.join(TRAIN_LABELS), &labels(&[1, 2, 3]), false).unwrap();
    // Gzipped content under the plain name: detected by its bytes, not its name.
    write_idx_file(dir.join(TEST_IMAGES), &images(1), true).unwrap();
    write_idx_file(dir.join(TEST_LABELS), &labels(&[9]), false).unwrap();
    let mnist = load_data(&dir).unwrap();
    assert_eq!(mnist.train_labels, [1, 2, 3]);
    assert_eq!(mnist.test_images.shape(), &[1, 28, 28, 1]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn missing_directory_says_to_fetch() {
    let dir = temp_dir("gone").join("no-such-dir");
    let result = load_data(&dir);
    let message = result.as_ref().unwrap_err().to_string();
    assert!(message.contains("scripts/fetch-mnist"), "{message}");
    assert_eq!(mnist_error(result), MnistError::MissingDir { dir });
}

#[test]
fn missing_file_says_to_fetch() {
    let dir = fake_mnist("missing-file");
    std::fs::remove_file(dir.join(format!("{TEST_LABELS}.gz"))).unwrap();
    let result = load_data(&dir);
    let message = result.as_ref().unwrap_err().to_string();
    assert!(message.contains("scripts/fetch-mnist") && message.contains(TEST_LABELS), "{message}");
    assert_eq!(mnist_error(result), MnistError::MissingFile { path: dir.join(TEST_LABELS) });
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn image_and_label_counts_must_match() {
    let dir = fake_mnist("count");
    write(&dir, TRAIN_LABELS, &labels(&[5, 0]));
    let expected = MnistError::CountMismatch { set: "training", images: 3, labels: 2 };
    assert_eq!(mnist_error(load_data(&dir)), expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn images_must_be_28_by_28() {
    let dir = fake_mnist("27x28");
    let small = IdxArray::new(vec![3, 27, 28], IdxData::U8(vec![0; 3 * 27 * 28])).unwrap();
    write(&dir, TRAIN_IMAGES, &small);
    match mnist_error(load_data(&dir)) {
        MnistError::NotImages { type_name, dims, .. } => {
            assert_eq!((type_name, dims), ("u8", vec![3, 27, 28]));
        }
        other => panic!("expected NotImages, got {other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn images_must_be_u8_with_three_dimensions() {
    let dir = temp_dir("image-types");
    let as_f32 = IdxArray::new(vec![1, 28, 28], IdxData::F32(vec![0.0; 784])).unwrap();
    let with_channels = IdxArray::new(vec![1, 28, 28, 1], IdxData::U8(vec![0; 784])).unwrap();
    for (i, array) in [as_f32, with_channels].iter().enumerate() {
        let path = dir.join(format!("images-{i}"));
        write_idx_file(&path, array, false).unwrap();
        assert!(matches!(mnist_error(load_images(&path)), MnistError::NotImages { .. }));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn labels_must_be_u8() {
    let dir = fake_mnist("i32-labels");
    write(&dir, TEST_LABELS, &IdxArray::new(vec![2], IdxData::I32(vec![7, 2])).unwrap());
    match mnist_error(load_data(&dir)) {
        MnistError::NotLabels { path, type_name, dims } => {
            assert_eq!(path, dir.join(format!("{TEST_LABELS}.gz")));
            assert_eq!((type_name, dims), ("i32", vec![2]));
        }
        other => panic!("expected NotLabels, got {other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn labels_must_be_one_dimensional_digits() {
    let dir = temp_dir("label-values");
    let path = dir.join("labels");
    write_idx_file(&path, &IdxArray::new(vec![1, 2], IdxData::U8(vec![1, 2])).unwrap(), false).unwrap();
    assert!(matches!(mnist_error(load_labels(&path)), MnistError::NotLabels { .. }));
    write_idx_file(&path, &labels(&[3, 9, 10, 4]), false).unwrap();
    assert_eq!(
        mnist_error(load_labels(&path)),
        MnistError::BadLabel { path: path.clone(), index: 2, label: 10 }
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_corrupt_file_is_named_in_the_error() {
    let dir = fake_mnist("corrupt");
    let path = dir.join(format!("{TRAIN_IMAGES}.gz"));
    // A valid header announcing 3 images, and only 10 pixels.
    let mut bytes = vec![0, 0, 0x08, 3];
    for d in [3u32, 28, 28] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(&[0; 10]);
    std::fs::write(&path, &bytes).unwrap();
    let result = load_data(&dir);
    let message = result.as_ref().unwrap_err().to_string();
    assert!(message.contains(TRAIN_IMAGES), "{message}");
    let expected = MnistError::Read { path, source: IdxError::Truncated { expected: 16 + 3 * 784, got: 26 } };
    assert_eq!(mnist_error(result), expected);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The real data set, after `scripts/fetch-mnist`. Ignored by default so that `cargo test`
/// never needs the download; run it with `cargo test --test mnist -- --ignored`.
#[test]
#[ignore = "needs the real MNIST: run scripts/fetch-mnist first"]
fn real_mnist() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let mnist = load_data(&dir).unwrap();
    assert_eq!(mnist.train_images.shape(), &[60000, 28, 28, 1]);
    assert_eq!(mnist.test_images.shape(), &[10000, 28, 28, 1]);
    assert_eq!((mnist.train_labels.len(), mnist.test_labels.len()), (60000, 10000));
    // The first training image is a 5 and the first test image a 7, as in Keras.
    assert_eq!((mnist.train_labels[0], mnist.test_labels[0]), (5, 7));
    for labels in [&mnist.train_labels, &mnist.test_labels] {
        let mut counts = [0usize; 10];
        labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
        assert!(counts.iter().all(|&c| c > 0), "every digit appears: {counts:?}");
    }
    let pixels = mnist.train_images.data();
    assert!(pixels.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert_eq!(pixels.iter().copied().fold(0.0, f32::max), 1.0);
}

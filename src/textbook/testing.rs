//! Helpers for tests, exercises and the book's examples: comparing floating-point results,
//! and a toy data set small enough to train on in a doctest.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::activation::Activation;
use crate::conv::Conv2D;
use crate::dense::Dense;
use crate::flatten::Flatten;
use crate::metrics::to_categorical;
use crate::model::Sequential;
use crate::pool::MaxPooling2D;
use crate::tensor::Tensor;

/// The first position where `actual` and `expected` differ by more than
/// `atol + rtol · |expected|`, as `(index, actual, expected)`; `None` if all are close.
/// Slices of different lengths differ at the first index past the shorter one.
pub fn first_mismatch(actual: &[f32], expected: &[f32], atol: f32, rtol: f32) -> Option<(usize, f32, f32)> {
    if actual.len() != expected.len() {
        let i = actual.len().min(expected.len());
        return Some((
            i,
            actual.get(i).copied().unwrap_or(f32::NAN),
            expected.get(i).copied().unwrap_or(f32::NAN),
        ));
    }
    actual
        .iter()
        .zip(expected)
        .enumerate()
        .find(|&(_, (a, e))| (a - e).abs().is_nan() || (a - e).abs() > atol + rtol * e.abs())
        .map(|(i, (&a, &e))| (i, a, e))
}

/// Panics, naming the first differing index, unless `actual` and `expected` have the same
/// length and every pair is within `atol + rtol · |expected|` (NaN is never close).
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f32], atol: f32, rtol: f32) {
    if let Some((i, a, e)) = first_mismatch(actual, expected, atol, rtol) {
        panic!(
            "values differ at index {i}: got {a}, expected {e} (atol {atol}, rtol {rtol}; lengths {} and {})",
            actual.len(),
            expected.len()
        );
    }
}

// ANCHOR: toy_data
/// `n` black 6×6 images with one white pixel each, and one-hot classes:
/// 0 if the pixel is in the left half (columns 0 to 2), 1 if it is in the right half.
pub fn bright_pixels(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = vec![0.0; n * 36];
    let mut labels = Vec::with_capacity(n);
    for image in x.chunks_exact_mut(36) {
        let (row, col) = (rng.gen_range(0..6), rng.gen_range(0..6));
        image[row * 6 + col] = 1.0;
        labels.push(u8::from(col >= 3));
    }
    let x = Tensor::new(&[n, 6, 6, 1], x).expect("n·36 values");
    (x, to_categorical(&labels, 2).expect("classes 0 and 1"))
}

/// The book's model in miniature, for [`bright_pixels`]: a convolution with four 3×3
/// filters and ReLU, a 2×2 max-pool, `Flatten`, and a softmax over the two classes.
pub fn small_convnet(seed: u64) -> Sequential {
    let mut model = Sequential::new(&[6, 6, 1], seed);
    let built = model
        .add(Conv2D::new(4, (3, 3)).activation(Activation::Relu))
        .and_then(|m| m.add(MaxPooling2D::new((2, 2))))
        .and_then(|m| m.add(Flatten::new()))
        .and_then(|m| m.add(Dense::new(2).activation(Activation::Softmax)));
    built.expect("the layers fit a 6×6 image");
    model
}
// ANCHOR_END: toy_data

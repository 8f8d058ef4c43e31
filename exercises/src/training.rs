//! Exercises of "Training the convnet" (`chapters/training.md`): one-hot targets, accuracy,
//! one RMSprop step, and a whole training step of a small classifier.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test training
//! ```

use convnets::Tensor;

/// One-hot rows: a `(labels.len(), classes)` tensor with a 1 at column `labels[n]` of row
/// `n` and 0 elsewhere. Every label is below `classes`.
///
/// From the book: "Keras's `to_categorical` turns labels into these **one-hot** rows": 1 for
/// the right class, 0 for the others.
pub fn one_hot(labels: &[u8], classes: usize) -> Tensor {
    todo!()
}

/// The fraction of rows of `probs` (shape `(batch, classes)`) whose most probable class is
/// the one marked in the one-hot `targets`. On a tie, the first maximum wins (as numpy's
/// `argmax`).
///
/// From the book: "The **accuracy** is the fraction of samples whose most probable class is
/// the right one. It is the number we care about, but not the one we train on."
pub fn accuracy(probs: &Tensor, targets: &Tensor) -> f64 {
    todo!()
}

/// One RMSprop step, in place: for every weight `w[i]` with gradient `g[i]` and running
/// mean of squared gradients `v[i]` (which starts at 0 and is kept from step to step),
///
/// ```text
/// v = rho · v + (1 − rho) · g²
/// w = w − learning_rate · g / sqrt(v + epsilon)
/// ```
///
/// From the book: "The epsilon goes *inside* the square root, as Keras 3 and TensorFlow 2.21
/// do it." With Keras's defaults (0.001, 0.9, 1e-7) the first step moves every weight with a
/// usable gradient by about `0.001 · √10`, whatever the size of its gradient.
pub fn rmsprop_step(w: &mut [f32], g: &[f32], v: &mut [f32], learning_rate: f32, rho: f32, epsilon: f32) {
    todo!()
}

/// One training step of a softmax classifier, `Dense(classes, softmax)` on flat inputs:
/// compute the logits `z = x · kernel + bias` of the batch `x` (`(batch, inputs)`), the
/// loss (the cross-entropy of `softmax(z)` against the one-hot `targets`, from the logits),
/// its gradient `dz = (softmax(z) − y) / batch`, the kernel and bias gradients, and update
/// the kernel and the bias with one RMSprop step (`rho` 0.9, `epsilon` 1e-7), keeping their
/// running means in `v_kernel` and `v_bias`. Return the loss *before* the step.
///
/// From the book: "`fit` computes a gradient on a **mini-batch** of samples, takes one
/// RMSprop step, and moves on to the next batch." You may call your own functions:
/// `crate::backprop::{dense_forward, softmax_crossentropy, softmax_crossentropy_grad,
/// dense_backward}` and [`rmsprop_step`].
pub fn train_step(
    x: &Tensor,
    targets: &Tensor,
    kernel: &mut Tensor,
    bias: &mut [f32],
    v_kernel: &mut [f32],
    v_bias: &mut [f32],
    learning_rate: f32,
) -> f64 {
    todo!()
}

//! Categorical cross-entropy, the loss of the book's classifier, computed as Keras does.
//!
//! Keras has two ways to compute it. When the probabilities come from its own softmax, it
//! goes back to the logits `z` (the softmax's input) and uses `log p = z − log Σ exp z`,
//! which never takes the log of an underflowed 0: [`softmax_crossentropy`]. For
//! probabilities from anywhere else it clips them away from 0 and 1 first:
//! [`categorical_crossentropy`]. The two agree except where a probability is below 1e-7.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras's fuzz factor (`keras.backend.epsilon()`): probabilities are clipped to
/// `[EPSILON, 1 − EPSILON]` so that `log(0)` never happens.
pub const EPSILON: f32 = 1e-7;

fn check_pair(probs: &Tensor, targets: &Tensor) -> Result<(usize, usize)> {
    match (probs.shape(), targets.shape()) {
        ([b, c], [tb, tc]) if b == tb && c == tc && *b > 0 => Ok((*b, *c)),
        (p, t) => Err(Error::shape(format!(
            "cross-entropy needs non-empty (batch, classes) probabilities and one-hot targets of the same shape, got {p:?} and {t:?}"
        ))),
    }
}

// ANCHOR: crossentropy
/// The mean over the batch of `−Σ_c y_c · log(p_c)`, where `p` are a softmax's
/// probabilities and `y` one-hot targets. As Keras does, each row of `p` is first rescaled
/// to sum to 1 and clipped to `[EPSILON, 1 − EPSILON]`; the sum is taken in `f64`.
pub fn categorical_crossentropy(probs: &Tensor, targets: &Tensor) -> Result<f64> {
    let (batch, classes) = check_pair(probs, targets)?;
    let mut total = 0.0f64;
    for (p, y) in probs.data().chunks(classes).zip(targets.data().chunks(classes)) {
        let sum: f32 = p.iter().sum();
        for (&pc, &yc) in p.iter().zip(y) {
            let pc = (pc / sum).clamp(EPSILON, 1.0 - EPSILON);
            total -= f64::from(yc) * f64::from(pc).ln();
        }
    }
    Ok(total / batch as f64)
}
// ANCHOR_END: crossentropy

// ANCHOR: from_logits
/// The mean over the batch of `−Σ_c y_c · log softmax(z)_c` for logits `z`, with
/// `log softmax(z)_c = z_c − max(z) − log Σ_j exp(z_j − max(z))`, in `f64`: what Keras
/// computes when the model ends in a softmax.
pub fn softmax_crossentropy(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    let (batch, classes) = check_pair(logits, targets)?;
    let mut total = 0.0f64;
    for (z, y) in logits.data().chunks(classes).zip(targets.data().chunks(classes)) {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum: f64 = z.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln();
        for (&zc, &yc) in z.iter().zip(y) {
            total -= f64::from(yc) * (f64::from(zc - max) - log_sum);
        }
    }
    Ok(total / batch as f64)
}
// ANCHOR_END: from_logits

// ANCHOR: fused_grad
/// `∂loss/∂z` for the logits `z` that went into the softmax: `(p − y) / batch`.
///
/// Going through the softmax's Jacobian and the cross-entropy's `−y / p` separately gives the
/// same thing on paper, but divides by probabilities that can underflow to 0. This is the
/// gradient of [`softmax_crossentropy`], which is how Keras trains a softmax output.
pub fn softmax_crossentropy_grad(probs: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (batch, _) = check_pair(probs, targets)?;
    let scale = 1.0 / batch as f32;
    let grad = probs.data().iter().zip(targets.data()).map(|(p, y)| (p - y) * scale).collect();
    Tensor::new(probs.shape(), grad)
}
// ANCHOR_END: fused_grad

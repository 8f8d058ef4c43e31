//! Categorical cross-entropy, the loss of the book's classifier, computed as Keras does.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras's fuzz factor (`keras.backend.epsilon()`): probabilities are clipped to
/// `[EPSILON, 1 − EPSILON]` so that `log(0)` never happens.
pub const EPSILON: f32 = 1e-7;

fn check_pair(probs: &Tensor, targets: &Tensor) -> Result<(usize, usize)> {
    match (probs.shape(), targets.shape()) {
        ([b, c], [tb, tc]) if b == tb && c == tc && *b > 0 => Ok((*b, *c)),
        (p, t) => Err(Error::Shape(format!(
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

// ANCHOR: fused_grad
/// `∂loss/∂z` for the logits `z` that went into the softmax: `(p − y) / batch`.
///
/// Going through the softmax's Jacobian and the cross-entropy's `−y / p` separately gives the
/// same thing on paper, but divides by probabilities that can underflow to 0. Keras computes
/// the loss from the logits when the output is a softmax, and so do we.
pub fn softmax_crossentropy_grad(probs: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (batch, _) = check_pair(probs, targets)?;
    let scale = 1.0 / batch as f32;
    let grad = probs.data().iter().zip(targets.data()).map(|(p, y)| (p - y) * scale).collect();
    Tensor::new(probs.shape(), grad)
}
// ANCHOR_END: fused_grad

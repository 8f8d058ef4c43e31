//! Activation functions: ReLU between layers, softmax at the end.

/// The non-linearity a layer applies to its output, as Keras's `activation=` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// No activation: `f(x) = x` (Keras's default).
    #[default]
    Linear,
    /// `f(x) = max(x, 0)`.
    Relu,
    /// Turns each row of scores into probabilities that sum to 1.
    Softmax,
}

impl Activation {
    /// Applies the activation in place; `row_len` is the length of one sample's row
    /// (only softmax needs it: it normalises each row separately).
    pub fn apply(self, values: &mut [f32], row_len: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => relu(values),
            Activation::Softmax => {
                for row in values.chunks_mut(row_len.max(1)) {
                    softmax(row);
                }
            }
        }
    }
}

// ANCHOR: relu
/// Rectified linear unit, in place: negative values become 0.
pub fn relu(values: &mut [f32]) {
    for v in values {
        *v = v.max(0.0);
    }
}
// ANCHOR_END: relu

// ANCHOR: softmax
/// Softmax of one row, in place: `exp(x_i) / Σ exp(x_j)`.
///
/// Subtracting the row's maximum first changes nothing mathematically (it cancels in the
/// ratio) but keeps `exp` from overflowing: the largest term becomes `exp(0) = 1`.
pub fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}
// ANCHOR_END: softmax

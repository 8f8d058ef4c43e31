//! Activation functions: ReLU between layers, softmax at the end, and their gradients.

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

    // ANCHOR: backward
    /// Writes `dz = ∂loss/∂z` from `dy = ∂loss/∂y`, where `y = f(z)` is the output this
    /// activation produced (rows of `row_len` values). All three slices have one length.
    ///
    /// - linear: `dz = dy`;
    /// - ReLU passes the gradient where the output was positive and blocks it elsewhere;
    /// - softmax mixes a row: `dz_i = y_i · (dy_i − Σ_j dy_j · y_j)`.
    pub fn backward(self, y: &[f32], dy: &[f32], dz: &mut [f32], row_len: usize) {
        match self {
            Activation::Linear => dz.copy_from_slice(dy),
            Activation::Relu => {
                for ((d, &g), &out) in dz.iter_mut().zip(dy).zip(y) {
                    *d = if out > 0.0 { g } else { 0.0 };
                }
            }
            Activation::Softmax => {
                let row_len = row_len.max(1);
                let rows = dz.chunks_mut(row_len).zip(dy.chunks(row_len)).zip(y.chunks(row_len));
                for ((d, g), p) in rows {
                    let dot: f32 = g.iter().zip(p).map(|(a, b)| a * b).sum();
                    for ((di, &gi), &pi) in d.iter_mut().zip(g).zip(p) {
                        *di = pi * (gi - dot);
                    }
                }
            }
        }
    }
    // ANCHOR_END: backward
}

// ANCHOR: relu
/// Rectified linear unit, in place: negative values become 0.
///
/// Written as a comparison rather than `v.max(0.0)`, because `f32::max` turns NaN into 0 and
/// would hide a diverged network; NaN stays NaN here, as in TensorFlow. (Every value is
/// stored, changed or not: a loop without conditional stores runs on whole SIMD registers.)
pub fn relu(values: &mut [f32]) {
    for v in values {
        *v = if *v < 0.0 { 0.0 } else { *v };
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

//! Reference solutions of the training chapter's exercises (see `exercises/src/training.rs`
//! for the tasks).

use convnets::Tensor;

use crate::backprop::{dense_backward, dense_forward, softmax_crossentropy, softmax_crossentropy_grad};

/// A 1 at each label's column.
pub fn one_hot(labels: &[u8], classes: usize) -> Tensor {
    let mut y = Tensor::zeros(&[labels.len(), classes]).unwrap();
    for (n, &label) in labels.iter().enumerate() {
        y.data_mut()[n * classes + usize::from(label)] = 1.0;
    }
    y
}

/// The first maximum of each row against the target's 1.
pub fn accuracy(probs: &Tensor, targets: &Tensor) -> f64 {
    let classes = probs.shape()[1];
    let argmax = |row: &[f32]| {
        let mut best = 0;
        for (c, &p) in row.iter().enumerate() {
            if p > row[best] {
                best = c;
            }
        }
        best
    };
    let rows = probs.data().chunks(classes).zip(targets.data().chunks(classes));
    let right = rows.filter(|(p, y)| y[argmax(p)] == 1.0).count();
    right as f64 / probs.shape()[0] as f64
}

/// `v = rho·v + (1 − rho)·g²; w −= lr·g / sqrt(v + eps)`.
pub fn rmsprop_step(w: &mut [f32], g: &[f32], v: &mut [f32], learning_rate: f32, rho: f32, epsilon: f32) {
    for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
        *v = rho * *v + (1.0 - rho) * g * g;
        *w -= learning_rate * g / (*v + epsilon).sqrt();
    }
}

/// Forward, loss, gradient, backward, step.
pub fn train_step(
    x: &Tensor,
    targets: &Tensor,
    kernel: &mut Tensor,
    bias: &mut [f32],
    v_kernel: &mut [f32],
    v_bias: &mut [f32],
    learning_rate: f32,
) -> f64 {
    let logits = dense_forward(x, kernel, bias);
    let loss = softmax_crossentropy(&logits, targets);
    let dz = softmax_crossentropy_grad(&logits, targets);
    let (_, dk, db) = dense_backward(x, kernel, &dz);
    rmsprop_step(kernel.data_mut(), &dk, v_kernel, learning_rate, 0.9, 1e-7);
    rmsprop_step(bias, &db, v_bias, learning_rate, 0.9, 1e-7);
    loss
}

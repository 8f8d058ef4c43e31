//! The dense layer as two matrix products.

use super::gemm::{Mat, gemm};

/// `z = x · W + b` for a batch: `x` is `(batch, inputs)`, `kernel` is `(inputs, units)`.
pub fn forward(batch: usize, inputs: usize, x: &[f32], kernel: &[f32], bias: &[f32], z: &mut [f32]) {
    let units = bias.len();
    gemm(Mat::new(x, batch, inputs), Mat::new(kernel, inputs, units), 0.0, z);
    for row in z.chunks_exact_mut(units.max(1)) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
}

/// The weight gradients of `z = x · W + b` (overwritten): `dW = xᵀ · dz`, `db` = the
/// column sums of `dz`.
pub fn weight_gradients(
    batch: usize,
    inputs: usize,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let units = dbias.len();
    dbias.fill(0.0);
    for row in dz.chunks_exact(units.max(1)) {
        dbias.iter_mut().zip(row).for_each(|(b, d)| *b += d);
    }
    gemm(Mat::new(x, batch, inputs).t(), Mat::new(dz, batch, units), 0.0, dkernel);
}

/// The input gradient of `z = x · W + b` (overwritten): `dx = dz · Wᵀ`.
pub fn input_gradient(batch: usize, inputs: usize, kernel: &[f32], dz: &[f32], dx: &mut [f32]) {
    let units = kernel.len().checked_div(inputs).unwrap_or(0);
    gemm(Mat::new(dz, batch, units), Mat::new(kernel, inputs, units).t(), 0.0, dx);
}

//! Exercises of "Backpropagation through convolution and pooling" (`chapters/backprop.md`):
//! every layer's backward pass, the fused softmax and cross-entropy, and the finite
//! differences that check them.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test backprop
//! ```
//!
//! Tensors are NHWC, kernels HWIO, as in the earlier chapters; a dense kernel is
//! `(inputs, units)`. A gradient always has the shape of what it is the gradient of.

use convnets::{Padding, Tensor};

/// The gradients of a convolution: given `x`, `kernel`, the strides and padding of the
/// forward pass, and `dy = ∂L/∂y` (shaped like its output), return
/// `(dx, dkernel, dbias)`: `dx` shaped like `x`, `dkernel` like the kernel (HWIO, flat),
/// `dbias` one per filter.
///
/// From the book: "run the *forward* loops again and, at each multiply-add, add the two
/// contributions into the gradients. The backward pass has the same loops as the forward
/// pass, with `+=` into three buffers instead of a sum into one": the product
/// `x[n, ih, iw, ci] · kernel[kh, kw, ci, co]` sends `dy[n, oh, ow, co]` back to both of its
/// factors, so `dkernel[kh, kw, ci, co] += x[n, ih, iw, ci] · dy[…]`,
/// `dx[n, ih, iw, ci] += kernel[kh, kw, ci, co] · dy[…]`, and `dbias[co] += dy[…]`.
///
/// "Positions no window visits (the last rows when the stride does not divide evenly) get no
/// gradient but keep their place in `dx`", and cells in the padding send nothing anywhere.
pub fn conv2d_backward(
    x: &Tensor,
    kernel: &Tensor,
    dy: &Tensor,
    strides: (usize, usize),
    padding: Padding,
) -> (Tensor, Vec<f32>, Vec<f32>) {
    todo!()
}

/// The gradient of max pooling: `dx`, zeros of `x_shape` except at the winners, given the
/// output gradient `dy` and, for each output value, the flat position in `x` of its window's
/// winner (`argmax`, as your `max_pool_forward` returns it).
///
/// From the book: "Only the maximum of each window reached the output, so only it gets the
/// gradient: `dx[argmax[o]] += dy[o]`. Every other input gets 0. (`+=`, because with strides
/// smaller than the pool one input can win several overlapping windows.)"
pub fn max_pool_backward(dy: &Tensor, argmax: &[usize], x_shape: &[usize]) -> Tensor {
    todo!()
}

/// The gradient of average pooling (`valid` padding): `dx` shaped `x_shape`, from the output
/// gradient `dy`, for `pool` windows moved by `strides`.
///
/// From the book: "An average-pool output is `(1/m) Σ x` over the `m` values of its window,
/// so each of them receives `dy / m`." Overlapping windows add up.
pub fn avg_pool_backward(
    dy: &Tensor,
    x_shape: &[usize],
    pool: (usize, usize),
    strides: (usize, usize),
) -> Tensor {
    todo!()
}

/// A dense layer without activation: `z = x · W + b` for a batch `x` of shape
/// `(batch, inputs)`, a kernel `W` of shape `(inputs, units)` and one bias per unit; `z` has
/// shape `(batch, units)`.
///
/// From the book: "`z[n,u] = b[u] + Σ_i x[n,i] · W[i,u]`".
pub fn dense_forward(x: &Tensor, kernel: &Tensor, bias: &[f32]) -> Tensor {
    todo!()
}

/// The gradients of [`dense_forward`]: given `x`, `kernel` and `dz = ∂L/∂z`, return
/// `(dx, dkernel, dbias)` with `dx` shaped like `x`, `dkernel` like the kernel
/// (`(inputs, units)`, flat) and one `dbias` per unit.
///
/// From the book: "each product `x[n,i] · W[i,u]` sends `dz[n,u]` to both factors":
/// `dW = xᵀ · dz`, `dx = dz · Wᵀ`, and `db[u] = Σ_n dz[n,u]`. "Check the shapes: `xᵀ dz` is
/// `(inputs, batch) · (batch, units)`, the kernel's shape."
pub fn dense_backward(x: &Tensor, kernel: &Tensor, dz: &Tensor) -> (Tensor, Vec<f32>, Vec<f32>) {
    todo!()
}

/// ReLU, `max(z, 0)` for each value, returned as a new vector.
///
/// As the crate's `relu` (in `src/textbook/activation.rs`) is written: "as a comparison rather than
/// `v.max(0.0)`, because `f32::max` turns NaN into 0 and would hide a diverged network; NaN
/// stays NaN here, as in TensorFlow."
pub fn relu_forward(z: &[f32]) -> Vec<f32> {
    todo!()
}

/// ReLU's backward pass: `dz` from the layer's ReLU output `y` and `dy = ∂L/∂y`.
///
/// From the book: "the gradient passes where the output was positive and is blocked
/// everywhere else. The output is enough to tell which case we are in (`y > 0` exactly when
/// `z > 0`) […] At `z = 0` exactly, where the slope is undefined, the gradient is blocked,
/// as in TensorFlow."
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    todo!()
}

/// Categorical cross-entropy computed from the logits `z` (the last dense layer's output
/// before its softmax), with one-hot `targets` of the same shape `(batch, classes)`: the mean
/// over the batch of `−Σ_c y_c · log softmax(z)_c`.
///
/// From the book: Keras "goes back to the logits and uses `log p_c = z_c − log Σ_j e^{z_j}`,
/// which never takes the log of an underflowed number." Subtract each row's maximum before
/// `exp` (it cancels out, and keeps `exp` from overflowing: logits `[0, 100]` of class 0 have
/// a loss of about 100, not NaN). Sum in `f64`.
pub fn softmax_crossentropy(logits: &Tensor, targets: &Tensor) -> f64 {
    todo!()
}

/// The gradient of [`softmax_crossentropy`] with respect to the logits:
/// `(softmax(z) − y) / batch`, shaped like the logits.
///
/// From the book: "That is all: the model's probabilities minus the truth." Compute the
/// softmax of each row stably (subtract the row's maximum first).
pub fn softmax_crossentropy_grad(logits: &Tensor, targets: &Tensor) -> Tensor {
    todo!()
}

/// The gradient of `f` at `x` by central differences, one entry per value of `x`:
/// `(f(x + ε·e_i) − f(x − ε·e_i)) / 2ε`, nudging one value at a time.
///
/// From the book: "A derivative is a limit, and for a small step ε the **central
/// difference** `f'(v) ≈ (f(v + ε) − f(v − ε)) / 2ε` is a good approximation: its error is of
/// order ε² (the one-sided `(f(v + ε) − f(v)) / ε` errs by order ε), and it is *exact* when
/// `f` is linear or quadratic in `v`. Nudge one value, run the forward pass twice, and you
/// have one entry of the gradient." (The crate divides by the step really taken,
/// `(v + ε) − (v − ε)` in `f32`, which need not be exactly 2ε.)
pub fn numerical_gradient(f: &mut dyn FnMut(&[f32]) -> f64, x: &[f32], eps: f32) -> Vec<f64> {
    todo!()
}

/// A gradient check's verdict: the first index where the backward pass's `analytic`
/// gradient and the `numerical` one disagree, that is where
/// `|analytic − numerical| > atol + rtol · |numerical|` (a NaN on either side disagrees);
/// `None` if they agree everywhere. Both slices have the same length.
///
/// From the book: "The default tolerance accepts `|analytic − numerical| ≤ 10⁻³ + 10⁻³ ·
/// |numerical|`, ten times that noise, and still catches any real mistake." With this and
/// [`numerical_gradient`] you can check your own [`conv2d_backward`].
pub fn check_gradient(analytic: &[f32], numerical: &[f64], atol: f64, rtol: f64) -> Option<usize> {
    todo!()
}

//! The crate's reference implementations, as the graders reach them: only through the
//! public API of `convnets`, and in one place.

use convnets::conv::{ConvGeometry, naive};
use convnets::{AveragePooling2D, Layer, MaxPooling2D, Padding, Tensor};

/// The im2col patch matrix, from the engine (Part II).
pub use convnets::engine::im2col::im2col;

/// The geometry of convolving `x` with `kernel`.
pub fn geometry(x: &Tensor, kernel: &Tensor, strides: (usize, usize), padding: Padding) -> ConvGeometry {
    ConvGeometry::new(x.shape(), kernel.shape(), strides, padding).expect("the grader draws shapes that fit")
}

/// The reference convolution: `convnets::conv::naive::forward`.
pub fn conv2d(
    x: &Tensor,
    kernel: &Tensor,
    bias: &[f32],
    strides: (usize, usize),
    padding: Padding,
) -> Tensor {
    let g = geometry(x, kernel, strides, padding);
    let mut y = Tensor::zeros(&g.output_shape()).expect("a small output");
    naive::forward(&g, x.data(), kernel.data(), bias, y.data_mut());
    y
}

/// The reference gradients of a convolution, `(dx, dkernel, dbias)`:
/// `convnets::conv::naive::backward`.
pub fn conv2d_backward(
    x: &Tensor,
    kernel: &Tensor,
    dy: &Tensor,
    strides: (usize, usize),
    padding: Padding,
) -> (Tensor, Vec<f32>, Vec<f32>) {
    let g = geometry(x, kernel, strides, padding);
    let mut dx = Tensor::zeros(x.shape()).expect("a small input");
    let mut dk = vec![0.0; kernel.len()];
    let mut db = vec![0.0; g.out_c];
    naive::backward(&g, x.data(), kernel.data(), dy.data(), dx.data_mut(), &mut dk, &mut db);
    (dx, dk, db)
}

/// The reference max pooling (`valid`): the output, and each output's argmax as a flat
/// position in the whole batch `x` (the layer reports it per image).
pub fn max_pool(x: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> (Tensor, Vec<usize>) {
    let mut layer = MaxPooling2D::new(pool).strides(strides);
    let y = layer.forward(x).expect("the grader draws shapes that fit").clone();
    let per_image = x.shape()[1..].iter().product::<usize>();
    let per_output = y.shape()[1..].iter().product::<usize>().max(1);
    let argmax =
        layer.argmax().iter().enumerate().map(|(o, &a)| o / per_output * per_image + a as usize).collect();
    (y, argmax)
}

/// The reference max-pooling gradient for the input `x` of the forward pass.
pub fn max_pool_backward(x: &Tensor, dy: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> Tensor {
    let mut layer = MaxPooling2D::new(pool).strides(strides);
    layer.forward(x).expect("the grader draws shapes that fit");
    layer.backward(dy).expect("dy has the output's shape").clone()
}

/// The reference average pooling (`valid`).
pub fn avg_pool(x: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> Tensor {
    let mut layer = AveragePooling2D::new(pool).strides(strides);
    layer.forward(x).expect("the grader draws shapes that fit").clone()
}

/// The reference average-pooling gradient.
pub fn avg_pool_backward(x: &Tensor, dy: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> Tensor {
    let mut layer = AveragePooling2D::new(pool).strides(strides);
    layer.forward(x).expect("the grader draws shapes that fit");
    layer.backward(dy).expect("dy has the output's shape").clone()
}

//! Reference solutions of the convolution chapter's exercises (see
//! `exercises/src/convolution.rs` for the tasks).

use convnets::Tensor;

/// `bias[co] + Σ x[n, oh + kh, ow + kw, ci] · kernel[kh, kw, ci, co]`.
pub fn output_value(
    x: &Tensor,
    kernel: &Tensor,
    bias: &[f32],
    n: usize,
    oh: usize,
    ow: usize,
    co: usize,
) -> f32 {
    let [kh_n, kw_n, in_c, _] = kernel.shape()[..] else { panic!("a kernel is HWIO") };
    let mut sum = bias[co];
    for kh in 0..kh_n {
        for kw in 0..kw_n {
            for ci in 0..in_c {
                sum += x.get(&[n, oh + kh, ow + kw, ci]).unwrap() * kernel.get(&[kh, kw, ci, co]).unwrap();
            }
        }
    }
    sum
}

/// Every output value: `n − k + 1` positions along each axis.
pub fn conv2d_forward(x: &Tensor, kernel: &Tensor, bias: &[f32]) -> Tensor {
    let [batch, h, w, _] = x.shape()[..] else { panic!("an input is NHWC") };
    let [kh, kw, _, filters] = kernel.shape()[..] else { panic!("a kernel is HWIO") };
    let (out_h, out_w) = (h - kh + 1, w - kw + 1);
    let mut y = Tensor::zeros(&[batch, out_h, out_w, filters]).unwrap();
    let mut i = 0;
    for n in 0..batch {
        for oh in 0..out_h {
            for ow in 0..out_w {
                for co in 0..filters {
                    y.data_mut()[i] = output_value(x, kernel, bias, n, oh, ow, co);
                    i += 1;
                }
            }
        }
    }
    y
}

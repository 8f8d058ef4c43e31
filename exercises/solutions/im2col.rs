//! Reference solutions of the im2col chapter's exercises (see `exercises/src/im2col.rs` for
//! the tasks).

use convnets::{Padding, Tensor};

use crate::padding::{out_len, same_pads};
use crate::strides::input_index;

/// One row per window, `(kh, kw, ci)` along the row.
pub fn im2col(x: &Tensor, kernel_hw: (usize, usize), strides: (usize, usize), padding: Padding) -> Tensor {
    let [batch, h, w, c] = x.shape()[..] else { panic!("an input is NHWC") };
    let (kh_n, kw_n) = kernel_hw;
    let out_h = out_len(h, kh_n, strides.0, padding).expect("the kernel fits");
    let out_w = out_len(w, kw_n, strides.1, padding).expect("the kernel fits");
    let (top, left) = match padding {
        Padding::Valid => (0, 0),
        Padding::Same => (same_pads(h, kh_n, strides.0).0, same_pads(w, kw_n, strides.1).0),
    };
    let mut cols = Vec::with_capacity(batch * out_h * out_w * kh_n * kw_n * c);
    for n in 0..batch {
        for oh in 0..out_h {
            for ow in 0..out_w {
                for kh in 0..kh_n {
                    for kw in 0..kw_n {
                        let ih = input_index(oh, kh, strides.0, top, h);
                        let iw = input_index(ow, kw, strides.1, left, w);
                        for ci in 0..c {
                            cols.push(match (ih, iw) {
                                (Some(ih), Some(iw)) => x.get(&[n, ih, iw, ci]).unwrap(),
                                _ => 0.0,
                            });
                        }
                    }
                }
            }
        }
    }
    Tensor::new(&[batch * out_h * out_w, kh_n * kw_n * c], cols).unwrap()
}

/// Three loops.
pub fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for p in 0..k {
            for j in 0..n {
                c[i * n + j] += a[i * k + p] * b[p * n + j];
            }
        }
    }
    c
}

/// `cols · kernel + bias`.
pub fn conv2d_gemm(
    x: &Tensor,
    kernel: &Tensor,
    bias: &[f32],
    strides: (usize, usize),
    padding: Padding,
) -> Tensor {
    let [kh, kw, _, filters] = kernel.shape()[..] else { panic!("a kernel is HWIO") };
    let cols = im2col(x, (kh, kw), strides, padding);
    let [rows, len] = cols.shape()[..] else { unreachable!("2-D") };
    let mut y = matmul(cols.data(), kernel.data(), rows, len, filters);
    for row in y.chunks_mut(filters) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
    let (out_h, out_w) = crate::padding::out_len(x.shape()[1], kh, strides.0, padding)
        .zip(crate::padding::out_len(x.shape()[2], kw, strides.1, padding))
        .unwrap();
    Tensor::new(&[x.shape()[0], out_h, out_w, filters], y).unwrap()
}

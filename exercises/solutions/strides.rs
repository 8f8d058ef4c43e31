//! Reference solutions of the strides chapter's exercises (see `exercises/src/strides.rs`
//! for the tasks).

use convnets::{Padding, Tensor};

use crate::padding::{out_len, same_pads};

/// `o·s + k − pad_before`, if that is inside `0..n`.
pub fn input_index(o: usize, k: usize, s: usize, pad_before: usize, n: usize) -> Option<usize> {
    (o * s + k).checked_sub(pad_before).filter(|&i| i < n)
}

/// The formula, skipping the cells in the padding.
pub fn conv2d_strided(
    x: &Tensor,
    kernel: &Tensor,
    bias: &[f32],
    strides: (usize, usize),
    padding: Padding,
) -> Tensor {
    let [batch, h, w, in_c] = x.shape()[..] else { panic!("an input is NHWC") };
    let [kh_n, kw_n, _, filters] = kernel.shape()[..] else { panic!("a kernel is HWIO") };
    let (sh, sw) = strides;
    let out_h = out_len(h, kh_n, sh, padding).expect("the kernel fits");
    let out_w = out_len(w, kw_n, sw, padding).expect("the kernel fits");
    let (top, left) = match padding {
        Padding::Valid => (0, 0),
        Padding::Same => (same_pads(h, kh_n, sh).0, same_pads(w, kw_n, sw).0),
    };
    let mut y = Tensor::zeros(&[batch, out_h, out_w, filters]).unwrap();
    let mut i = 0;
    for n in 0..batch {
        for oh in 0..out_h {
            for ow in 0..out_w {
                for co in 0..filters {
                    let mut sum = bias[co];
                    for kh in 0..kh_n {
                        let Some(ih) = input_index(oh, kh, sh, top, h) else { continue };
                        for kw in 0..kw_n {
                            let Some(iw) = input_index(ow, kw, sw, left, w) else { continue };
                            for ci in 0..in_c {
                                sum +=
                                    x.get(&[n, ih, iw, ci]).unwrap() * kernel.get(&[kh, kw, ci, co]).unwrap();
                            }
                        }
                    }
                    y.data_mut()[i] = sum;
                    i += 1;
                }
            }
        }
    }
    y
}

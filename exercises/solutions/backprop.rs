//! Reference solutions of the backpropagation chapter's exercises (see
//! `exercises/src/backprop.rs` for the tasks).

use convnets::{Padding, Tensor};

use crate::padding::{out_len, same_pads};
use crate::strides::input_index;

/// The forward loops again, adding into three buffers.
pub fn conv2d_backward(
    x: &Tensor,
    kernel: &Tensor,
    dy: &Tensor,
    strides: (usize, usize),
    padding: Padding,
) -> (Tensor, Vec<f32>, Vec<f32>) {
    let [batch, h, w, in_c] = x.shape()[..] else { panic!("an input is NHWC") };
    let [kh_n, kw_n, _, filters] = kernel.shape()[..] else { panic!("a kernel is HWIO") };
    let (sh, sw) = strides;
    let out_h = out_len(h, kh_n, sh, padding).expect("the kernel fits");
    let out_w = out_len(w, kw_n, sw, padding).expect("the kernel fits");
    let (top, left) = match padding {
        Padding::Valid => (0, 0),
        Padding::Same => (same_pads(h, kh_n, sh).0, same_pads(w, kw_n, sw).0),
    };
    let mut dx = Tensor::zeros(x.shape()).unwrap();
    let mut dk = vec![0.0; kernel.len()];
    let mut db = vec![0.0; filters];
    for n in 0..batch {
        for oh in 0..out_h {
            for ow in 0..out_w {
                for co in 0..filters {
                    let d = dy.get(&[n, oh, ow, co]).unwrap();
                    db[co] += d;
                    for kh in 0..kh_n {
                        let Some(ih) = input_index(oh, kh, sh, top, h) else { continue };
                        for kw in 0..kw_n {
                            let Some(iw) = input_index(ow, kw, sw, left, w) else { continue };
                            for ci in 0..in_c {
                                let k = kernel.offset(&[kh, kw, ci, co]).unwrap();
                                let i = x.offset(&[n, ih, iw, ci]).unwrap();
                                dk[k] += x.data()[i] * d;
                                dx.data_mut()[i] += kernel.data()[k] * d;
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dk, db)
}

/// `dx[argmax[o]] += dy[o]`.
pub fn max_pool_backward(dy: &Tensor, argmax: &[usize], x_shape: &[usize]) -> Tensor {
    let mut dx = Tensor::zeros(x_shape).unwrap();
    for (&d, &i) in dy.data().iter().zip(argmax) {
        dx.data_mut()[i] += d;
    }
    dx
}

/// Each value of a window gets `dy / m`.
pub fn avg_pool_backward(
    dy: &Tensor,
    x_shape: &[usize],
    pool: (usize, usize),
    strides: (usize, usize),
) -> Tensor {
    let mut dx = Tensor::zeros(x_shape).unwrap();
    let [_, out_h, out_w, c] = dy.shape()[..] else { panic!("dy is NHWC") };
    let m = (pool.0 * pool.1) as f32;
    for n in 0..dy.shape()[0] {
        for oh in 0..out_h {
            for ow in 0..out_w {
                for ch in 0..c {
                    let d = dy.get(&[n, oh, ow, ch]).unwrap() / m;
                    for ph in 0..pool.0 {
                        for pw in 0..pool.1 {
                            let i = dx.offset(&[n, oh * strides.0 + ph, ow * strides.1 + pw, ch]).unwrap();
                            dx.data_mut()[i] += d;
                        }
                    }
                }
            }
        }
    }
    dx
}

/// `z = x · W + b`.
pub fn dense_forward(x: &Tensor, kernel: &Tensor, bias: &[f32]) -> Tensor {
    let [batch, inputs] = x.shape()[..] else { panic!("x is (batch, inputs)") };
    let units = kernel.shape()[1];
    let mut z = Vec::with_capacity(batch * units);
    for n in 0..batch {
        for u in 0..units {
            let mut sum = bias[u];
            for i in 0..inputs {
                sum += x.data()[n * inputs + i] * kernel.data()[i * units + u];
            }
            z.push(sum);
        }
    }
    Tensor::new(&[batch, units], z).unwrap()
}

/// `dx = dz · Wᵀ`, `dW = xᵀ · dz`, `db` = the column sums of `dz`.
pub fn dense_backward(x: &Tensor, kernel: &Tensor, dz: &Tensor) -> (Tensor, Vec<f32>, Vec<f32>) {
    let [batch, inputs] = x.shape()[..] else { panic!("x is (batch, inputs)") };
    let units = kernel.shape()[1];
    let (xs, w, d) = (x.data(), kernel.data(), dz.data());
    let mut dx = vec![0.0; batch * inputs];
    let mut dw = vec![0.0; inputs * units];
    let mut db = vec![0.0; units];
    for n in 0..batch {
        for u in 0..units {
            let g = d[n * units + u];
            db[u] += g;
            for i in 0..inputs {
                dw[i * units + u] += xs[n * inputs + i] * g;
                dx[n * inputs + i] += g * w[i * units + u];
            }
        }
    }
    (Tensor::new(x.shape(), dx).unwrap(), dw, db)
}

/// `max(z, 0)`, keeping NaN.
pub fn relu_forward(z: &[f32]) -> Vec<f32> {
    z.iter().map(|&v| if v < 0.0 { 0.0 } else { v }).collect()
}

/// `dy` where `y > 0`, else 0.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter().zip(dy).map(|(&y, &d)| if y > 0.0 { d } else { 0.0 }).collect()
}

/// One row's log-softmax, stably, in `f64`.
fn log_softmax(z: &[f32]) -> Vec<f64> {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = z.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln();
    z.iter().map(|&v| f64::from(v - max) - log_sum).collect()
}

/// The mean of `−Σ y · log softmax(z)`.
pub fn softmax_crossentropy(logits: &Tensor, targets: &Tensor) -> f64 {
    let [batch, classes] = logits.shape()[..] else { panic!("logits are (batch, classes)") };
    let mut total = 0.0;
    for (z, y) in logits.data().chunks(classes).zip(targets.data().chunks(classes)) {
        for (lp, &yc) in log_softmax(z).into_iter().zip(y) {
            total -= f64::from(yc) * lp;
        }
    }
    total / batch as f64
}

/// `(softmax(z) − y) / batch`.
pub fn softmax_crossentropy_grad(logits: &Tensor, targets: &Tensor) -> Tensor {
    let [batch, classes] = logits.shape()[..] else { panic!("logits are (batch, classes)") };
    let mut grad = Vec::with_capacity(logits.len());
    for (z, y) in logits.data().chunks(classes).zip(targets.data().chunks(classes)) {
        for (lp, &yc) in log_softmax(z).into_iter().zip(y) {
            grad.push(((lp.exp() - f64::from(yc)) / batch as f64) as f32);
        }
    }
    Tensor::new(logits.shape(), grad).unwrap()
}

/// Central differences, one value at a time.
pub fn numerical_gradient(f: &mut dyn FnMut(&[f32]) -> f64, x: &[f32], eps: f32) -> Vec<f64> {
    let mut v = x.to_vec();
    (0..x.len())
        .map(|i| {
            let (up, down) = (x[i] + eps, x[i] - eps);
            v[i] = up;
            let f_up = f(&v);
            v[i] = down;
            let f_down = f(&v);
            v[i] = x[i];
            (f_up - f_down) / f64::from(up - down)
        })
        .collect()
}

/// The first index outside `atol + rtol · |numerical|`.
pub fn check_gradient(analytic: &[f32], numerical: &[f64], atol: f64, rtol: f64) -> Option<usize> {
    analytic.iter().zip(numerical).position(|(&a, &n)| {
        let err = (f64::from(a) - n).abs();
        err.is_nan() || err > atol + rtol * n.abs()
    })
}

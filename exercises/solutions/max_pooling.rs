//! Reference solutions of the max-pooling chapter's exercises (see
//! `exercises/src/max_pooling.rs` for the tasks).

use convnets::Tensor;

/// The output size and, for each output, the flat input positions of its window in
/// row-major order.
fn windows(shape: &[usize], pool: (usize, usize), strides: (usize, usize)) -> ([usize; 4], Vec<Vec<usize>>) {
    let [batch, h, w, c] = shape[..] else { panic!("an input is NHWC") };
    let (out_h, out_w) = ((h - pool.0) / strides.0 + 1, (w - pool.1) / strides.1 + 1);
    let mut all = Vec::new();
    for n in 0..batch {
        for oh in 0..out_h {
            for ow in 0..out_w {
                for ch in 0..c {
                    let mut cells = Vec::new();
                    for ph in 0..pool.0 {
                        for pw in 0..pool.1 {
                            let (ih, iw) = (oh * strides.0 + ph, ow * strides.1 + pw);
                            cells.push(((n * h + ih) * w + iw) * c + ch);
                        }
                    }
                    all.push(cells);
                }
            }
        }
    }
    ([batch, out_h, out_w, c], all)
}

/// The largest value of each window and where it is; strict `>` keeps the first on a tie.
pub fn max_pool_forward(x: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> (Tensor, Vec<usize>) {
    let (shape, windows) = windows(x.shape(), pool, strides);
    let xs = x.data();
    let mut values = Vec::with_capacity(windows.len());
    let mut argmax = Vec::with_capacity(windows.len());
    for cells in windows {
        let mut best = cells[0];
        for &p in &cells[1..] {
            if xs[p] > xs[best] {
                best = p;
            }
        }
        values.push(xs[best]);
        argmax.push(best);
    }
    (Tensor::new(&shape, values).unwrap(), argmax)
}

/// The mean of each window.
pub fn avg_pool_forward(x: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> Tensor {
    let (shape, windows) = windows(x.shape(), pool, strides);
    let xs = x.data();
    let values =
        windows.iter().map(|cells| cells.iter().map(|&p| xs[p]).sum::<f32>() / cells.len() as f32).collect();
    Tensor::new(&shape, values).unwrap()
}

//! Where a training step's time goes: each layer's forward and backward pass of the book's
//! model at batch 64, averaged over many steps (the same calls `compute_gradients` makes).
//!
//! ```console
//! cargo run --release --example layer_times [-- STEPS]
//! ```

use std::time::{Duration, Instant};

use convnets::loss::softmax_crossentropy_grad;
use convnets::{Activation, Conv2D, Dense, Flatten, Layer, MaxPooling2D, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;

const BATCH: usize = 64;

fn main() -> convnets::Result<()> {
    let steps: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(300);
    let x_data = (0..BATCH * 784).map(|i| ((i * 7919) % 2003) as f32 / 2003.0).collect();
    let x = Tensor::new(&[BATCH, 28, 28, 1], x_data)?;
    let targets = convnets::metrics::to_categorical(&[3; BATCH], 10)?;
    let conv = |filters| Conv2D::new(filters, (3, 3)).activation(Activation::Relu);
    let mut layers: Vec<(&str, Box<dyn Layer>)> = vec![
        ("conv2d_1", Box::new(conv(32))),
        ("max_pooling2d_1", Box::new(MaxPooling2D::new((2, 2)))),
        ("conv2d_2", Box::new(conv(64))),
        ("max_pooling2d_2", Box::new(MaxPooling2D::new((2, 2)))),
        ("conv2d_3", Box::new(conv(64))),
        ("flatten", Box::new(Flatten::new())),
        ("dense_1", Box::new(Dense::new(64).activation(Activation::Relu))),
        ("dense_2", Box::new(Dense::new(10).activation(Activation::Softmax))),
    ];
    let mut rng = StdRng::seed_from_u64(0);
    let mut shape = vec![28, 28, 1];
    for (_, layer) in &mut layers {
        shape = layer.build(&shape, &mut rng)?;
    }
    let mut forward = vec![Duration::ZERO; layers.len()];
    let mut backward = vec![Duration::ZERO; layers.len()];
    let warm_up = 20;
    for step in 0..steps + warm_up {
        let keep = step >= warm_up;
        // Each layer's output is borrowed from the layer, as in Sequential::forward.
        let mut y = &x;
        for (i, (_, layer)) in layers.iter_mut().enumerate() {
            let start = Instant::now();
            y = layer.forward(y)?;
            if keep {
                forward[i] += start.elapsed();
            }
        }
        let dz = softmax_crossentropy_grad(y, &targets)?;
        let mut g = &dz;
        // As Sequential::compute_gradients: each pooling folds in the gradient of the ReLU
        // that ends the convolution before it.
        let mut before_activation = true;
        for (i, (_, layer)) in layers.iter_mut().enumerate().rev() {
            let start = Instant::now();
            if i == 0 {
                if before_activation {
                    layer.backward_params_pre_activation(g)?;
                } else {
                    layer.backward_params(g)?;
                }
            } else if before_activation {
                (g, before_activation) = (layer.backward_pre_activation(g)?, false);
            } else if layer.folds_relu() {
                (g, before_activation) = (layer.backward_through_relu(g)?, true);
            } else {
                g = layer.backward(g)?;
            }
            if keep {
                backward[i] += start.elapsed();
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(steps);
    println!("{:<16} {:>10} {:>11}", "layer", "forward ms", "backward ms");
    for (i, (name, _)) in layers.iter().enumerate() {
        println!("{name:<16} {:>10.3} {:>11.3}", ms(forward[i]), ms(backward[i]));
    }
    let total: Duration = forward.iter().chain(&backward).sum();
    println!("all layers {:.3} ms per step ", ms(total));
    Ok(())
}

//! Inference throughput of the book's model: the engine's forward pass over 10,000
//! MNIST-sized images at batch 256, best of three, in images per second.
//!
//! ```console
//! cargo run --release --example inference
//! ```
//!
//! `scripts/keras_mnist.py --inference` measures Keras's `model.predict` the same way; the
//! weights do not change the amount of work, so both use an untrained model.

use std::time::Instant;

use convnets::model::book_model;
use convnets::{ConvAlgorithm, Plan, Tensor};

const IMAGES: usize = 10_000;
const BATCH: usize = 256;

fn main() -> convnets::Result<()> {
    let pixels = (0..IMAGES * 784).map(|i| ((i * 7919) % 2003) as f32 / 2003.0).collect();
    let x = Tensor::new(&[IMAGES, 28, 28, 1], pixels)?;
    let mut model = book_model(0)?;
    let mut plan = Plan::new(&model, ConvAlgorithm::Auto, 1)?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        for first in (0..IMAGES).step_by(BATCH) {
            let batch = x.batch_range(first, (first + BATCH).min(IMAGES))?;
            plan.predict(&mut model, &batch)?;
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("inference: {:.0} images/s", IMAGES as f64 / best);
    Ok(())
}

//! Where a training step's time goes: each layer's forward and backward pass of the book's
//! model at batch 64, as the engine's training plan runs them, averaged over many steps.
//!
//! ```console
//! cargo run --release --example layer_times [-- STEPS [THREADS]]
//! ```
//!
//! With one thread (the default) the times are those of one core; with more, they are the
//! first thread's share of each step (its shard of the batch), so the sum is a step's time.

use std::time::Duration;

use convnets::metrics::to_categorical;
use convnets::model::book_model;
use convnets::optim::RmsProp;
use convnets::train::Trainer;
use convnets::{ConvAlgorithm, Plan, Tensor};

const BATCH: usize = 64;

fn main() -> convnets::Result<()> {
    let mut args = std::env::args().skip(1).map(|s| s.parse::<u32>().ok());
    let steps = args.next().flatten().unwrap_or(300).max(1);
    let threads = args.next().flatten().unwrap_or(1).max(1) as usize;
    let x_data = (0..BATCH * 784).map(|i| ((i * 7919) % 2003) as f32 / 2003.0).collect();
    let x = Tensor::new(&[BATCH, 28, 28, 1], x_data)?;
    let labels: Vec<u8> = (0..BATCH).map(|i| (i % 10) as u8).collect();
    let y = to_categorical(&labels, 10)?;
    let mut model = book_model(0)?;
    let mut optimizer = RmsProp::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| convnets::Error::model(format!("cannot start {threads} threads: {e}")))?;
    let (warm_up, times, wall) = pool.install(|| -> convnets::Result<_> {
        let mut plan = Plan::new(&model, ConvAlgorithm::Auto, threads)?;
        for _ in 0..20 {
            plan.step(&mut model, &x, &y, &mut optimizer)?;
        }
        let warm_up = plan.layer_times();
        let started = std::time::Instant::now();
        for _ in 0..steps {
            plan.step(&mut model, &x, &y, &mut optimizer)?;
        }
        let wall = started.elapsed();
        println!(
            "convolutions: {:?}; first two layers fused: {}",
            plan.conv_kernels(),
            plan.fuses_first_layers()
        );
        Ok((warm_up, plan.layer_times(), wall))
    })?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(steps);
    println!("{:<16} {:>10} {:>11}", "layer", "forward ms", "backward ms");
    let mut total = Duration::ZERO;
    for ((name, [f0, b0]), [f1, b1]) in model.layer_names().iter().zip(warm_up).zip(times) {
        let (f, b) = (f1 - f0, b1 - b0);
        total += f + b;
        println!("{name:<16} {:>10.3} {:>11.3}", ms(f), ms(b));
    }
    println!("all layers {:.3} ms per step", ms(total));
    println!("whole step {:.3} ms (the layers, adding the threads' gradients, the optimiser)", ms(wall));
    Ok(())
}

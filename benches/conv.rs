//! Naive loops against im2col + GEMM and the direct loops on the book's three convolutions
//! at batch 64 (forward pass, backward pass, weight gradients alone), its two max poolings, a
//! full training step, and inference throughput.
//!
//! Throughput is set to the floating-point operations of each call (2 per multiply-add), so
//! criterion's "elem/s" reads as FLOP/s: "70 Gelem/s" is 70 GFLOP/s.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use convnets::conv::{ConvGeometry, naive};
use convnets::engine::gemm::{Mat, gemm};
use convnets::engine::{ConvKernel, direct, im2col, pool};
use convnets::metrics::to_categorical;
use convnets::model::book_model;
use convnets::optim::RmsProp;
use convnets::train::{PlainLoops, Trainer};
use convnets::{Activation, ConvAlgorithm, Padding, Plan, Tensor, Window2D};

const BATCH: usize = 64;

/// The book's convolutions: (name, input h = w, in channels, filters).
const LAYERS: [(&str, usize, usize, usize); 3] = [
    ("conv2d_1 28x28x1->32", 28, 1, 32),
    ("conv2d_2 13x13x32->64", 13, 32, 64),
    ("conv2d_3 5x5x64->64", 5, 64, 64),
];

/// Deterministic values in [-1, 1].
fn values(len: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919) % 2003) as f32 / 1001.5 - 1.0).collect()
}

fn conv_layers(c: &mut Criterion) {
    for (name, size, in_c, out_c) in LAYERS {
        let g = ConvGeometry::new(&[BATCH, size, size, in_c], &[3, 3, in_c, out_c], (1, 1), Padding::Valid)
            .expect("the book's geometry fits");
        let (x, kernel, bias) = (values(BATCH * size * size * in_c), values(9 * in_c * out_c), values(out_c));
        let out_len = g.patch_rows() * out_c;
        let dy = values(out_len);
        let macs = (g.patch_rows() * g.patch_len() * out_c) as u64;

        let mut group = c.benchmark_group(format!("{name} forward"));
        group.sample_size(10).throughput(Throughput::Elements(2 * macs));
        // As in training: im2col keeps its buffers (a Workspace) from one batch to the next.
        let mut y = vec![0.0; out_len];
        let mut ws = im2col::Workspace::default();
        group.bench_function("naive", |b| b.iter(|| naive::forward(&g, &x, &kernel, &bias, &mut y)));
        group.bench_function("im2col", |b| {
            b.iter(|| im2col::forward_with(&mut ws, &g, &x, &kernel, &bias, Activation::Linear, &mut y))
        });
        group.bench_function("direct", |b| {
            b.iter(|| direct::forward(&g, &x, &kernel, &bias, Activation::Linear, &mut y))
        });
        group.finish();

        // Backward computes dkernel and dx: two products of the forward's size. im2col
        // rebuilds each tile's patch matrix from the input, as in training.
        let mut group = c.benchmark_group(format!("{name} backward"));
        group.sample_size(10).throughput(Throughput::Elements(4 * macs));
        let (mut dx, mut dk, mut db) = (vec![0.0; x.len()], vec![0.0; kernel.len()], vec![0.0; out_c]);
        group.bench_function("naive", |b| {
            b.iter(|| naive::backward(&g, &x, &kernel, &dy, &mut dx, &mut dk, &mut db))
        });
        group.bench_function("im2col", |b| {
            b.iter(|| {
                let seen = im2col::ForwardPass { input: &x, output: &y, activation: Activation::Linear };
                let weights = Some(im2col::WeightGradients { dkernel: &mut dk, dbias: &mut db });
                let grads = im2col::Gradients { dx: Some(&mut dx), weights };
                im2col::backward_with(&mut ws, &g, &kernel, seen, &dy, grads)
            })
        });
        // As a `Direct` layer does it: the weight gradients from the direct loops, dx from
        // the direct loops too where their blocks take every input channel, else from im2col.
        let mut dz = Vec::new();
        group.bench_function("direct", |b| {
            b.iter(|| {
                let seen = im2col::ForwardPass { input: &x, output: &y, activation: Activation::Linear };
                let weights = Some(im2col::WeightGradients { dkernel: &mut dk, dbias: &mut db });
                let grads = im2col::Gradients { dx: Some(&mut dx), weights };
                ConvKernel::Direct.backward(&mut ws, &g, &kernel, seen, &dy, &mut dz, grads)
            })
        });
        group.finish();

        // A model's first layer needs only its weight gradients: one product of the
        // forward's size, which the direct loops can compute too.
        let mut group = c.benchmark_group(format!("{name} weight gradient"));
        group.sample_size(10).throughput(Throughput::Elements(2 * macs));
        group.bench_function("im2col", |b| {
            b.iter(|| {
                let seen = im2col::ForwardPass { input: &x, output: &y, activation: Activation::Linear };
                let weights = Some(im2col::WeightGradients { dkernel: &mut dk, dbias: &mut db });
                let grads = im2col::Gradients { dx: None, weights };
                im2col::backward_with(&mut ws, &g, &kernel, seen, &dy, grads)
            })
        });
        group.bench_function("direct", |b| b.iter(|| direct::kernel_gradient(&g, &x, &dy, &mut dk, &mut db)));
        group.finish();
    }
}

/// The book's two max poolings (2×2, stride 2) at batch 64: forward, and backward through the
/// ReLU before them as in training. Memory-bound: each value is read once and compared once.
fn max_pooling(c: &mut Criterion) {
    for (name, size, channels) in [("max_pooling2d_1 26x26x32", 26, 32), ("max_pooling2d_2 11x11x64", 11, 64)]
    {
        let x = values(BATCH * size * size * channels);
        let win = Window2D::new((size, size), (2, 2), (2, 2), Padding::Valid).expect("the window fits");
        let out_len = BATCH * win.out_h * win.out_w * channels;
        let (mut y, mut argmax, mut dx) = (vec![0.0; out_len], vec![0; out_len], vec![0.0; x.len()]);
        pool::max_pool_forward(&win, channels, &x, &mut y, &mut argmax);
        let dy = y.clone();
        let mut group = c.benchmark_group(format!("{name} (values/s)"));
        group.sample_size(20).throughput(Throughput::Elements(x.len() as u64));
        group.bench_function("forward", |b| {
            b.iter(|| pool::max_pool_forward(&win, channels, &x, &mut y, &mut argmax))
        });
        group.bench_function("backward", |b| {
            b.iter(|| pool::max_pool_backward(&win, channels, &dy, &argmax, &y, true, &mut dx))
        });
        group.finish();
    }
}

fn mnist_like_batch() -> (Tensor, Tensor) {
    let x = Tensor::new(&[BATCH, 28, 28, 1], values(BATCH * 784).iter().map(|v| v.abs()).collect())
        .expect("shape fits");
    let labels: Vec<u8> = (0..BATCH).map(|i| (i % 10) as u8).collect();
    (x, to_categorical(&labels, 10).expect("labels are digits"))
}

fn training_step(c: &mut Criterion) {
    let (x, y) = mnist_like_batch();
    let mut model = book_model(0).expect("the book's model builds");
    let mut opt = RmsProp::default();
    let mut group = c.benchmark_group("training step (batch 64)");
    group.sample_size(20).throughput(Throughput::Elements(BATCH as u64));
    // As `fit` does it: the engine's plan, one shard of the batch per thread.
    let mut plan =
        Plan::new(&model, ConvAlgorithm::Auto, rayon::current_num_threads()).expect("the engine knows it");
    group.bench_function(BenchmarkId::new("book model", "engine"), |b| {
        b.iter(|| plan.step(&mut model, &x, &y, &mut opt).expect("shapes fit"))
    });
    // The textbook's layers: plain loops, one thread.
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("book model", "textbook"), |b| {
        b.iter(|| PlainLoops.step(&mut model, &x, &y, &mut opt).expect("shapes fit"))
    });
    group.finish();
}

fn inference(c: &mut Criterion) {
    let (x, _) = mnist_like_batch();
    let mut model = book_model(0).expect("the book's model builds");
    let mut group = c.benchmark_group("inference (images/s)");
    group.sample_size(20).throughput(Throughput::Elements(BATCH as u64));
    let mut plan = Plan::new(&model, ConvAlgorithm::Auto, 1).expect("the engine knows it");
    group.bench_function(BenchmarkId::new("book model", "engine"), |b| {
        b.iter(|| plan.predict(&mut model, &x).map(|y| y.len()))
    });
    group.finish();
}

/// One large single-threaded matrix product: the practical peak of one core, against which
/// the layers' GFLOP/s are read.
fn gemm_peak(c: &mut Criterion) {
    let n = 1024;
    let (a, b) = (values(n * n), values(n * n));
    let mut out = vec![0.0; n * n];
    let mut group = c.benchmark_group("gemm 1024x1024x1024 (one thread)");
    group.sample_size(10).throughput(Throughput::Elements(2 * (n * n * n) as u64));
    group.bench_function("matrixmultiply", |bench| {
        bench.iter(|| gemm(Mat::new(&a, n, n), Mat::new(&b, n, n), 0.0, &mut out))
    });
    group.finish();
}

criterion_group!(benches, conv_layers, max_pooling, training_step, inference, gemm_peak);
criterion_main!(benches);

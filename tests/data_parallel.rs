//! Data-parallel steps against the plain full-batch step. Tolerance: 1e-6 absolute + 1e-4
//! relative: the shards add the same per-sample gradients in another order.

use convnets::data_parallel::DataParallel;
use convnets::metrics::to_categorical;
use convnets::model::book_model;
use convnets::optim::RmsProp;
use convnets::testing::assert_close;
use convnets::{Activation, Conv2D, Dense, Flatten, Layer, MaxPooling2D, Sequential, Tensor};

fn batch(n: usize) -> (Tensor, Tensor) {
    let x = Tensor::new(&[n, 28, 28, 1], (0..n * 784).map(|i| ((i * 31) % 256) as f32 / 255.0).collect())
        .unwrap();
    let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 10) as u8).collect();
    (x, to_categorical(&labels, 10).unwrap())
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

fn plain_gradients(model: &mut Sequential, x: &Tensor, y: &Tensor) -> (f64, Vec<f32>) {
    let (loss, _) = model.compute_gradients(x, y).unwrap();
    (loss, model.params().iter().flat_map(|p| p.grad.to_vec()).collect())
}

#[test]
fn shards_give_the_full_batch_gradients_for_any_thread_count() {
    // 11 samples: 3 threads get shards of 4, 4 and 3; 16 threads leave some shards empty.
    let (x, y) = batch(11);
    let (loss, expected) = plain_gradients(&mut book_model(5).unwrap(), &x, &y);
    for threads in [1, 2, 3, 16] {
        let mut model = book_model(5).unwrap();
        let mut parallel = DataParallel::new(&model, threads);
        assert_eq!(parallel.threads(), threads);
        let stats = parallel.compute_gradients(&mut model, &x, &y).unwrap();
        let grads: Vec<f32> = parallel.gradients().concat();
        assert_close(&grads, &expected, 1e-6, 1e-4);
        assert!((stats.loss - loss).abs() < 1e-6, "{threads} threads: loss {} vs {loss}", stats.loss);
    }
}

#[test]
fn one_thread_is_exactly_the_plain_step() {
    let (x, y) = batch(6);
    let (_, expected) = plain_gradients(&mut book_model(1).unwrap(), &x, &y);
    let mut model = book_model(1).unwrap();
    let mut parallel = DataParallel::new(&model, 1);
    parallel.compute_gradients(&mut model, &x, &y).unwrap();
    assert_eq!(parallel.gradients().concat(), expected);
}

#[test]
fn a_thread_count_always_gives_the_same_bits() {
    let (x, y) = batch(9);
    let run = || {
        in_pool(2, || {
            let mut model = book_model(2).unwrap();
            let mut parallel = DataParallel::new(&model, 2);
            parallel.compute_gradients(&mut model, &x, &y).unwrap();
            parallel.gradients().concat()
        })
    };
    assert_eq!(run(), run());
}

#[test]
fn after_a_step_the_replicas_have_the_new_weights() {
    // Two steps on two threads against two plain steps: if a replica kept its old weights,
    // the second step's gradients would differ.
    let (x, y) = batch(8);
    let mut plain = book_model(4).unwrap();
    let mut opt = RmsProp::default();
    for _ in 0..2 {
        plain.compute_gradients(&x, &y).unwrap();
        opt.step(plain.params()).unwrap();
    }
    let (_, expected) = plain_gradients(&mut plain, &x, &y);

    let mut model = book_model(4).unwrap();
    let mut parallel = DataParallel::new(&model, 2);
    let mut opt = RmsProp::default();
    for _ in 0..2 {
        parallel.compute_gradients(&mut model, &x, &y).unwrap();
        parallel.apply(&mut model, &mut opt).unwrap();
    }
    parallel.compute_gradients(&mut model, &x, &y).unwrap();
    assert_close(&parallel.gradients().concat(), &expected, 1e-5, 1e-3);
}

#[test]
fn a_batch_without_targets_is_an_error() {
    let (x, _) = batch(4);
    let (_, y) = batch(3);
    let mut model = book_model(0).unwrap();
    let mut parallel = DataParallel::new(&model, 2);
    assert!(parallel.compute_gradients(&mut model, &x, &y).is_err());
}

/// A layer written outside the crate, without `clone_layer`: it applies its inner `Flatten`.
struct Unclonable(Flatten);

impl Layer for Unclonable {
    fn kind(&self) -> &'static str {
        "unclonable"
    }
    fn class_name(&self) -> &'static str {
        "Unclonable"
    }
    fn build(&mut self, shape: &[usize], rng: &mut rand::rngs::StdRng) -> convnets::Result<Vec<usize>> {
        self.0.build(shape, rng)
    }
    fn param_count(&self) -> usize {
        0
    }
    fn forward(&mut self, x: &Tensor) -> convnets::Result<&Tensor> {
        self.0.forward(x)
    }
    fn backward(&mut self, dy: &Tensor) -> convnets::Result<&Tensor> {
        self.0.backward(dy)
    }
}

#[test]
fn a_model_that_cannot_be_copied_trains_as_one_replica() {
    let small = || {
        let mut model = Sequential::new(&[28, 28, 1], 8);
        model
            .add(Conv2D::new(4, (3, 3)).activation(Activation::Relu))
            .unwrap()
            .add(MaxPooling2D::new((2, 2)))
            .unwrap()
            .add_boxed(Box::new(Unclonable(Flatten::new())))
            .unwrap()
            .add(Dense::new(10).activation(Activation::Softmax))
            .unwrap();
        model
    };
    let (x, y) = batch(6);
    let (_, expected) = plain_gradients(&mut small(), &x, &y);
    let mut model = small();
    assert!(model.replicate().is_none());
    let mut parallel = DataParallel::new(&model, 4);
    assert_eq!(parallel.threads(), 1);
    parallel.compute_gradients(&mut model, &x, &y).unwrap();
    assert_eq!(parallel.gradients().concat(), expected);
}

#[test]
fn applying_before_any_gradients_is_an_error() {
    let mut model = book_model(0).unwrap();
    let mut parallel = DataParallel::new(&model, 2);
    let err = parallel.apply(&mut model, &mut RmsProp::default()).unwrap_err();
    assert!(err.to_string().contains("compute_gradients first"), "{err}");
}

//! Helpers shared by the integration tests: TensorFlow fixtures, and the models and data the
//! tests build.
#![allow(dead_code)]

use convnets::engine::{ConvAlgorithm, Plan};
use convnets::metrics::to_categorical;
use convnets::train::StepStats;
use convnets::{Activation, Conv2D, Dense, Flatten, Layer, MaxPooling2D, Padding, Sequential, Tensor};
use serde_json::Value;

/// Reads `tests/fixtures/<file>` (written by `scripts/make_fixtures.py`) and returns its cases.
pub fn fixture_cases(file: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let json: Value = serde_json::from_str(&text).expect("fixture is valid JSON");
    json["cases"].as_array().expect("fixture has cases").clone()
}

/// A `{"shape": [...], "data": [...]}` object as a tensor.
pub fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> =
        v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<f32> = v["data"].as_array().unwrap().iter().map(|d| d.as_f64().unwrap() as f32).collect();
    Tensor::new(&shape, data).unwrap()
}

/// A JSON pair `[a, b]` as a tuple.
pub fn pair(v: &Value) -> (usize, usize) {
    (v[0].as_u64().unwrap() as usize, v[1].as_u64().unwrap() as usize)
}

/// `"valid"` or `"same"` as a [`convnets::Padding`].
pub fn padding(v: &Value) -> convnets::Padding {
    match v.as_str().unwrap() {
        "valid" => convnets::Padding::Valid,
        "same" => convnets::Padding::Same,
        other => panic!("unknown padding {other}"),
    }
}

/// Like [`convnets::testing::assert_close`], naming the fixture case in the failure.
#[track_caller]
pub fn assert_case_close(case: &Value, what: &str, actual: &[f32], expected: &[f32], atol: f32, rtol: f32) {
    if let Some((i, a, e)) = convnets::testing::first_mismatch(actual, expected, atol, rtol) {
        panic!("{} {what}: index {i}: got {a}, TensorFlow {e} (atol {atol}, rtol {rtol})", case["name"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Models and data shared by the tests: one builder, so that each test says which model it
// needs in a line, and the tests that compare two ways of computing something build the very
// same model twice.

/// A model being built for a test: `model(&[8, 8, 1], 11).conv(3, (3, 3)).max_pool(2).flatten().softmax(3)`.
/// Convolutions and hidden dense layers apply ReLU, as in the book's model.
pub struct ModelBuilder(Sequential);

/// Starts a model for samples of `input_shape`, its weights drawn from `seed`.
pub fn model(input_shape: &[usize], seed: u64) -> ModelBuilder {
    ModelBuilder(Sequential::new(input_shape, seed))
}

impl ModelBuilder {
    /// Appends any layer (panics if it does not fit the previous one: a test's mistake).
    pub fn add(mut self, layer: impl Layer + 'static) -> ModelBuilder {
        self.0.add(layer).unwrap();
        self
    }

    /// `Conv2D(filters, kernel, activation='relu')`, stride 1, `valid`.
    pub fn conv(self, filters: usize, kernel: (usize, usize)) -> ModelBuilder {
        self.add(Conv2D::new(filters, kernel).activation(Activation::Relu))
    }

    /// `MaxPooling2D((pool, pool))`, strides equal to the pool, `valid`.
    pub fn max_pool(self, pool: usize) -> ModelBuilder {
        self.add(MaxPooling2D::new((pool, pool)))
    }

    /// `Flatten()`.
    pub fn flatten(self) -> ModelBuilder {
        self.add(Flatten::new())
    }

    /// `Dense(units, activation='relu')`.
    pub fn dense(self, units: usize) -> ModelBuilder {
        self.add(Dense::new(units).activation(Activation::Relu))
    }

    /// Ends the model with `Dense(classes, activation='softmax')`.
    pub fn softmax(self, classes: usize) -> Sequential {
        self.add(Dense::new(classes).activation(Activation::Softmax)).0
    }

    /// The model as built so far.
    pub fn build(self) -> Sequential {
        self.0
    }
}

/// The smallest convnet of the tests: Conv(4, 3×3, relu) → MaxPool(2) → Flatten →
/// Dense(classes, softmax).
pub fn tiny_convnet(input_shape: &[usize], classes: usize, seed: u64) -> Sequential {
    model(input_shape, seed).conv(4, (3, 3)).max_pool(2).flatten().softmax(classes)
}

/// A model of odd geometries on 9×9×2 inputs, 3 classes: its first pooling's windows overlap
/// (3×3, stride 2, `same`), so one input can win several windows and collect their gradients.
pub fn overlapping_pools(seed: u64) -> Sequential {
    model(&[9, 9, 2], seed)
        .conv(4, (3, 3))
        .add(MaxPooling2D::new((3, 3)).strides((2, 2)).padding(Padding::Same))
        .conv(3, (2, 2))
        .max_pool(2)
        .flatten()
        .softmax(3)
}

/// Values in [-1, 1) from a seed, without pulling in a random-number crate.
pub fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `n` MNIST-shaped images (28×28×1, values in [0, 1]) with one-hot labels of 10 classes.
pub fn digit_batch(n: usize) -> (Tensor, Tensor) {
    let x = Tensor::new(&[n, 28, 28, 1], (0..n * 784).map(|i| ((i * 31) % 256) as f32 / 255.0).collect())
        .unwrap();
    let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 10) as u8).collect();
    (x, to_categorical(&labels, 10).unwrap())
}

/// `n` samples of `model`'s input shape with values in [-1, 1), and one-hot labels for its
/// classes (the length of its output).
pub fn batch_for(model: &Sequential, n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut shape = vec![n];
    shape.extend_from_slice(model.input_shape());
    let len = shape.iter().product();
    let classes = model.output_shape().iter().product::<usize>();
    let labels: Vec<u8> = (0..n).map(|i| ((i * 7 + seed as usize) % classes) as u8).collect();
    (Tensor::new(&shape, values(len, seed)).unwrap(), to_categorical(&labels, classes).unwrap())
}

/// Runs `f` in a rayon pool of `threads` threads: the engine's kernels split a batch by the
/// pool's size, so a pool fixes how their sums are ordered.
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

/// The textbook's step: `compute_gradients` (the plain reverse loop) on a batch, and the
/// gradients it leaves, one array per `model.params()` entry.
pub fn textbook_gradients(model: &mut Sequential, x: &Tensor, y: &Tensor) -> (f64, Tensor, Vec<Vec<f32>>) {
    let (loss, probs) = model.compute_gradients(x, y).unwrap();
    (loss, probs, model.params().iter().map(|p| p.grad.to_vec()).collect())
}

/// The engine's step: a fresh plan for `model` with `algorithm` and `threads`, and the
/// gradients it computes on a batch, one array per `model.params()` entry.
pub fn plan_gradients(
    model: &mut Sequential,
    x: &Tensor,
    y: &Tensor,
    algorithm: ConvAlgorithm,
    threads: usize,
) -> (StepStats, Vec<Vec<f32>>) {
    let mut plan = Plan::new(model, algorithm, threads).unwrap();
    let (stats, grads) = plan.gradients(model, x, y).unwrap();
    (stats, grads.to_vec())
}

/// Every way the engine can compute a convolution.
pub const ALGORITHMS: [ConvAlgorithm; 4] =
    [ConvAlgorithm::Naive, ConvAlgorithm::Im2col, ConvAlgorithm::Direct, ConvAlgorithm::Auto];

/// How close the engine's plan must come to the textbook's loops: each gradient within
/// `PLAN_OF_MAX` (1e-4) times the largest gradient of its array, plus `PLAN_RTOL` (1e-3) times
/// itself. Both compute the same sums of the same f32 products, but in another order (the
/// GEMM's blocks, the direct loops' register blocks, the threads' shards added at the end) and
/// partly with fused multiply-adds, so results differ by rounding: a few units in the last
/// place of the *terms* of each sum, which is why the absolute part scales with the array's
/// largest gradient and not with the gradient itself (a sum near 0 of terms that cancel
/// carries the rounding of the terms). A fixed absolute tolerance would not do: the book's
/// model at batch 10 has gradients up to 5e-2 but half of its second convolution's below 1e-4,
/// so 1e-5 would let errors of 10% through. Measured: at most 4e-6 of the array's largest
/// gradient. A wrong index, a missing term or a wrongly folded ReLU is off by far more.
pub const PLAN_OF_MAX: f32 = 1e-4;
/// See [`PLAN_OF_MAX`].
pub const PLAN_RTOL: f32 = 1e-3;

/// Asserts that `got` holds as many arrays as `expected`, each as long, with every value within
/// `of_max · max|expected array| + rtol · |expected value|`, naming the first that is not.
#[track_caller]
pub fn assert_grads_close(what: &str, got: &[Vec<f32>], expected: &[Vec<f32>], of_max: f32, rtol: f32) {
    assert_eq!(got.len(), expected.len(), "{what}: the number of gradient arrays");
    for (i, (got, expected)) in got.iter().zip(expected).enumerate() {
        let largest = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if let Some((at, g, e)) = convnets::testing::first_mismatch(got, expected, of_max * largest, rtol) {
            panic!("{what}: gradient array {i} (largest {largest:e}), index {at}: got {g}, expected {e}");
        }
    }
}

/// Asserts that the engine's plan for `model` (its convolutions computed by `algorithm`, the
/// batch shared among `threads` threads) computes what the textbook's plain loops compute on
/// the batch `x`, `y`: the same gradients for every parameter array (within [`PLAN_OF_MAX`]
/// and [`PLAN_RTOL`]), the same loss and number of right answers, the same predictions.
/// Returns the textbook's gradients.
#[track_caller]
pub fn assert_plan_matches_textbook(
    model: &mut Sequential,
    x: &Tensor,
    y: &Tensor,
    algorithm: ConvAlgorithm,
    threads: usize,
) -> Vec<Vec<f32>> {
    let (loss, probs, expected) = textbook_gradients(model, x, y);
    let mut plan = Plan::new(model, algorithm, threads).unwrap();
    let (stats, grads) = plan.gradients(model, x, y).unwrap();
    let what = format!("the plan with {algorithm:?} on {threads} thread(s)");
    assert_grads_close(&what, grads, &expected, PLAN_OF_MAX, PLAN_RTOL);
    // The loss is a mean of logs of probabilities: rounding of the logits, relative.
    assert!((stats.loss - loss).abs() <= 1e-5 * (1.0 + loss.abs()), "{what}: loss {} vs {loss}", stats.loss);
    assert_eq!(stats.correct, convnets::metrics::count_correct(&probs, y).unwrap(), "{what}: right answers");
    let predicted = plan.predict(model, x).unwrap();
    assert_eq!(predicted.shape(), probs.shape(), "{what}: predictions");
    // Probabilities in [0, 1] from logits equal to rounding.
    convnets::testing::assert_close(predicted.data(), probs.data(), 1e-6, 1e-4);
    expected
}

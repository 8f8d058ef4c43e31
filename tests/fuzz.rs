//! The project fuzzes itself: valid IDX files (plain and gzipped), model files and pictures
//! (PNG and PGM) are mutated — bits flipped, bytes overwritten, cut short, lengthened, header
//! fields set to extreme values (0, 1, 2^31, 2^32 − 1, …), gzip streams that inflate far past
//! their header — and each mutated input goes through the loader and then, if it loads,
//! through what the command line would do with it: an IDX file becomes MNIST images or labels
//! and is evaluated by a model; a model file predicts a 28×28 digit with the textbook's
//! `Sequential::forward` and with the engine's `Plan` (and is evaluated, as `convnets
//! evaluate` does); a picture becomes an MNIST input and is classified.
//!
//! Each case must end without a panic (caught and reported with the input that caused it)
//! and within [`SLOWEST_CASE`]. Aborts (a failed allocation) cannot be caught: the loaders'
//! limits make them impossible, and a test binary that dies shows the failure anyway.
//!
//! `cargo test` runs a fixed seed and a bounded number of cases per kind (a few seconds).
//! Maintainers run more, e.g. a million per kind:
//!
//! ```console
//! CONVNETS_FUZZ_CASES=1000000 cargo test --test fuzz -- --nocapture
//! ```
//!
//! `CONVNETS_FUZZ_SEED=<n>` changes the seed; `CONVNETS_FUZZ_TRACE=1` prints each case's
//! number before running it (to find the case if the process ever dies). Every failing input
//! is written to `target/tmp/fuzz-failures/`; each one found so far is a named regression case
//! in `tests/robustness.rs`.

mod common;

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use convnets::engine::{ConvAlgorithm, Plan};
use convnets::idx::read_idx;
use convnets::limits;
use convnets::metrics::to_categorical;
use convnets::mnist::{self, images_from_idx, labels_from_idx};
use convnets::picture::{decode_image, to_mnist};
use convnets::save::{decode, encode};
use convnets::spec::LayerSpec;
use convnets::{
    Activation, AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D, Padding, Sequential, Tensor,
};
use flate2::Compression;
use flate2::write::GzEncoder;

/// The longest one case may take (load, then run), in the test profile on a busy machine.
/// The slowest cases seen take about 150 ms (a model of odd settings, run four ways).
const SLOWEST_CASE: Duration = Duration::from_secs(3);

/// Cases per kind in a plain `cargo test`.
const DEFAULT_CASES: usize = 2000;

/// The seed of a plain `cargo test`.
const DEFAULT_SEED: u64 = 0x5eed_c0de;

fn cases() -> usize {
    std::env::var("CONVNETS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

fn seed() -> u64 {
    std::env::var("CONVNETS_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SEED)
}

// ---------------------------------------------------------------------------------------------
// Random choices: SplitMix64, so a seed gives the same cases on every machine.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Values that break size arithmetic: 0, 1, small sizes, powers of two and their neighbours,
/// 2^31 and 2^32 − 1.
const EXTREMES: [u32; 20] = [
    0,
    1,
    2,
    3,
    9,
    10,
    28,
    255,
    256,
    1024,
    1025,
    65535,
    65536,
    1 << 24,
    (1 << 31) - 1,
    1 << 31,
    (1 << 31) + 1,
    u32::MAX - 1,
    u32::MAX,
    0x0100_0000 + 28,
];

fn extreme(rng: &mut Rng) -> u32 {
    if rng.percent(80) { EXTREMES[rng.below(EXTREMES.len())] } else { rng.next() as u32 }
}

/// A header field of a format: where it is, and how it is stored.
#[derive(Debug, Clone, Copy)]
struct Field {
    offset: usize,
    /// 1 or 4 bytes.
    width: usize,
    big_endian: bool,
}

/// Sets `field` of `bytes` to an extreme value (if it is still inside after earlier changes).
fn set_field(rng: &mut Rng, bytes: &mut [u8], field: Field) {
    let Some(slot) = bytes.get_mut(field.offset..field.offset + field.width) else { return };
    match field.width {
        1 => slot[0] = [0u8, 1, 2, 3, 7, 8, 0x7f, 0x80, 0xfe, 0xff][rng.below(10)],
        _ => {
            let v = extreme(rng);
            slot.copy_from_slice(&if field.big_endian { v.to_be_bytes() } else { v.to_le_bytes() });
        }
    }
}

/// One to three mutations of `base`: a header field set to an extreme value, bits flipped,
/// bytes overwritten, a cut, bytes inserted, deleted or appended.
fn mutate(rng: &mut Rng, base: &[u8], fields: &[Field]) -> Vec<u8> {
    let mut out = base.to_vec();
    // Most cases keep the length (fields, bits, bytes changed in place), so that they get
    // past the length checks to the code behind them; the others also cut, insert and delete.
    let ops = if rng.percent(60) { 5 } else { 10 };
    for _ in 0..1 + rng.below(3) {
        match rng.below(ops) {
            0..=2 if !fields.is_empty() => {
                let field = fields[rng.below(fields.len())];
                set_field(rng, &mut out, field);
            }
            0..=3 if !out.is_empty() => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(out.len());
                    out[i] ^= 1 << rng.below(8);
                }
            }
            4 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] =
                    if rng.percent(50) { [0, 1, 0x7f, 0x80, 0xff][rng.below(5)] } else { rng.next() as u8 };
            }
            0..=4 => {}
            5 => {
                // Cut short, mostly near the start where the headers are.
                let len =
                    if rng.percent(50) { rng.below(out.len().min(64) + 1) } else { rng.below(out.len() + 1) };
                out.truncate(len);
            }
            6 => {
                let at = rng.below(out.len() + 1);
                let n = 1 + rng.below(16);
                let extra = rng.bytes(n);
                out.splice(at..at, extra);
            }
            7 if !out.is_empty() => {
                let at = rng.below(out.len());
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            8 => {
                let n = 1 + rng.below(64);
                let extra = rng.bytes(n);
                out.extend(extra);
            }
            _ if !out.is_empty() => {
                // Repeat a piece of the input (a chunk, a layer, a row of pixels).
                let at = rng.below(out.len());
                let end = (at + 1 + rng.below(256)).min(out.len());
                let piece = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, piece);
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The loop shared by every kind.

/// What a case did, for the summary line.
#[derive(Default)]
struct Tally {
    loaded: usize,
    refused: usize,
    slowest: Duration,
}

/// Runs `cases()` inputs made by `make` through `run` (which returns whether the input loaded),
/// catching panics and timing each; fails with every panicking or slow input, saved to
/// `target/tmp/fuzz-failures/`.
fn fuzz(kind: &str, mut make: impl FnMut(&mut Rng) -> Vec<u8>, mut run: impl FnMut(&[u8]) -> bool) {
    let (seed, cases) = (seed(), cases());
    let trace = std::env::var_os("CONVNETS_FUZZ_TRACE").is_some();
    let mut rng = Rng(seed ^ kind.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for case in 0..cases {
        let input = make(&mut rng);
        if trace {
            eprintln!("{kind} case {case}: {} bytes", input.len());
        }
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| run(&input)));
        let took = started.elapsed();
        tally.slowest = tally.slowest.max(took);
        let problem = match outcome {
            Ok(true) => {
                tally.loaded += 1;
                None
            }
            Ok(false) => {
                tally.refused += 1;
                None
            }
            Err(panic) => Some(format!("panicked: {}", panic_message(&panic))),
        };
        let problem = problem.or_else(|| (took > SLOWEST_CASE).then(|| format!("took {took:?}")));
        if let Some(problem) = problem {
            let path = save_failure(kind, seed, case, &input);
            failures.push(format!("{kind} case {case} (seed {seed}) {problem}; input in {}", path.display()));
        }
    }
    println!(
        "{kind}: {cases} mutated inputs (seed {seed}): {} loaded and ran, {} refused with an error, \
         slowest {:.1} ms, {} failures",
        tally.loaded,
        tally.refused,
        tally.slowest.as_secs_f64() * 1000.0,
        failures.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn save_failure(kind: &str, seed: u64, case: usize, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{seed}-{case}.bin"));
    let _ = std::fs::write(&path, input);
    path
}

// ---------------------------------------------------------------------------------------------
// What the command line does with what loads.

/// A small MNIST classifier, as `convnets evaluate` would run on loaded images.
fn classifier() -> Sequential {
    common::model(&[28, 28, 1], 3).conv(2, (3, 3)).max_pool(2).flatten().softmax(10)
}

/// `n` digits of 28×28×1 and their one-hot labels.
fn digits(n: usize) -> (Tensor, Tensor) {
    common::digit_batch(n)
}

/// Runs a loaded model as the command line would, and through the API: it must run.
fn run_loaded_model(model: &mut Sequential, algorithm: ConvAlgorithm) {
    // What loaded saves again, and loads back the same.
    let bytes = encode(model).expect("a model that loads can be saved");
    let again = decode(&bytes).expect("a saved model loads");
    // (Bytes, not specs: a mutated weight may be NaN, which is not equal to itself.)
    assert_eq!(encode(&again).expect("it saves again"), bytes, "a loaded model saves as it loaded");
    let _ = model.summary();
    if mnist::check_model(model).is_ok() {
        // `convnets predict`: one digit, through the textbook's layers…
        let (x, y) = digits(3);
        let one = x.batch_range(0, 1).expect("a batch of one");
        let probs = model.forward(&one).expect("a model that loads predicts").clone();
        assert_eq!(probs.shape(), [1, 10]);
        // …and through the engine's plan, …
        let mut plan = Plan::new(model, algorithm, 1).expect("a model that loads has a plan");
        let fast = plan.predict(model, &one).expect("the plan predicts");
        assert_eq!(fast.shape(), [1, 10]);
        // …and `convnets evaluate`.
        model.evaluate(&x, &y, 2).expect("a model that loads evaluates");
    } else {
        // Another shape: run one sample of it, when that is cheap.
        let work: u64 = model
            .layer_specs()
            .ok()
            .map(|specs| {
                let mut shape = model.input_shape().to_vec();
                specs
                    .iter()
                    .map(|spec| {
                        let size = limits::spec(spec, &shape).expect("a loaded layer passes the limits");
                        shape = size.output;
                        size.work
                    })
                    .sum()
            })
            .unwrap_or(u64::MAX);
        let values = model.input_shape().iter().product::<usize>();
        if work <= 1 << 22 && values <= 1 << 16 {
            let mut shape = vec![1];
            shape.extend_from_slice(model.input_shape());
            let x = Tensor::zeros(&shape).expect("a valid input shape");
            let slow = model.forward(&x).expect("a model that loads runs").clone();
            let mut plan = Plan::new(model, algorithm, 1).expect("a model that loads has a plan");
            let fast = plan.predict(model, &x).expect("the plan runs");
            assert_eq!(slow.shape(), fast.shape());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IDX files.

/// An IDX header and values.
fn idx(code: u8, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend_from_slice(values);
    bytes
}

/// Valid IDX files: MNIST-shaped images and labels, and every other element type.
fn idx_corpus() -> Vec<Vec<u8>> {
    let mut rng = Rng(7);
    vec![
        idx(0x08, &[3, 28, 28], &rng.bytes(3 * 784)),
        idx(0x08, &[1, 28, 28], &rng.bytes(784)),
        idx(0x08, &[0, 28, 28], &[]),
        idx(0x08, &[5], &[3, 1, 4, 1, 5]),
        idx(0x08, &[0], &[]),
        idx(0x09, &[2, 3], &rng.bytes(6)),
        idx(0x0B, &[2, 2], &rng.bytes(8)),
        idx(0x0C, &[], &rng.bytes(4)),
        idx(0x0D, &[1, 2, 2], &rng.bytes(16)),
        idx(0x0E, &[2], &rng.bytes(16)),
    ]
}

/// The header fields of an IDX file: the type code, the dimension count, the dimensions.
fn idx_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields = vec![
        Field { offset: 2, width: 1, big_endian: true },
        Field { offset: 3, width: 1, big_endian: true },
    ];
    let ndims = bytes.get(3).copied().unwrap_or(0) as usize;
    fields.extend((0..ndims).map(|i| Field { offset: 4 + 4 * i, width: 4, big_endian: true }));
    fields
}

/// What the command line does with an IDX file that reads: MNIST images are evaluated by a
/// classifier; labels become one-hot targets.
fn run_idx(bytes: &[u8], model: &mut Sequential) -> bool {
    let Ok(array) = read_idx(bytes) else { return false };
    // An axis of 0 makes the array empty, however large the others are.
    let count = if array.dims.contains(&0) {
        Some(0)
    } else {
        array.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    };
    assert_eq!(count, Some(array.len()), "an array that reads holds what its dimensions say");
    let path = Path::new("fuzzed-idx");
    if let Ok(images) = images_from_idx(array.clone(), path) {
        let n = images.shape()[0];
        if n > 0 {
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            let y = to_categorical(&labels, 10).expect("digits are classes");
            model.evaluate(&images, &y, 256).expect("MNIST images evaluate");
        }
    }
    if let Ok(labels) = labels_from_idx(array, path) {
        to_categorical(&labels, 10).expect("MNIST labels are classes");
    }
    true
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

#[test]
fn fuzz_idx_plain() {
    let corpus = idx_corpus();
    let mut model = classifier();
    fuzz(
        "idx-plain",
        |rng| {
            let base = &corpus[rng.below(corpus.len())];
            mutate(rng, base, &idx_fields(base))
        },
        |bytes| run_idx(bytes, &mut model),
    );
}

#[test]
fn fuzz_idx_gzip() {
    let corpus = idx_corpus();
    // One gzip member of 1 MiB of zeros (about 1 KB): members concatenated make a small file
    // that inflates to many MiB, behind a header that announces any size.
    let zeros = gzip(&vec![0u8; 1 << 20]);
    let mut model = classifier();
    fuzz(
        "idx-gzip",
        |rng| {
            let base = &corpus[rng.below(corpus.len())];
            match rng.below(10) {
                // The IDX content mutated, then compressed (maybe in two members).
                0..=5 => {
                    let plain = mutate(rng, base, &idx_fields(base));
                    if rng.percent(20) && plain.len() > 1 {
                        let cut = 1 + rng.below(plain.len() - 1);
                        [gzip(&plain[..cut]), gzip(&plain[cut..])].concat()
                    } else {
                        gzip(&plain)
                    }
                }
                // The compressed stream itself mutated.
                6..=8 => mutate(rng, &gzip(base), &[]),
                // A small bomb: a header of any size, then up to 20 MiB of zeros.
                _ => {
                    let dims = [extreme(rng), 28, 28];
                    let mut bomb = gzip(&idx(0x08, &dims, &[]));
                    for _ in 0..rng.below(21) {
                        bomb.extend_from_slice(&zeros);
                    }
                    bomb
                }
            }
        },
        |bytes| run_idx(bytes, &mut model),
    );
}

// ---------------------------------------------------------------------------------------------
// Model files.

/// Valid model files: small MNIST classifiers with every kind of layer and setting, and one
/// model of another input shape.
fn model_corpus() -> Vec<Vec<u8>> {
    model_corpus_models().iter().map(|m| encode(m).expect("a model encodes")).collect()
}

/// The models of [`model_corpus`].
fn model_corpus_models() -> Vec<Sequential> {
    let relu = Activation::Relu;
    let softmax = || Dense::new(10).activation(Activation::Softmax);
    let models = [
        common::model(&[28, 28, 1], 1).conv(2, (3, 3)).max_pool(2).flatten().softmax(10),
        common::model(&[28, 28, 1], 2)
            .add(Conv2D::new(3, (3, 3)).strides((2, 2)).padding(Padding::Same).activation(relu))
            .add(AveragePooling2D::new((3, 3)).strides((2, 2)).padding(Padding::Same))
            .add(Conv2D::new(2, (2, 2)))
            .flatten()
            .add(softmax())
            .build(),
        common::model(&[28, 28, 1], 3).max_pool(4).flatten().dense(5).add(softmax()).build(),
        common::model(&[28, 28, 1], 4).add(Flatten::new()).add(softmax()).build(),
        common::model(&[28, 28, 1], 5)
            .add(Conv2D::new(2, (5, 1)).activation(relu))
            .add(MaxPooling2D::new((2, 2)).strides((1, 1)))
            .add(AveragePooling2D::new((2, 2)))
            .flatten()
            .add(softmax())
            .build(),
        common::model(&[9, 8, 2], 6).conv(3, (3, 2)).max_pool(2).flatten().softmax(4),
    ];
    models.into()
}

/// The fields of a model file: version, input rank and shape, layer count, and each layer's
/// tag, sizes, strides and codes (see `convnets::save`).
fn model_fields(bytes: &[u8]) -> Vec<Field> {
    let u32_at =
        |p: usize| bytes.get(p..p + 4).map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let word = |offset| Field { offset, width: 4, big_endian: false };
    let byte = |offset| Field { offset, width: 1, big_endian: false };
    let mut fields = vec![word(8), word(12)];
    let rank = u32_at(12).min(8);
    let mut pos = 16;
    fields.extend((0..rank).map(|i| word(pos + 4 * i)));
    pos += 4 * rank;
    fields.push(word(pos));
    let count = u32_at(pos).min(64);
    pos += 4;
    for _ in 0..count {
        let Some(&tag) = bytes.get(pos) else { break };
        fields.push(byte(pos));
        pos += 1;
        match tag {
            1 => {
                fields.extend((0..6).map(|i| word(pos + 4 * i)));
                let dims: Vec<usize> = (0..4).map(|i| u32_at(pos + 4 * i)).collect();
                fields.extend([byte(pos + 24), byte(pos + 25)]);
                let weights = dims.iter().fold(1usize, |a, &d| a.saturating_mul(d)).saturating_add(dims[3]);
                pos = pos.saturating_add(26).saturating_add(weights.saturating_mul(4));
            }
            2 | 3 => {
                fields.extend((0..4).map(|i| word(pos + 4 * i)));
                fields.push(byte(pos + 16));
                pos += 17;
            }
            5 => {
                fields.extend([word(pos), word(pos + 4), byte(pos + 8)]);
                let weights = u32_at(pos).saturating_mul(u32_at(pos + 4)).saturating_add(u32_at(pos + 4));
                pos = pos.saturating_add(9).saturating_add(weights.saturating_mul(4));
            }
            _ => {}
        }
    }
    fields
}

#[test]
fn fuzz_model_files() {
    let corpus = model_corpus();
    let fields: Vec<Vec<Field>> = corpus.iter().map(|b| model_fields(b)).collect();
    let algorithms =
        [ConvAlgorithm::Auto, ConvAlgorithm::Im2col, ConvAlgorithm::Direct, ConvAlgorithm::Naive];
    let mut case = 0;
    fuzz(
        "model",
        |rng| {
            let i = rng.below(corpus.len());
            mutate(rng, &corpus[i], &fields[i])
        },
        |bytes| {
            case += 1;
            let Ok(mut model) = decode(bytes) else { return false };
            run_loaded_model(&mut model, algorithms[case % algorithms.len()]);
            true
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Model files rewritten with other settings: the file stays well-formed (the weights follow
// the sizes), so the change reaches the layers' checks and, if it passes them, the loops.

/// A layer of a model file, without its weights.
#[derive(Debug, Clone)]
enum RawLayer {
    Conv {
        kernel: [u32; 4],
        strides: [u32; 2],
        padding: u8,
        activation: u8,
    },
    Pool {
        tag: u8,
        pool: [u32; 2],
        strides: [u32; 2],
        padding: u8,
    },
    Flatten,
    Dense {
        inputs: u32,
        units: u32,
        activation: u8,
    },
    /// A tag the format does not define.
    Unknown(u8),
}

#[derive(Debug, Clone)]
struct RawModel {
    input: Vec<u32>,
    layers: Vec<RawLayer>,
}

/// The most weights a rewritten layer gets; a layer that needs more is written short (and
/// so refused as truncated).
const MAX_FUZZ_WEIGHTS: u64 = 1 << 18;

fn raw_model(model: &Sequential) -> RawModel {
    let input = model.input_shape().iter().map(|&d| d as u32).collect();
    let padding = |p: Padding| u8::from(p == Padding::Same);
    let activation = |a: Activation| match a {
        Activation::Linear => 0,
        Activation::Relu => 1,
        Activation::Softmax => 2,
    };
    let layers = model
        .layer_specs()
        .unwrap()
        .into_iter()
        .map(|spec| match spec {
            LayerSpec::Conv2D { kernel, strides, padding: p, activation: a, .. } => {
                let k = kernel.shape();
                RawLayer::Conv {
                    kernel: [k[0] as u32, k[1] as u32, k[2] as u32, k[3] as u32],
                    strides: [strides.0 as u32, strides.1 as u32],
                    padding: padding(p),
                    activation: activation(a),
                }
            }
            LayerSpec::MaxPooling2D { pool, strides, padding: p }
            | LayerSpec::AveragePooling2D { pool, strides, padding: p } => RawLayer::Pool {
                tag: if matches!(spec, LayerSpec::MaxPooling2D { .. }) { 2 } else { 3 },
                pool: [pool.0 as u32, pool.1 as u32],
                strides: [strides.0 as u32, strides.1 as u32],
                padding: padding(p),
            },
            LayerSpec::Flatten => RawLayer::Flatten,
            LayerSpec::Dense { kernel, activation: a, .. } => RawLayer::Dense {
                inputs: kernel.shape()[0] as u32,
                units: kernel.shape()[1] as u32,
                activation: activation(a),
            },
        })
        .collect();
    RawModel { input, layers }
}

/// A weight: mostly small, sometimes NaN, infinite, huge or subnormal.
fn weight(rng: &mut Rng) -> f32 {
    if rng.percent(3) {
        [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -f32::MAX, 1e-45, -0.0][rng.below(7)]
    } else {
        (rng.next() % 2001) as f32 / 1000.0 - 1.0
    }
}

/// Writes `count` weights (at most [`MAX_FUZZ_WEIGHTS`]).
fn write_weights(rng: &mut Rng, out: &mut Vec<u8>, count: u64) {
    for _ in 0..count.min(MAX_FUZZ_WEIGHTS) {
        out.extend(weight(rng).to_le_bytes());
    }
}

fn write_raw(rng: &mut Rng, m: &RawModel) -> Vec<u8> {
    let mut out = convnets::save::MAGIC.to_vec();
    out.extend(1u32.to_le_bytes());
    out.extend((m.input.len() as u32).to_le_bytes());
    m.input.iter().for_each(|d| out.extend(d.to_le_bytes()));
    out.extend((m.layers.len() as u32).to_le_bytes());
    for layer in &m.layers {
        match layer {
            RawLayer::Conv { kernel, strides, padding, activation } => {
                out.push(1);
                kernel.iter().chain(strides).for_each(|v| out.extend(v.to_le_bytes()));
                out.extend([*padding, *activation]);
                let count = kernel.iter().fold(1u64, |a, &k| a.saturating_mul(u64::from(k)));
                write_weights(rng, &mut out, count);
                write_weights(rng, &mut out, u64::from(kernel[3]));
            }
            RawLayer::Pool { tag, pool, strides, padding } => {
                out.push(*tag);
                pool.iter().chain(strides).for_each(|v| out.extend(v.to_le_bytes()));
                out.push(*padding);
            }
            RawLayer::Flatten => out.push(4),
            RawLayer::Dense { inputs, units, activation } => {
                out.push(5);
                out.extend(inputs.to_le_bytes());
                out.extend(units.to_le_bytes());
                out.push(*activation);
                write_weights(rng, &mut out, u64::from(*inputs) * u64::from(*units));
                write_weights(rng, &mut out, u64::from(*units));
            }
            RawLayer::Unknown(tag) => out.push(*tag),
        }
    }
    out
}

/// The input shape of each layer, as far as the layers' rules give one.
fn raw_shapes(m: &RawModel) -> Vec<Option<Vec<usize>>> {
    let mut shape = Some(m.input.iter().map(|&d| d as usize).collect::<Vec<_>>());
    let mut shapes = Vec::new();
    for layer in &m.layers {
        shapes.push(shape.clone());
        shape = shape.and_then(|s| {
            let size = match layer {
                RawLayer::Conv { kernel, strides, padding, .. } => limits::conv2d(
                    &s,
                    &kernel.map(|k| k as usize),
                    (strides[0] as usize, strides[1] as usize),
                    if *padding == 1 { Padding::Same } else { Padding::Valid },
                ),
                RawLayer::Pool { tag, pool, strides, padding } => limits::pool(
                    if *tag == 2 { "MaxPooling2D" } else { "AveragePooling2D" },
                    &s,
                    (pool[0] as usize, pool[1] as usize),
                    (strides[0] as usize, strides[1] as usize),
                    if *padding == 1 { Padding::Same } else { Padding::Valid },
                ),
                RawLayer::Flatten => limits::flatten(&s),
                RawLayer::Dense { inputs, units, .. } => {
                    limits::dense(&s, &[*inputs as usize, *units as usize])
                }
                RawLayer::Unknown(_) => return None,
            };
            size.ok().map(|size| size.output)
        });
    }
    shapes
}

/// Sets each layer's input size (a convolution's channels, a dense layer's inputs) to what
/// the layer before gives, where that is known: so that a changed setting is not simply
/// refused for a mismatch further on.
fn repair(m: &mut RawModel) {
    for i in 0..m.layers.len() {
        let shape = raw_shapes(m).swap_remove(i);
        match (&mut m.layers[i], shape.as_deref()) {
            (RawLayer::Conv { kernel, .. }, Some(&[_, _, c])) => kernel[2] = c as u32,
            (RawLayer::Dense { inputs, .. }, Some(&[n])) => *inputs = n as u32,
            _ => {}
        }
    }
}

/// A small layer of any kind, with random settings.
fn random_layer(rng: &mut Rng) -> RawLayer {
    let small = |rng: &mut Rng| 1 + rng.below(4) as u32;
    match rng.below(5) {
        0 => RawLayer::Conv {
            kernel: [small(rng), small(rng), small(rng), small(rng)],
            strides: [small(rng), small(rng)],
            padding: rng.below(2) as u8,
            activation: rng.below(3) as u8,
        },
        1 | 2 => RawLayer::Pool {
            tag: 2 + rng.below(2) as u8,
            pool: [small(rng), small(rng)],
            strides: [small(rng), small(rng)],
            padding: rng.below(2) as u8,
        },
        3 => RawLayer::Flatten,
        _ => RawLayer::Dense {
            inputs: small(rng),
            units: 1 + rng.below(12) as u32,
            activation: rng.below(3) as u8,
        },
    }
}

/// A size for a setting: an extreme, or a small number.
fn size(rng: &mut Rng) -> u32 {
    if rng.percent(50) { extreme(rng) } else { rng.below(40) as u32 }
}

/// One to three changes of a model's settings or layers.
fn mutate_raw(rng: &mut Rng, base: &RawModel) -> RawModel {
    let mut m = base.clone();
    for _ in 0..1 + rng.below(3) {
        let n = m.layers.len();
        match rng.below(10) {
            0..=4 if n > 0 => {
                let code =
                    |rng: &mut Rng| if rng.percent(80) { rng.below(3) as u8 } else { rng.next() as u8 };
                match &mut m.layers[rng.below(n)] {
                    RawLayer::Conv { kernel, strides, padding, activation } => match rng.below(8) {
                        0..=3 => kernel[rng.below(4)] = size(rng),
                        4 | 5 => strides[rng.below(2)] = size(rng),
                        6 => *padding = code(rng),
                        _ => *activation = code(rng),
                    },
                    RawLayer::Pool { tag, pool, strides, padding } => match rng.below(7) {
                        0..=2 => pool[rng.below(2)] = size(rng),
                        3 | 4 => strides[rng.below(2)] = size(rng),
                        5 => *padding = code(rng),
                        _ => *tag = 5 - *tag,
                    },
                    RawLayer::Dense { inputs, units, activation } => match rng.below(3) {
                        0 => *inputs = size(rng),
                        1 => *units = size(rng),
                        _ => *activation = code(rng),
                    },
                    RawLayer::Flatten | RawLayer::Unknown(_) => {}
                }
            }
            5 => {
                let i = rng.below(m.input.len() + 1);
                match rng.below(3) {
                    0 if i < m.input.len() => m.input[i] = size(rng),
                    1 if m.input.len() < 9 => m.input.insert(i, size(rng)),
                    _ if i < m.input.len() => {
                        m.input.remove(i);
                    }
                    _ => {}
                }
            }
            6 if n > 0 => {
                m.layers.remove(rng.below(n));
            }
            7 if n > 0 => {
                let layer = m.layers[rng.below(n)].clone();
                m.layers.insert(rng.below(n + 1), layer);
            }
            8 => {
                let layer =
                    if rng.percent(5) { RawLayer::Unknown(rng.next() as u8) } else { random_layer(rng) };
                m.layers.insert(rng.below(n + 1), layer);
            }
            _ if n > 1 => {
                let (a, b) = (rng.below(n), rng.below(n));
                m.layers.swap(a, b);
            }
            _ => {}
        }
    }
    if rng.percent(70) {
        repair(&mut m);
    }
    m
}

#[test]
fn fuzz_model_settings() {
    let models: Vec<RawModel> = model_corpus_models().iter().map(raw_model).collect();
    let algorithms =
        [ConvAlgorithm::Auto, ConvAlgorithm::Im2col, ConvAlgorithm::Direct, ConvAlgorithm::Naive];
    let mut case = 0;
    fuzz(
        "model-settings",
        |rng| {
            let base = &models[rng.below(models.len())];
            let m = mutate_raw(rng, base);
            let bytes = write_raw(rng, &m);
            if rng.percent(15) { mutate(rng, &bytes, &model_fields(&bytes)) } else { bytes }
        },
        |bytes| {
            case += 1;
            let Ok(mut model) = decode(bytes) else { return false };
            run_loaded_model(&mut model, algorithms[case % algorithms.len()]);
            true
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Pictures.

fn png_bytes(width: u32, height: u32, color: png::ColorType, depth: png::BitDepth, data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if color == png::ColorType::Indexed {
        encoder.set_palette((0..16u8).flat_map(|i| [i * 16, 255 - i * 16, i * 8]).collect::<Vec<u8>>());
    }
    let mut writer = encoder.write_header().expect("a valid header");
    writer.write_image_data(data).expect("the right number of samples");
    writer.finish().expect("writing to memory");
    bytes
}

/// Valid PNG files of every colour type, several bit depths and sizes.
fn png_corpus() -> Vec<Vec<u8>> {
    use png::{BitDepth, ColorType};
    let mut rng = Rng(11);
    vec![
        png_bytes(28, 28, ColorType::Grayscale, BitDepth::Eight, &rng.bytes(784)),
        png_bytes(5, 7, ColorType::Rgb, BitDepth::Eight, &rng.bytes(5 * 7 * 3)),
        png_bytes(6, 4, ColorType::Rgba, BitDepth::Eight, &rng.bytes(6 * 4 * 4)),
        png_bytes(3, 3, ColorType::GrayscaleAlpha, BitDepth::Eight, &rng.bytes(18)),
        png_bytes(4, 2, ColorType::Grayscale, BitDepth::Sixteen, &rng.bytes(16)),
        png_bytes(9, 3, ColorType::Grayscale, BitDepth::One, &rng.bytes(2 * 3)),
        png_bytes(8, 8, ColorType::Indexed, BitDepth::Four, &(0..32).map(|i| i as u8).collect::<Vec<_>>()),
        png_bytes(40, 60, ColorType::Grayscale, BitDepth::Eight, &vec![255; 2400]),
    ]
}

/// The start of each chunk of a PNG: `(offset of its length field, its data length)`.
fn png_chunks(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let mut pos = 8;
    while let Some(len) = bytes.get(pos..pos + 4) {
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        if pos + 12 + len > bytes.len() {
            break;
        }
        chunks.push((pos, len));
        pos += 12 + len;
    }
    chunks
}

/// Recomputes the CRC of every whole chunk, so that mutations reach past the checksum.
fn fix_png_crcs(bytes: &mut [u8]) {
    for (pos, len) in png_chunks(bytes) {
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[pos + 4..pos + 8 + len]);
        bytes[pos + 8 + len..pos + 12 + len].copy_from_slice(&crc.sum().to_be_bytes());
    }
}

/// The IHDR fields (width, height, bit depth, colour type, compression, filter, interlace) and
/// every chunk's length field.
fn png_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields = vec![
        Field { offset: 16, width: 4, big_endian: true },
        Field { offset: 20, width: 4, big_endian: true },
    ];
    fields.extend((24..29).map(|offset| Field { offset, width: 1, big_endian: true }));
    fields.extend(png_chunks(bytes).iter().map(|&(pos, _)| Field {
        offset: pos,
        width: 4,
        big_endian: true,
    }));
    fields
}

/// What `convnets predict` does with a picture: read it, make it an MNIST input, classify it
/// with the textbook's layers and with the engine.
fn run_picture(bytes: &[u8], model: &mut Sequential, plan: &mut Plan) -> bool {
    let Ok(gray) = decode_image(bytes) else { return false };
    assert_eq!(gray.pixels.len(), gray.width * gray.height);
    let input = to_mnist(&gray).expect("a picture that reads becomes an MNIST input");
    assert_eq!(input.shape(), [1, 28, 28, 1]);
    let probs = model.forward(&input).expect("the classifier runs").clone();
    let fast = plan.predict(model, &input).expect("the plan runs");
    assert_eq!(probs.shape(), fast.shape());
    true
}

#[test]
fn fuzz_png() {
    let corpus = png_corpus();
    let fields: Vec<Vec<Field>> = corpus.iter().map(|b| png_fields(b)).collect();
    let mut model = classifier();
    let mut plan = Plan::new(&model, ConvAlgorithm::Auto, 1).unwrap();
    fuzz(
        "png",
        |rng| {
            let i = rng.below(corpus.len());
            let mut bytes = mutate(rng, &corpus[i], &fields[i]);
            // Mostly with valid checksums, so the mutation reaches the decoder's logic.
            if rng.percent(80) {
                fix_png_crcs(&mut bytes);
            }
            bytes
        },
        |bytes| run_picture(bytes, &mut model, &mut plan),
    );
}

/// Valid PGM files: binary 8- and 16-bit, ASCII, with comments.
fn pgm_corpus() -> Vec<Vec<u8>> {
    let mut rng = Rng(13);
    let mut p5 = b"P5\n28 28\n255\n".to_vec();
    p5.extend(rng.bytes(784));
    let mut p5_16 = b"P5 5 3 65535\n".to_vec();
    p5_16.extend(rng.bytes(30));
    let p2 = b"P2\n# a comment\n4 3\n# another\n15\n0 1 2 3\n4 5 6 7\n8 9 10 15\n".to_vec();
    let mut p5_comment = b"P5\n#c\n2 2 #x\n1\n".to_vec();
    p5_comment.extend([0, 1, 1, 0]);
    vec![p5, p5_16, p2, p5_comment]
}

/// Replaces one number of a PGM header with an extreme one, written in ASCII.
fn pgm_header_number(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    // The header's numbers: runs of digits in the first 40 bytes.
    let end = bytes.len().min(40);
    let mut runs = Vec::new();
    let mut i = 2;
    while i < end {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < end && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push(start..i);
        }
        i += 1;
    }
    let Some(run) = (!runs.is_empty()).then(|| runs[rng.below(runs.len())].clone()) else {
        return bytes.to_vec();
    };
    let texts = [
        "0",
        "1",
        "2",
        "65535",
        "65536",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "999999999999999999999999",
    ];
    let text =
        if rng.percent(70) { texts[rng.below(texts.len())].to_string() } else { extreme(rng).to_string() };
    let mut out = bytes.to_vec();
    out.splice(run, text.bytes());
    out
}

#[test]
fn fuzz_pgm() {
    let corpus = pgm_corpus();
    let mut model = classifier();
    let mut plan = Plan::new(&model, ConvAlgorithm::Auto, 1).unwrap();
    fuzz(
        "pgm",
        |rng| {
            let base = &corpus[rng.below(corpus.len())];
            let base = if rng.percent(40) { pgm_header_number(rng, base) } else { base.clone() };
            mutate(rng, &base, &[])
        },
        |bytes| run_picture(bytes, &mut model, &mut plan),
    );
}

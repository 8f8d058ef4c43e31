//! Regression cases for hostile input: models that load but could not run, sizes that would
//! hang or exhaust memory, gzip bombs. Each case from the robustness report, and each input
//! the fuzz suite (`tests/fuzz.rs`) ever caught, is a named test here with the error it must
//! give: a typed error, quickly, never a panic or an abort.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use convnets::engine::{ConvAlgorithm, Plan};
use convnets::error::{GeometryError, ModelError, ModelFileError, ModelFileProblem, ShapeError};
use convnets::idx::{IdxError, MAX_DATA_BYTES, read_idx, read_idx_file};
use convnets::init::Init;
use convnets::limits::{MAX_VALUES, MAX_WEIGHTS, MAX_WINDOW, MAX_WORK};
use convnets::mnist::{self, MnistError};
use convnets::save::{MAGIC, decode, encode};
use convnets::spec::LayerSpec;
use convnets::{
    Activation, AveragePooling2D, Conv2D, Dense, Error, Flatten, Layer, MaxPooling2D, Padding, Sequential,
    Tensor,
};
use flate2::Compression;
use flate2::write::GzEncoder;

const MAX: usize = u32::MAX as usize;

/// Runs `f`, and fails if it took longer than `limit`: refusing must be quick.
#[track_caller]
fn quickly<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}, more than {limit:?}");
    result
}

fn one_second<T>(f: impl FnOnce() -> T) -> T {
    quickly(Duration::from_secs(1), f)
}

fn temp_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("robustness-{}-{name}", std::process::id()))
}

// ---------------------------------------------------------------------------------------------
// Layers that would crash, hang or exhaust memory are refused when they are added.

/// The error of adding `layer` to a model for `input`.
fn add_error(input: &[usize], layer: impl Layer + 'static) -> Error {
    let mut model = Sequential::new(input, 0);
    match one_second(|| model.add(layer).map(|_| ())) {
        Err(e) => e,
        Ok(()) => panic!("the layer was accepted"),
    }
}

#[test]
fn dense_of_zero_units_is_refused() {
    // It used to build, then panic in `chunks_mut(0)` ("chunk size must be non-zero").
    let e = add_error(&[12], Dense::new(0));
    assert_eq!(e, Error::Model(ModelError::Zero { layer: "Dense", what: "units" }));
    assert_eq!(e.to_string(), "model error: Dense: units must be at least 1, got 0");
    let e = add_error(&[12], Dense::with_weights(Tensor::zeros(&[12, 0]).unwrap(), vec![]).unwrap());
    assert_eq!(e, Error::Model(ModelError::Zero { layer: "Dense", what: "units" }));
}

#[test]
fn conv_of_zero_filters_is_refused() {
    let e = add_error(&[28, 28, 1], Conv2D::new(0, (3, 3)));
    assert_eq!(e, Error::Model(ModelError::Zero { layer: "Conv2D", what: "filters" }));
}

#[test]
fn pool_of_one_by_u32_max_with_same_padding_is_refused() {
    // It used to load, then abort: "memory allocation of 34359738360 bytes failed".
    let pool = MaxPooling2D::new((1, MAX)).padding(Padding::Same);
    let e = add_error(&[13, 13, 32], pool);
    assert_eq!(e, Error::Geometry(GeometryError::TooLarge { what: "window", value: MAX, limit: MAX_WINDOW }));
    assert_eq!(e.to_string(), "geometry error: a window of 4294967295 is more than the limit of 1024");
    let pool = AveragePooling2D::new((1, MAX)).padding(Padding::Same);
    assert!(matches!(add_error(&[13, 13, 32], pool), Error::Geometry(GeometryError::TooLarge { .. })));
}

#[test]
fn pool_of_u32_max_squared_is_refused() {
    // It used to panic with "capacity overflow".
    for padding in [Padding::Same, Padding::Valid] {
        let e = add_error(&[13, 13, 32], MaxPooling2D::new((MAX, MAX)).padding(padding));
        assert!(matches!(e, Error::Geometry(GeometryError::TooLarge { what: "window", .. })), "{e}");
    }
}

#[test]
fn windows_and_strides_must_be_between_1_and_the_limit() {
    let input = [28, 28, 1];
    for (kernel, strides) in [((0, 3), (1, 1)), ((3, 3), (0, 1)), ((3, 3), (1, 0))] {
        let e = add_error(&input, Conv2D::new(2, kernel).strides(strides));
        assert!(matches!(e, Error::Geometry(GeometryError::Zero { .. })), "{kernel:?} {strides:?}: {e}");
    }
    let e = add_error(&input, Conv2D::new(2, (3, 3)).strides((1, MAX_WINDOW + 1)).padding(Padding::Same));
    let expected = GeometryError::TooLarge { what: "stride", value: MAX_WINDOW + 1, limit: MAX_WINDOW };
    assert_eq!(e, Error::Geometry(expected));
    // At the limit is fine.
    let mut model = Sequential::new(&input, 0);
    model.add(MaxPooling2D::new((1, MAX_WINDOW)).strides((1, MAX_WINDOW)).padding(Padding::Same)).unwrap();
    assert_eq!(model.output_shape(), [28, 1, 1]);
}

#[test]
fn zero_input_channels_are_refused() {
    // It used to hang: the loops ran over every position of an image with no values.
    let e = add_error(&[28, 28, 0], Conv2D::new(2, (3, 3)));
    let expected = ModelError::EmptyAxis { layer: "the model", what: "input", shape: vec![28, 28, 0] };
    assert_eq!(e, Error::Model(expected));
    assert!(matches!(add_error(&[0, 5], Flatten::new()), Error::Model(ModelError::EmptyAxis { .. })));
}

#[test]
fn dimensions_near_u32_max_are_refused() {
    // It used to hang for more than a minute.
    for input in [[MAX, MAX, 1], [MAX, 1, 1], [MAX - 1, 3, 2], [1 << 16, 1 << 16, 1]] {
        let e = add_error(&input, Conv2D::new(2, (3, 3)));
        assert!(
            matches!(e, Error::Model(ModelError::TooLarge { layer: "the model", limit, .. }) if limit == MAX_VALUES as u64),
            "{input:?}: {e}"
        );
    }
    // With 0 channels as well: the empty axis is found first.
    assert!(matches!(add_error(&[MAX, MAX, 0], Flatten::new()), Error::Model(ModelError::EmptyAxis { .. })));
}

#[test]
fn outputs_too_large_for_memory_are_refused_before_any_allocation() {
    // 1024 filters on a 1024×1024 image: 2^30 output values per sample.
    let e = add_error(&[1024, 1024, 1], Conv2D::new(1024, (1, 1)));
    let expected = ModelError::TooLarge {
        layer: "Conv2D",
        what: "values per sample in its output",
        count: Some(1 << 30),
        limit: MAX_VALUES as u64,
    };
    assert_eq!(e, Error::Model(expected));
    // A dense layer of 2^40 weights: refused without allocating them.
    let e = add_error(&[1 << 20], Dense::new(1 << 20));
    let expected = ModelError::TooLarge {
        layer: "Dense",
        what: "weights",
        count: Some(1 << 40),
        limit: MAX_WEIGHTS as u64,
    };
    assert_eq!(e, Error::Model(expected));
    // A patch matrix (im2col) larger than the limit, though the output is small.
    let e = add_error(&[4096, 4096, 1], Conv2D::new(1, (33, 33)).padding(Padding::Same));
    assert!(matches!(e, Error::Model(ModelError::TooLarge { layer: "Conv2D", .. })), "{e}");
}

#[test]
fn a_model_whose_forward_pass_is_too_long_is_refused() {
    // Each pooling visits 2^24 · 256 = 2^32 window positions per sample: one fits the limit,
    // a second one does not.
    let pool = || AveragePooling2D::new((1, 256)).strides((1, 1)).padding(Padding::Same);
    let mut model = Sequential::new(&[4096, 1024, 4], 0);
    model.add(pool()).unwrap();
    let e = model.add(pool()).map(|_| ()).unwrap_err();
    let expected = ModelError::TooLarge {
        layer: "the model",
        what: "multiply-adds per sample",
        count: Some(2 * MAX_WORK),
        limit: MAX_WORK,
    };
    assert_eq!(e, Error::Model(expected));
}

/// A layer that describes itself as one thing to the model and as another to the engine
/// once `lie` is set: how the plan's own checks are reached.
struct Liar {
    output: Vec<usize>,
    spec: LayerSpec,
    lie: Arc<AtomicBool>,
}

impl Layer for Liar {
    fn kind(&self) -> &'static str {
        "liar"
    }
    fn class_name(&self) -> &'static str {
        "Liar"
    }
    fn build(&mut self, _input_shape: &[usize], _init: &mut Init) -> convnets::Result<Vec<usize>> {
        Ok(self.output.clone())
    }
    fn param_count(&self) -> usize {
        0
    }
    fn forward(&mut self, _x: &Tensor) -> convnets::Result<&Tensor> {
        Err(Error::model("a liar does not compute"))
    }
    fn backward(&mut self, _dy: &Tensor) -> convnets::Result<&Tensor> {
        Err(Error::model("a liar does not compute"))
    }
    fn spec(&self) -> Option<LayerSpec> {
        self.lie.load(Ordering::Relaxed).then(|| self.spec.clone())
    }
}

/// A model `[28, 28, 1] → Liar(output) → …` whose liar then describes itself as `spec`, and
/// the plan's error for it.
fn plan_error(output: &[usize], spec: LayerSpec) -> Error {
    let lie = Arc::new(AtomicBool::new(false));
    let mut model = Sequential::new(&[28, 28, 1], 0);
    model.add(Liar { output: output.to_vec(), spec, lie: lie.clone() }).unwrap();
    lie.store(true, Ordering::Relaxed);
    match one_second(|| Plan::new(&model, ConvAlgorithm::Auto, 1)) {
        Err(e) => e,
        Ok(_) => panic!("the plan accepted the layer"),
    }
}

#[test]
fn the_plan_refuses_what_the_textbook_refuses() {
    let pool = |pool, padding| LayerSpec::MaxPooling2D { pool, strides: (1, 1), padding };
    let e = plan_error(&[28, 28, 1], pool((1, MAX), Padding::Same));
    assert!(matches!(e, Error::Geometry(GeometryError::TooLarge { what: "window", .. })), "{e}");
    let e = plan_error(&[28, 28, 1], pool((MAX, MAX), Padding::Valid));
    assert!(matches!(e, Error::Geometry(GeometryError::TooLarge { .. })), "{e}");
    let e = plan_error(&[28, 28, 1], pool((0, 2), Padding::Valid));
    assert!(matches!(e, Error::Geometry(GeometryError::Zero { .. })), "{e}");
    let dense = LayerSpec::Dense {
        kernel: Tensor::zeros(&[784, 0]).unwrap(),
        bias: vec![],
        activation: Activation::Softmax,
    };
    let mut flat = Sequential::new(&[784], 0);
    let lie = Arc::new(AtomicBool::new(false));
    flat.add(Liar { output: vec![3], spec: dense, lie: lie.clone() }).unwrap();
    lie.store(true, Ordering::Relaxed);
    let e = Plan::new(&flat, ConvAlgorithm::Auto, 1).err().unwrap();
    assert_eq!(e, Error::Model(ModelError::Zero { layer: "Dense", what: "units" }));
    let conv = LayerSpec::Conv2D {
        kernel: Tensor::zeros(&[3, 3, 1, 0]).unwrap(),
        bias: vec![],
        strides: (1, 1),
        padding: Padding::Valid,
        activation: Activation::Relu,
    };
    let e = plan_error(&[26, 26, 1], conv);
    assert_eq!(e, Error::Model(ModelError::Zero { layer: "Conv2D", what: "filters" }));
    // A layer whose description does not give the output it claimed.
    let e = plan_error(&[5, 5, 1], pool((2, 2), Padding::Valid));
    assert!(matches!(&e, Error::Shape(ShapeError::Other(m)) if m.contains("[27, 27, 1]")), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Model files: the same cases, one field of a valid file changed.

/// A model file by hand: the header for `input`, then the layers' bytes.
fn model_file(input: &[u32], layers: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend(1u32.to_le_bytes());
    bytes.extend((input.len() as u32).to_le_bytes());
    input.iter().for_each(|d| bytes.extend(d.to_le_bytes()));
    bytes.extend((layers.len() as u32).to_le_bytes());
    layers.iter().for_each(|l| bytes.extend(l));
    bytes
}

fn pool_layer(pool: (u32, u32), strides: (u32, u32), same: bool) -> Vec<u8> {
    let mut bytes = vec![2];
    [pool.0, pool.1, strides.0, strides.1].iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    bytes.push(u8::from(same));
    bytes
}

fn dense_layer(inputs: u32, units: u32) -> Vec<u8> {
    let mut bytes = vec![5];
    bytes.extend(inputs.to_le_bytes());
    bytes.extend(units.to_le_bytes());
    bytes.push(2);
    bytes.extend(vec![0; 4 * (inputs as usize * units as usize + units as usize)]);
    bytes
}

/// The problem of a file that does not load, and the layer it is in.
fn file_problem(bytes: &[u8]) -> (Option<usize>, ModelFileProblem) {
    match one_second(|| decode(bytes)) {
        Err(Error::ModelFile(ModelFileError { layer, problem, .. })) => (layer, problem),
        Err(other) => panic!("expected a model-file error, got {other}"),
        Ok(_) => panic!("the file loaded"),
    }
}

#[test]
fn a_model_file_with_a_dense_layer_of_zero_units_does_not_load() {
    let bytes = model_file(&[28, 28, 1], &[vec![4], dense_layer(784, 0)]);
    let (layer, problem) = file_problem(&bytes);
    assert_eq!(layer, Some(2));
    assert_eq!(
        problem,
        ModelFileProblem::Invalid(Box::new(Error::Model(ModelError::Zero { layer: "Dense", what: "units" })))
    );
    let message = decode(&bytes).err().unwrap().to_string();
    assert_eq!(message, "model file layer 2: model error: Dense: units must be at least 1, got 0");
}

#[test]
fn a_model_file_with_a_huge_pooling_window_does_not_load() {
    let same_pool = model_file(&[28, 28, 1], &[pool_layer((1, u32::MAX), (1, 1), true)]);
    let squared = model_file(&[28, 28, 1], &[pool_layer((u32::MAX, u32::MAX), (1, 1), true)]);
    let huge_stride = model_file(&[28, 28, 1], &[pool_layer((2, 2), (u32::MAX, 2), true)]);
    for bytes in [same_pool, squared, huge_stride] {
        let (layer, problem) = file_problem(&bytes);
        assert_eq!(layer, Some(1));
        assert!(
            matches!(&problem, ModelFileProblem::Invalid(e) if matches!(**e, Error::Geometry(GeometryError::TooLarge { .. }))),
            "{problem}"
        );
    }
}

#[test]
fn a_model_file_with_an_empty_or_huge_input_does_not_load() {
    for input in [[28, 28, 0], [u32::MAX, u32::MAX, 1], [0, 0, 0]] {
        let (layer, problem) = file_problem(&model_file(&input, &[vec![4]]));
        assert_eq!(layer, None, "{input:?}");
        assert!(matches!(problem, ModelFileProblem::Invalid(_)), "{input:?}: {problem}");
    }
    // Even with no layer at all.
    assert!(matches!(file_problem(&model_file(&[5, 0], &[])).1, ModelFileProblem::Invalid(_)));
}

#[test]
fn a_model_file_with_too_many_layers_or_dimensions_does_not_load() {
    let mut bytes = model_file(&[4], &[]);
    let at = bytes.len() - 4;
    bytes[at..].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(file_problem(&bytes).1, ModelFileProblem::TooManyLayers { count: MAX, limit: 1024 });
    // 1025 Flatten layers (one byte each) are refused by count, before any is built.
    let flattens = vec![vec![4u8]; 1025];
    assert!(matches!(file_problem(&model_file(&[4], &flattens)).1, ModelFileProblem::TooManyLayers { .. }));
    let mut rank = model_file(&[4], &[]);
    rank[12..16].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(file_problem(&rank).1, ModelFileProblem::InputRank { rank: 9, limit: 8 });
}

fn conv_layer(kernel: [u32; 4], strides: (u32, u32), same: bool, activation: u8) -> Vec<u8> {
    let mut bytes = vec![1];
    kernel.iter().chain(&[strides.0, strides.1]).for_each(|v| bytes.extend(v.to_le_bytes()));
    bytes.extend([u8::from(same), activation]);
    let weights = kernel.iter().product::<u32>() + kernel[3];
    bytes.extend(vec![0; 4 * weights as usize]);
    bytes
}

/// Found by `tests/fuzz.rs` (`model-settings`, seed 1592639710, case 1863) with the layer
/// limits switched off: an average pooling of a 16,777,244 × 3 window with `same` padding
/// loaded and then took 12.8 s for one digit (the loops visit every row of the window).
/// With the limits, the file is refused at once.
#[test]
fn fuzz_found_an_average_pool_of_16777244_by_3_same_that_ran_for_seconds() {
    let mut avg = pool_layer((16_777_244, 3), (2, 2), true);
    avg[0] = 3;
    let bytes = model_file(
        &[28, 28, 1],
        &[
            conv_layer([3, 3, 1, 3], (2, 2), true, 1),
            avg,
            conv_layer([2, 2, 3, 2], (1, 1), false, 0),
            vec![4],
            dense_layer(72, 3),
        ],
    );
    let (layer, problem) = file_problem(&bytes);
    assert_eq!(layer, Some(2));
    let expected = GeometryError::TooLarge { what: "window", value: 16_777_244, limit: MAX_WINDOW };
    assert_eq!(problem, ModelFileProblem::Invalid(Box::new(Error::Geometry(expected))));
}

#[test]
fn typed_model_file_errors_carry_their_numbers() {
    let bytes = encode(&common::tiny_convnet(&[8, 8, 1], 3, 1)).unwrap();
    let (_, problem) = file_problem(&bytes[..bytes.len() - 3]);
    assert!(
        matches!(problem, ModelFileProblem::Truncated { what: "dense bias", left: 9, needed: 12, .. }),
        "{problem}"
    );
    let mut version = bytes.clone();
    version[8] = 7;
    assert_eq!(file_problem(&version).1, ModelFileProblem::Version { found: 7, supported: 1 });
    let mut tag = bytes.clone();
    tag[32] = 9; // the first layer's tag (magic, version, rank, 3 dimensions, count: 32 bytes)
    assert_eq!(file_problem(&tag), (Some(1), ModelFileProblem::UnknownCode { what: "layer tag", code: 9 }));
    let trailing = [bytes.clone(), vec![0, 0]].concat();
    assert_eq!(file_problem(&trailing).1, ModelFileProblem::TrailingBytes { count: 2 });
}

#[test]
fn models_with_zero_or_one_output_are_refused_for_mnist() {
    // The command line used to panic at `argmax_rows(...)[0]` and `ranked[1]`.
    let one = common::model(&[28, 28, 1], 0).flatten().softmax(1);
    let e = mnist::check_model(&one).unwrap_err();
    let expected = ModelError::Classes { task: "classifying MNIST digits", expected: 10, found: vec![1] };
    assert_eq!(e, Error::Model(expected));
    assert_eq!(
        e.to_string(),
        "model error: the model outputs shape [1] per sample, but classifying MNIST digits needs 10 classes"
    );
    // A model of no layers outputs its input.
    let empty = Sequential::new(&[28, 28, 1], 0);
    assert!(matches!(mnist::check_model(&empty), Err(Error::Model(ModelError::Classes { .. }))));
    let other_input = common::tiny_convnet(&[32, 32, 1], 10, 0);
    let e = mnist::check_model(&other_input).unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::Input { ref found, .. }) if found == &[32, 32, 1]), "{e}");
    assert!(mnist::check_model(&convnets::model::book_model(0).unwrap()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// IDX files: gzip bombs and headers that announce too much.

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gzip file of an IDX `header` followed by `mib` MiB of zeros, made of concatenated
/// members of 1 MiB each (about 1 KB compressed): small to build, huge to inflate.
fn bomb(header: &[u8], mib: usize) -> Vec<u8> {
    let zeros = gzip(&vec![0; 1 << 20]);
    let mut bytes = gzip(header);
    for _ in 0..mib {
        bytes.extend_from_slice(&zeros);
    }
    bytes
}

fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, code, dims.len() as u8];
    dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
    bytes
}

#[test]
fn a_611_kb_gzip_bomb_of_600_mib_of_images_is_refused() {
    // 802,482 images of 28×28: the header's own claim, and what the stream really inflates to.
    let announced = 802_482u64 * 784;
    let bytes = bomb(&header(0x08, &[802_482, 28, 28]), 600);
    assert!((600_000..700_000).contains(&bytes.len()), "{} bytes", bytes.len());
    let path = temp_path("bomb-600MiB.gz");
    std::fs::write(&path, &bytes).unwrap();
    let limit = MAX_DATA_BYTES as u64;
    let e = quickly(Duration::from_secs(10), || read_idx_file(&path)).unwrap_err();
    assert_eq!(e, IdxError::TooLarge { announced, limit });
    assert_eq!(
        e.to_string(),
        "the IDX header announces 629145888 bytes of values, and the file holds more than the limit of 134217728"
    );
    // Through the MNIST loader, which used to go on to a 2.5 GB f32 copy and abort.
    let e = quickly(Duration::from_secs(10), || mnist::load_images(&path)).unwrap_err();
    assert!(matches!(&e, Error::Mnist(MnistError::Read { source: IdxError::TooLarge { .. }, .. })), "{e}");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_3_mb_gzip_bomb_is_refused_for_its_size_not_as_a_bad_stream() {
    // Three GiB of zeros behind a header that claims them: this used to report
    // "bad gzip stream: out of memory", blaming a valid stream.
    let bytes = bomb(&header(0x08, &[3 << 30]), 3 << 10);
    assert!((3_000_000..3_500_000).contains(&bytes.len()), "{} bytes", bytes.len());
    let e = quickly(Duration::from_secs(10), || read_idx(&bytes[..])).unwrap_err();
    assert_eq!(e, IdxError::TooLarge { announced: 3 << 30, limit: MAX_DATA_BYTES as u64 });
    assert!(!e.to_string().contains("gzip") && !e.to_string().contains("memory"), "{e}");
}

#[test]
fn a_gzip_stream_longer_than_its_header_stops_inflating_at_once() {
    // Ten values announced, a gigabyte of zeros behind them: reading stops one byte past.
    let bytes = bomb(&[header(0x08, &[10]), vec![1; 10]].concat(), 1024);
    let e = one_second(|| read_idx(&bytes[..])).unwrap_err();
    assert_eq!(e, IdxError::TrailingBytes { expected: 18 });
}

#[test]
fn a_gzip_stream_shorter_than_its_header_is_truncated() {
    // Two MiB of values announced, one MiB inflated.
    let bytes = bomb(&header(0x08, &[2 << 20]), 1);
    let e = one_second(|| read_idx(&bytes[..])).unwrap_err();
    assert_eq!(e, IdxError::Truncated { expected: 8 + (2 << 20), got: 8 + (1 << 20) });
}

#[test]
fn a_header_that_lies_about_a_short_file_is_still_truncated() {
    // Four billion values announced, ten present: the file is short, and says so.
    let bytes = [header(0x08, &[4_000_000_000]), vec![7; 10]].concat();
    let e = one_second(|| read_idx(&bytes[..])).unwrap_err();
    assert_eq!(e, IdxError::Truncated { expected: 4_000_000_008, got: 18 });
}

/// A reader that gives `bytes`, then fails as a failed allocation does.
struct OutOfMemoryAfter(Vec<u8>);

impl Read for OutOfMemoryAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::ErrorKind::OutOfMemory.into());
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
        Ok(n)
    }
}

#[test]
fn running_out_of_memory_is_named_as_such() {
    let e = read_idx(OutOfMemoryAfter(header(0x08, &[1000]))).unwrap_err();
    assert_eq!(e, IdxError::OutOfMemory { announced: 1000 });
    assert_eq!(e.to_string(), "not enough memory for the 1000 bytes of values the IDX header announces");
}

/// Found by `tests/fuzz.rs` (`idx-plain`, seed 77, case 288912): five dimensions whose
/// product overflows before the last one, 0. The reader was right (an axis of 0 makes the
/// array empty, whatever the others say); the fuzz suite's own check multiplied first.
#[test]
fn fuzz_found_an_empty_array_whose_other_dimensions_overflow() {
    let dims = [0x0ffb_e227, 0xe10c_ff1b, 0x5f9e_4ea7, 0xc83c_d379, 0];
    let array = one_second(|| read_idx(&header(0x08, &dims)[..])).unwrap();
    assert_eq!(array.dims, dims.map(|d| d as usize));
    assert!(array.is_empty());
    // As MNIST images or labels it is refused for its shape, not its size.
    let e = mnist::images_from_idx(array.clone(), Path::new("x")).unwrap_err();
    assert!(matches!(e, Error::Mnist(MnistError::NotImages { .. })), "{e}");
    let e = mnist::labels_from_idx(array, Path::new("x")).unwrap_err();
    assert!(matches!(e, Error::Mnist(MnistError::NotLabels { .. })), "{e}");
}

//! One error type for the whole crate, so every failure says what went wrong in words.
//!
//! The failures a caller may want to tell apart have variants of their own, with the numbers
//! in them: a window larger than [`MAX_WINDOW`](crate::limits::MAX_WINDOW) is
//! `Error::Geometry(GeometryError::TooLarge { what: "window", value, limit })`, a truncated
//! model file is `Error::ModelFile(ModelFileError { problem: ModelFileProblem::Truncated { .. }, .. })`.
//! Everything else is described in words (the `Other` variants).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in `convnets`.
///
/// Bad input (a shape that does not fit, a window that does not fit its input) is reported
/// through this type instead of a panic, with a message that says what was expected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A tensor's shape does not fit what an operation needs.
    #[error("shape error: {0}")]
    Shape(ShapeError),
    /// A sliding window (kernel or pool) cannot be placed on its input,
    /// e.g. a 5×5 kernel on a 3×3 input with `valid` padding, or a stride of 0.
    #[error("geometry error: {0}")]
    Geometry(GeometryError),
    /// A model was built or used in a way it does not allow: a layer of 0 units, a layer too
    /// large for the [limits](crate::limits), predicting before any layer was added, a model
    /// whose input or output does not fit the task.
    #[error("model error: {0}")]
    Model(ModelError),
    /// The training loss became NaN or infinite: the weights have diverged (try a lower
    /// learning rate) or the input holds NaN values.
    #[error(
        "the loss became {loss} at epoch {epoch}, step {step}: training stopped (try a lower learning rate, and check the input for NaN values)"
    )]
    NonFiniteLoss {
        /// The loss value (NaN or ±infinity).
        loss: f64,
        /// The epoch (from 1) in which it happened.
        epoch: usize,
        /// The step (batch, from 1) of that epoch.
        step: usize,
    },
    /// A saved model file is unreadable, truncated, of another format or version, or holds
    /// layers whose shapes do not fit together; or a model file cannot be written.
    #[error("model file {0}")]
    ModelFile(ModelFileError),
    /// A picture file cannot be read (missing, of an unknown format, truncated or corrupt, or
    /// too large), a picture cannot be written, or a drawing was asked for with impossible
    /// parameters (no tiles, a scale of 0).
    #[error("image {0}")]
    Image(ImageError),
    /// The playground's server cannot start or stopped (e.g. its port is taken).
    #[error("server error: {0}")]
    Server(String),
    /// An IDX file (the format MNIST comes in) is unreadable or malformed.
    #[error(transparent)]
    Idx(#[from] crate::idx::IdxError),
    /// The MNIST files are missing or do not hold what MNIST should.
    #[error(transparent)]
    Mnist(#[from] crate::mnist::MnistError),
}

impl Error {
    /// A shape error described in words ([`ShapeError::Other`]).
    pub fn shape(message: impl Into<String>) -> Error {
        Error::Shape(ShapeError::Other(message.into()))
    }

    /// A geometry error described in words ([`GeometryError::Other`]).
    pub fn geometry(message: impl Into<String>) -> Error {
        Error::Geometry(GeometryError::Other(message.into()))
    }

    /// A model error described in words ([`ModelError::Other`]).
    pub fn model(message: impl Into<String>) -> Error {
        Error::Model(ModelError::Other(message.into()))
    }

    /// An image error described in words ([`ImageError::Other`]).
    pub fn image(message: impl Into<String>) -> Error {
        Error::Image(ImageError::Other(message.into()))
    }
}

/// What is wrong with a tensor's shape.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// The shape's element count does not fit in a `usize`.
    #[error("shape {shape:?} has too many elements")]
    Overflow {
        /// The shape.
        shape: Vec<usize>,
    },
    /// A shape and a number of values that do not agree.
    #[error("shape {shape:?} holds {expected} values but {got} were given")]
    Length {
        /// The shape.
        shape: Vec<usize>,
        /// The values it holds.
        expected: usize,
        /// The values given.
        got: usize,
    },
    /// A batch given to a model is not made of samples of the model's input shape.
    #[error("the model expects a batch of {expected:?} samples, got shape {got:?}")]
    Input {
        /// The model's input shape, per sample.
        expected: Vec<usize>,
        /// The shape of the batch given.
        got: Vec<usize>,
    },
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

/// Why a sliding window cannot be placed on its input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// An input length, window or stride of 0.
    #[error("input length {input}, window {window} and stride {stride} must all be at least 1")]
    Zero {
        /// The input's length along the axis.
        input: usize,
        /// The window's length along the axis.
        window: usize,
        /// The stride along the axis.
        stride: usize,
    },
    /// A window longer than its input, with `valid` padding.
    #[error("a window of {window} does not fit an input of {input} with valid padding")]
    DoesNotFit {
        /// The window's length.
        window: usize,
        /// The input's length.
        input: usize,
    },
    /// A window side or a stride above [`MAX_WINDOW`](crate::limits::MAX_WINDOW).
    #[error("a {what} of {value} is more than the limit of {limit}")]
    TooLarge {
        /// `"window"` or `"stride"`.
        what: &'static str,
        /// Its length.
        value: usize,
        /// The limit.
        limit: usize,
    },
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

/// `count` in words: the number, or "more than 2^64" when it overflowed.
fn count_in_words(count: &Option<u64>) -> String {
    count.map_or_else(|| "more than 18446744073709551615".into(), |c| c.to_string())
}

/// Why a model, or a layer added to it, is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// A size that must be at least 1 is 0: the units of a `Dense` layer, the filters of a
    /// `Conv2D`.
    #[error("{layer}: {what} must be at least 1, got 0")]
    Zero {
        /// The layer's class name (or `"the model"` for its input).
        layer: &'static str,
        /// What is 0: `"units"` or `"filters"`.
        what: &'static str,
    },
    /// An input or output shape with an axis of 0: a layer would have nothing to compute
    /// (and the loops over the other axes would still run).
    #[error("{layer}: its {what} shape {shape:?} has an axis of 0")]
    EmptyAxis {
        /// The layer's class name (or `"the model"`).
        layer: &'static str,
        /// `"input"` or `"output"`.
        what: &'static str,
        /// The shape, per sample.
        shape: Vec<usize>,
    },
    /// A count above one of the [limits](crate::limits): the values a layer outputs per
    /// sample, its weights, the multiply-adds of a sample's forward pass.
    #[error("{layer}: {} {what}, more than the limit of {limit}", count_in_words(.count))]
    TooLarge {
        /// The layer's class name (or `"the model"`).
        layer: &'static str,
        /// What was counted, e.g. `"values per sample in its output"`.
        what: &'static str,
        /// The count (`None`: more than a `u64` holds).
        count: Option<u64>,
        /// The limit.
        limit: u64,
    },
    /// A model whose input shape does not fit the task (the command line's models must take
    /// 28×28×1 MNIST images).
    #[error("the model takes inputs of shape {found:?}, but {task} needs {expected:?}")]
    Input {
        /// What the model is for, e.g. `"classifying MNIST digits"`.
        task: &'static str,
        /// The input shape the task gives, per sample.
        expected: Vec<usize>,
        /// The model's input shape, per sample.
        found: Vec<usize>,
    },
    /// A model whose output does not fit the task (MNIST has 10 classes).
    #[error("the model outputs shape {found:?} per sample, but {task} needs {expected} classes")]
    Classes {
        /// What the model is for.
        task: &'static str,
        /// The number of classes the task has.
        expected: usize,
        /// The model's output shape, per sample.
        found: Vec<usize>,
    },
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

/// What is wrong with a model file, and which file and layer it is.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{}{}{problem}", path_prefix(.path), layer_prefix(.layer))]
pub struct ModelFileError {
    /// The file, when the model was read from (or written to) one.
    pub path: Option<PathBuf>,
    /// The layer (from 1) the problem is in, if it is in one.
    pub layer: Option<usize>,
    /// What is wrong.
    pub problem: ModelFileProblem,
}

fn path_prefix(path: &Option<PathBuf>) -> String {
    path.as_ref().map_or_else(String::new, |p| format!("{}: ", p.display()))
}

fn layer_prefix(layer: &Option<usize>) -> String {
    layer.map_or_else(String::new, |i| format!("layer {i}: "))
}

impl ModelFileError {
    /// A problem not tied to a file or a layer.
    pub fn new(problem: ModelFileProblem) -> ModelFileError {
        ModelFileError { path: None, layer: None, problem }
    }
}

impl From<ModelFileError> for Error {
    fn from(e: ModelFileError) -> Error {
        Error::ModelFile(e)
    }
}

/// The ways a model file can be wrong (see [`crate::save`] for the format).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelFileProblem {
    /// The file cannot be read.
    #[error("cannot read: {message}")]
    Read {
        /// What kind of I/O failure it was.
        kind: io::ErrorKind,
        /// The system's description of it.
        message: String,
    },
    /// The file cannot be written (or its temporary file renamed over it).
    #[error("cannot write: {message}")]
    Write {
        /// What kind of I/O failure it was.
        kind: io::ErrorKind,
        /// The system's description of it.
        message: String,
    },
    /// The file is larger than any model file this build reads.
    #[error("the file is {bytes} bytes long, more than the limit of {limit}")]
    TooLarge {
        /// Its length.
        bytes: u64,
        /// [`MAX_FILE_BYTES`](crate::save::MAX_FILE_BYTES).
        limit: u64,
    },
    /// The file does not start with `CONVNETS`.
    #[error("not a convnets model file (it starts with {start:?}, not \"CONVNETS\")")]
    NotAModelFile {
        /// Its first bytes.
        start: Vec<u8>,
    },
    /// A format version this build does not read.
    #[error("format version {found} is not supported (this build reads version {supported})")]
    Version {
        /// The version in the file.
        found: usize,
        /// The version this build reads.
        supported: u32,
    },
    /// An input rank above [`MAX_RANK`](crate::save::MAX_RANK).
    #[error("an input of {rank} dimensions is not a model input (at most {limit})")]
    InputRank {
        /// The rank in the file.
        rank: usize,
        /// The limit.
        limit: usize,
    },
    /// More layers than [`MAX_LAYERS`](crate::save::MAX_LAYERS).
    #[error("{count} layers, more than the limit of {limit}")]
    TooManyLayers {
        /// The layer count in the file.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The file ends before a field.
    #[error("truncated: {what} needs {needed} bytes at offset {offset} but {left} are left")]
    Truncated {
        /// The field.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Its length in bytes.
        needed: usize,
        /// The bytes left in the file.
        left: usize,
    },
    /// A field's size does not fit in a `usize`.
    #[error("{what}: the size overflows")]
    SizeOverflow {
        /// The field.
        what: &'static str,
    },
    /// A code the format does not define.
    #[error("unknown {what} {code}")]
    UnknownCode {
        /// `"layer tag"`, `"padding code"` or `"activation code"`.
        what: &'static str,
        /// The code found.
        code: u8,
    },
    /// Bytes after the last layer.
    #[error("{count} unexpected bytes after the last layer")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A number too large for the format's `u32` (when saving).
    #[error("{value} does not fit the format's u32")]
    NotU32 {
        /// The number.
        value: usize,
    },
    /// A layer the file describes cannot be built: its shapes do not fit the layer before, or
    /// it breaks one of the [limits](crate::limits).
    #[error("{0}")]
    Invalid(Box<Error>),
}

/// What is wrong with a picture, a picture file, or a drawing's parameters.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ImageError {
    /// The file cannot be read.
    #[error("{name} cannot be read: {message}")]
    Read {
        /// The file (or "data" for bytes in memory).
        name: String,
        /// What kind of I/O failure it was.
        kind: io::ErrorKind,
        /// The system's description of it.
        message: String,
    },
    /// The file cannot be written.
    #[error("{name} cannot be written: {message}")]
    Write {
        /// The file.
        name: String,
        /// What kind of I/O failure it was.
        kind: io::ErrorKind,
        /// The system's description of it.
        message: String,
    },
    /// The file is larger than any picture of at most [`MAX_PIXELS`](crate::picture::MAX_PIXELS)
    /// pixels needs.
    #[error("{name} is {bytes} bytes long, more than any picture of at most {max_pixels} pixels needs")]
    FileTooLarge {
        /// The file.
        name: String,
        /// Its length.
        bytes: u64,
        /// The pixel limit.
        max_pixels: usize,
    },
    /// The file has no bytes.
    #[error("{name} is empty")]
    Empty {
        /// The file.
        name: String,
    },
    /// A header that announces 0 pixels.
    #[error("{name} says it is {width}×{height} pixels: an empty picture")]
    NoPixels {
        /// The file.
        name: String,
        /// Announced width.
        width: usize,
        /// Announced height.
        height: usize,
    },
    /// A header that announces more than [`MAX_PIXELS`](crate::picture::MAX_PIXELS) pixels.
    #[error("{name} says it is {width}×{height} pixels, more than the limit of {limit}")]
    TooManyPixels {
        /// The file.
        name: String,
        /// Announced width.
        width: usize,
        /// Announced height.
        height: usize,
        /// The limit.
        limit: usize,
    },
    /// Neither PNG nor PGM, or a kind of them that is not read.
    #[error("{name} is {what}")]
    Format {
        /// The file.
        name: String,
        /// What it is instead, and what to do about it.
        what: String,
    },
    /// The file ends before what its header announces.
    #[error("{name} is truncated: {what}")]
    Truncated {
        /// The file.
        name: String,
        /// What is missing.
        what: String,
    },
    /// The file is damaged.
    #[error("{name} is a {what}")]
    Corrupt {
        /// The file.
        name: String,
        /// What is wrong, starting with the format: "corrupt PGM: …".
        what: String,
    },
    /// Anything else, in words (mostly impossible drawing parameters).
    #[error("{0}")]
    Other(String),
}

/// `Result` with the crate's [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;

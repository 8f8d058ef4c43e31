//! One error type for the whole crate, so every failure says what went wrong in words.

use thiserror::Error;

/// Everything that can go wrong in `convnets`.
///
/// Bad input (a shape that does not fit, a window that does not fit its input) is reported
/// through this type instead of a panic, with a message that says what was expected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A tensor's shape does not fit what an operation needs.
    #[error("shape error: {0}")]
    Shape(String),
    /// A sliding window (kernel or pool) cannot be placed on its input,
    /// e.g. a 5×5 kernel on a 3×3 input with `valid` padding, or a stride of 0.
    #[error("geometry error: {0}")]
    Geometry(String),
    /// A model was used in a way its construction does not allow
    /// (e.g. predicting before any layer was added).
    #[error("model error: {0}")]
    Model(String),
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
    /// layers whose shapes do not fit together.
    #[error("model file {0}")]
    ModelFile(String),
    /// A picture file cannot be read (missing, of an unknown format, truncated or corrupt, or
    /// too large), a picture cannot be written, or a drawing was asked for with impossible
    /// parameters (no tiles, a scale of 0).
    #[error("image {0}")]
    Image(String),
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

/// `Result` with the crate's [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;

//! # Exercises for the `convnets` book
//!
//! One file per chapter in `exercises/src/`, each a list of functions to write: the task is
//! in each function's doc comment, in the book's words, and its body is `todo!()` until you
//! replace it. The tests grade your functions against the `convnets` crate's own:
//!
//! ```console
//! $ cargo run -p exercises                        # which exercises are done, which are next
//! $ cargo test -p exercises --test convolution    # grade one chapter's exercises
//! $ cargo test -p exercises                       # grade them all
//! ```
//!
//! Reference solutions exist, in `exercises/solutions/`, out of your way: they are only
//! compiled with `--features solutions`, which is how CI proves every exercise can pass.

// Each chapter's module is the student's stubs in `src/`, or, with the `solutions` feature,
// the reference solutions in `solutions/`. A stub's parameters are unused until written;
// index loops are how the book writes its formulas.

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod introduction;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/introduction.rs"]
pub mod introduction;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod convolution;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/convolution.rs"]
pub mod convolution;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod padding;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/padding.rs"]
pub mod padding;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod strides;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/strides.rs"]
pub mod strides;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod max_pooling;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/max_pooling.rs"]
pub mod max_pooling;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod backprop;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/backprop.rs"]
pub mod backprop;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod idx;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/idx.rs"]
pub mod idx;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod training;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/training.rs"]
pub mod training;

#[cfg(not(feature = "solutions"))]
#[allow(unused_variables, clippy::needless_range_loop)]
pub mod im2col;
#[cfg(feature = "solutions")]
#[allow(clippy::needless_range_loop)]
#[path = "../solutions/im2col.rs"]
pub mod im2col;

/// The graders, shared by the tests and the progress table (not an exercise: no need to
/// read it, though nothing stops you).
#[doc(hidden)]
#[path = "../grading/mod.rs"]
pub mod grading;

/// What an IDX header says about the file it starts (see [`idx::parse_idx_header`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxHeader {
    /// The element type, from the third byte.
    pub idx_type: convnets::idx::IdxType,
    /// The size of each axis, from the big-endian `u32`s after the first four bytes.
    pub dims: Vec<usize>,
    /// Where the values start: the length of the header, `4 + 4 · dims.len()`.
    pub data_start: usize,
}

//! The engine: the textbook's arithmetic made fast.
//!
//! Nothing here changes what a layer computes, only how: im2col turns a convolution into one
//! matrix product ([`im2col`], [`gemm`]); the direct loops keep sums in registers and read
//! windows straight from the image ([`direct`]); max pooling keeps a block of channels'
//! maxima in registers ([`pool`]); the first convolution and its pooling train image by
//! image ([`fused`]); predictions compute 3×3 convolutions with fewer multiplications
//! ([`winograd`]); a batch is shared among threads ([`runs`], [`Plan`]). Each is tested
//! equal to the textbook's loops. A [`Plan`], built from a textbook model, chooses among
//! them once per `fit`; [`Sequential::fit`](crate::model::Sequential::fit) uses one.

pub mod conv;
pub mod dense;
pub mod direct;
pub mod fit;
pub mod fused;
pub mod gemm;
pub mod im2col;
pub mod isa;
pub mod plan;
pub mod pool;
pub mod runs;
pub mod winograd;

pub use conv::{ConvAlgorithm, ConvKernel};
pub use isa::Isa;
pub use plan::Plan;

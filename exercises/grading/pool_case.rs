//! Pooling cases (`valid` padding): an input, a pool size and strides, their windows, and
//! their description in words.

use std::fmt;

use convnets::Tensor;
use proptest::prelude::*;

use super::{dims, distinct, tensor, unflatten};

/// One pooling to grade.
#[derive(Clone)]
pub struct PoolCase {
    /// NHWC input.
    pub x: Tensor,
    /// `(pool_h, pool_w)`.
    pub pool: (usize, usize),
    /// `(s_h, s_w)`.
    pub strides: (usize, usize),
}

impl fmt::Debug for PoolCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for PoolCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {} input (batch×height×width×channels), {}×{} windows, strides {:?}",
            dims(self.x.shape()),
            self.pool.0,
            self.pool.1,
            self.strides
        )?;
        if self.x.len() <= 32 {
            write!(f, " (x = {:?})", self.x.data())?;
        }
        Ok(())
    }
}

impl PoolCase {
    /// A case from its parts.
    pub fn new(x: Tensor, pool: (usize, usize), strides: (usize, usize)) -> PoolCase {
        PoolCase { x, pool, strides }
    }

    /// The output shape `[batch, out_h, out_w, channels]`.
    pub fn output_shape(&self) -> Vec<usize> {
        let [n, h, w, c] = self.x.shape()[..] else { unreachable!("NHWC") };
        vec![n, (h - self.pool.0) / self.strides.0 + 1, (w - self.pool.1) / self.strides.1 + 1, c]
    }

    /// The flat input positions of output `o`'s window, in row-major order.
    pub fn window(&self, o: usize) -> Vec<usize> {
        let [_, h, w, c] = self.x.shape()[..] else { unreachable!("NHWC") };
        let [n, oh, ow, ch] = unflatten(&self.output_shape(), o)[..] else { unreachable!("NHWC") };
        let mut cells = Vec::new();
        for ph in 0..self.pool.0 {
            for pw in 0..self.pool.1 {
                let (ih, iw) = (oh * self.strides.0 + ph, ow * self.strides.1 + pw);
                cells.push(((n * h + ih) * w + iw) * c + ch);
            }
        }
        cells
    }

    /// Output `o`'s window in words, with its values.
    pub fn describe_window(&self, o: usize) -> String {
        let [n, oh, ow, ch] = unflatten(&self.output_shape(), o)[..] else { unreachable!("NHWC") };
        let (r0, c0) = (oh * self.strides.0, ow * self.strides.1);
        let values: Vec<f32> = self.window(o).iter().map(|&p| self.x.data()[p]).collect();
        format!(
            "the window of image {n}, channel {ch}, rows {r0}..{} and columns {c0}..{} (output row {oh}, column {ow}), \
             holding {values:?} in row-major order",
            r0 + self.pool.0,
            c0 + self.pool.1
        )
    }

    /// A flat input position in words.
    pub fn input_at(&self, p: usize) -> String {
        super::nhwc_at(self.x.shape(), p)
    }
}

/// Pooling shapes: batch 1–2, sides 1–7, 1–3 channels, pools 1–3 (rectangular too, at most
/// the side), strides 1–3 (smaller than the pool: overlapping windows; larger: skipped rows).
fn shapes() -> impl Strategy<Value = (usize, usize, usize, usize, (usize, usize), (usize, usize))> {
    (1..=2usize, 1..=7usize, 1..=7usize, 1..=3usize, (1..=3usize, 1..=3usize), (1..=3usize, 1..=3usize))
        .prop_map(|(n, h, w, c, (ph, pw), s)| (n, h, w, c, (ph.min(h), pw.min(w)), s))
}

/// Pooling cases whose values are all distinct (no ties), negative and positive.
pub fn distinct_cases() -> BoxedStrategy<PoolCase> {
    shapes()
        .prop_flat_map(|(n, h, w, c, pool, s)| {
            distinct(n * h * w * c).prop_map(move |x| PoolCase::new(tensor(&[n, h, w, c], x), pool, s))
        })
        .boxed()
}

/// Pooling cases of small whole numbers 0–2: ties in most windows.
pub fn tied_cases() -> BoxedStrategy<PoolCase> {
    shapes()
        .prop_flat_map(|(n, h, w, c, pool, s)| {
            proptest::collection::vec((0..3i32).prop_map(|v| v as f32), n * h * w * c)
                .prop_map(move |x| PoolCase::new(tensor(&[n, h, w, c], x), pool, s))
        })
        .boxed()
}

/// The pooling chapter's inputs: the 4×4 `arange` image; two channels of opposite sign; an
/// 11×11 map of zeros (ties everywhere, odd size); the ties `3 3 / 3 1` and `1 3 / 3 3`;
/// overlapping windows (stride 1) and a stride larger than the pool.
pub fn book_cases() -> Vec<PoolCase> {
    let two = (2, 2);
    let mut opposite = vec![0.0; 32];
    for p in 0..16 {
        opposite[2 * p] = p as f32;
        opposite[2 * p + 1] = -(p as f32);
    }
    let wave: Vec<f32> = (0..30).map(|i| ((i * 7) % 30) as f32 * 0.5 - 6.0).collect();
    vec![
        PoolCase::new(Tensor::arange(&[1, 4, 4, 1]).expect("small"), two, two),
        PoolCase::new(tensor(&[1, 4, 4, 2], opposite), two, two),
        PoolCase::new(tensor(&[1, 2, 2, 1], vec![3.0, 3.0, 3.0, 1.0]), two, two),
        PoolCase::new(tensor(&[1, 2, 2, 1], vec![1.0, 3.0, 3.0, 3.0]), two, two),
        PoolCase::new(Tensor::zeros(&[1, 11, 11, 1]).expect("small"), two, two),
        PoolCase::new(tensor(&[1, 5, 6, 1], wave.clone()), two, (1, 1)),
        PoolCase::new(tensor(&[1, 5, 6, 1], wave), two, (3, 3)),
    ]
}

//! A tensor is a shape and a flat `Vec<f32>` in row-major order: the last axis varies fastest.
//!
//! Images are NHWC, `(batch, height, width, channels)`, as Keras stores them (`channels_last`),
//! so element `(n, h, w, c)` lives at `((n * H + h) * W + w) * C + c`.

use crate::error::{Error, Result, ShapeError};

/// An n-dimensional array of `f32`: a shape and the values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// Wraps `data` in a tensor of the given shape.
    ///
    /// Fails if the shape's element count is not `data.len()`.
    pub fn new(shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        let expected = element_count(shape)?;
        if expected != data.len() {
            return Err(Error::Shape(ShapeError::Length {
                shape: shape.to_vec(),
                expected,
                got: data.len(),
            }));
        }
        Ok(Tensor { shape: shape.to_vec(), data })
    }

    /// A tensor of the given shape filled with zeros.
    pub fn zeros(shape: &[usize]) -> Result<Tensor> {
        let len = element_count(shape)?;
        Ok(Tensor { shape: shape.to_vec(), data: vec![0.0; len] })
    }

    /// The values `0, 1, 2, …` laid out in the given shape: handy for hand-checkable examples.
    pub fn arange(shape: &[usize]) -> Result<Tensor> {
        let len = element_count(shape)?;
        Ok(Tensor { shape: shape.to_vec(), data: (0..len).map(|i| i as f32).collect() })
    }

    /// Gives this tensor a new shape, keeping its allocation (growing it when needed), so a
    /// layer can reuse its output buffer from one batch to the next instead of asking the
    /// operating system for fresh memory each step. The values are leftovers: the caller
    /// must write every one (use [`Tensor::reuse_as_zeros`] otherwise).
    pub fn reuse_as(&mut self, shape: &[usize]) -> Result<()> {
        let len = element_count(shape)?;
        self.data.resize(len, 0.0);
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        Ok(())
    }

    /// Like [`Tensor::reuse_as`], with every value set to 0 (for buffers that are added into).
    pub fn reuse_as_zeros(&mut self, shape: &[usize]) -> Result<()> {
        self.reuse_as(shape)?;
        self.data.fill(0.0);
        Ok(())
    }

    /// Makes this tensor a copy of `other`, reusing its allocation.
    pub fn copy_from(&mut self, other: &Tensor) {
        self.shape.clone_from(&other.shape);
        self.data.clone_from(&other.data);
    }

    /// The size of each axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values in row-major order.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values in row-major order, for writing.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Gives up the tensor and returns its values.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The same values seen with another shape of the same element count.
    pub fn reshape(self, shape: &[usize]) -> Result<Tensor> {
        Tensor::new(shape, self.data)
    }

    /// The value at a multi-dimensional index, or `None` if the index is outside the shape.
    pub fn get(&self, index: &[usize]) -> Option<f32> {
        self.offset(index).map(|i| self.data[i])
    }

    /// The flat position of a multi-dimensional index, or `None` if it is outside the shape.
    pub fn offset(&self, index: &[usize]) -> Option<usize> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut offset = 0;
        for (&i, &n) in index.iter().zip(&self.shape) {
            if i >= n {
                return None;
            }
            offset = offset * n + i;
        }
        Some(offset)
    }

    /// Checks that this is a 4-D NHWC tensor and returns `(n, h, w, c)`.
    pub fn nhwc(&self) -> Result<(usize, usize, usize, usize)> {
        match self.shape[..] {
            [n, h, w, c] => Ok((n, h, w, c)),
            _ => Err(Error::shape(format!(
                "expected a 4-D (batch, height, width, channels) tensor, got shape {:?}",
                self.shape
            ))),
        }
    }

    /// The samples `start..end` along the first (batch) axis.
    pub fn batch_range(&self, start: usize, end: usize) -> Result<Tensor> {
        let mut out = Tensor::default();
        self.batch_range_into(start, end, &mut out)?;
        Ok(out)
    }

    /// [`Tensor::batch_range`] into `out`, reusing its memory.
    pub fn batch_range_into(&self, start: usize, end: usize, out: &mut Tensor) -> Result<()> {
        let batch = self.shape.first().copied().unwrap_or(0);
        if start > end || end > batch {
            return Err(Error::shape(format!("batch range {start}..{end} is outside a batch of {batch}")));
        }
        let per_sample = element_count(self.shape.get(1..).unwrap_or(&[]))?;
        out.data.clear();
        out.data.extend_from_slice(&self.data[start * per_sample..end * per_sample]);
        out.shape.clone_from(&self.shape);
        out.shape[0] = end - start;
        Ok(())
    }

    /// The samples at `indices` (along the batch axis), in that order: how a shuffled
    /// mini-batch is gathered.
    pub fn gather(&self, indices: &[usize]) -> Result<Tensor> {
        let mut out = Tensor::default();
        self.gather_into(indices, &mut out)?;
        Ok(out)
    }

    /// [`Tensor::gather`] into `out`, reusing its memory (training gathers every batch).
    pub fn gather_into(&self, indices: &[usize], out: &mut Tensor) -> Result<()> {
        let batch = self.shape.first().copied().unwrap_or(0);
        let per_sample = element_count(self.shape.get(1..).unwrap_or(&[]))?;
        out.data.clear();
        for &i in indices {
            if i >= batch {
                return Err(Error::shape(format!("sample {i} is outside a batch of {batch}")));
            }
            out.data.extend_from_slice(&self.data[i * per_sample..(i + 1) * per_sample]);
        }
        out.shape.clone_from(&self.shape);
        if let Some(n) = out.shape.first_mut() {
            *n = indices.len();
        }
        Ok(())
    }

    /// Stacks tensors of the same per-sample shape along the batch axis.
    pub fn concat_batch(parts: &[Tensor]) -> Result<Tensor> {
        let first = parts.first().ok_or_else(|| Error::shape("cannot concatenate zero tensors"))?;
        let mut shape = first.shape.clone();
        shape[0] = 0;
        let mut data = Vec::new();
        for part in parts {
            if part.shape.len() != shape.len() || part.shape[1..] != shape[1..] {
                return Err(Error::shape(format!(
                    "cannot concatenate shape {:?} with shape {:?}",
                    first.shape, part.shape
                )));
            }
            shape[0] += part.shape[0];
            data.extend_from_slice(&part.data);
        }
        Tensor::new(&shape, data)
    }
}

impl Default for Tensor {
    /// An empty tensor of shape `[0]`: a buffer waiting for its first use.
    fn default() -> Tensor {
        Tensor { shape: vec![0], data: Vec::new() }
    }
}

/// The number of values a shape holds, or an error if that number overflows `usize`.
pub fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| Error::Shape(ShapeError::Overflow { shape: shape.to_vec() }))
}

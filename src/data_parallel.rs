//! Data-parallel training: each thread runs its own copy of the model on its share of the
//! batch.
//!
//! A training step needs the gradient of the batch's mean loss, and that is the mean of the
//! samples' gradients: so the batch can be cut into *shards*, one per thread, each shard's
//! gradient computed on its own, and the results added up, weighted by the shards' sizes.
//! Each thread trains its own copy of the model (a *replica*), so the threads meet once per
//! step: at the end, to add up their gradients. (The layers are parallel on their own too,
//! but then the threads meet twice per layer, and on a small model those meetings, and the
//! waiting for the slower thread at each, cost as much as a layer.)
//!
//! The shards' gradients are added in thread order, so a given thread count always gives the
//! same bits. After the optimiser has updated the model, the replicas get its new weights.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::layer::Param;
use crate::metrics::count_correct;
use crate::model::Sequential;
use crate::optim::RmsProp;
use crate::tensor::Tensor;

/// The replicas and buffers that train a model on several threads; see the module docs.
pub struct DataParallel {
    /// Copies of the model for the second, third, … thread; the model itself is the first.
    replicas: Vec<Sequential>,
    /// One per thread, in thread order.
    shards: Vec<Shard>,
}

/// One thread's share of a step.
#[derive(Default)]
struct Shard {
    /// The shard's inputs and targets.
    x: Tensor,
    y: Tensor,
    /// The shard's gradients, one array per parameter array of the model, weighted by the
    /// shard's share of the batch: summed over the shards, they are the batch's gradients.
    grads: Vec<Vec<f32>>,
    /// The sum of the shard's per-sample losses.
    loss_sum: f64,
    /// How many of the shard's samples the model classified correctly.
    correct: usize,
}

/// The loss and accuracy numbers of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The mean loss over the batch.
    pub loss: f64,
    /// How many samples of the batch the model classified correctly.
    pub correct: usize,
}

impl DataParallel {
    /// Prepares to train `model` on `threads` threads (at least 1). A model that cannot be
    /// copied (it has a layer without [`clone_layer`](crate::layer::Layer::clone_layer))
    /// trains as one replica, with only its layers' own parallelism.
    pub fn new(model: &Sequential, threads: usize) -> DataParallel {
        let replicas: Vec<Sequential> =
            (1..threads.max(1)).map(|_| model.replicate()).collect::<Option<_>>().unwrap_or_default();
        let shards = (0..=replicas.len()).map(|_| Shard::default()).collect();
        DataParallel { replicas, shards }
    }

    /// The number of model copies (and so of shards) a step uses.
    pub fn threads(&self) -> usize {
        self.shards.len()
    }

    /// Computes the gradients of `model`'s mean loss on the batch `x` with one-hot targets
    /// `y`, keeping them for [`DataParallel::apply`]. `model` must be the model this was made
    /// for, with the weights of the last `apply`.
    pub fn compute_gradients(&mut self, model: &mut Sequential, x: &Tensor, y: &Tensor) -> Result<StepStats> {
        let n = x.shape().first().copied().unwrap_or(0);
        if n == 0 || y.shape().first() != Some(&n) {
            return Err(Error::Shape(format!(
                "a step needs a non-empty batch with one target per sample, got {:?} and {:?}",
                x.shape(),
                y.shape()
            )));
        }
        let per_shard = n.div_ceil(self.threads());
        let models = std::iter::once(model).chain(self.replicas.iter_mut());
        let work: Vec<_> = models.zip(self.shards.iter_mut()).enumerate().collect();
        work.into_par_iter().try_for_each(|(i, (model, shard))| {
            shard.run(model, x, y, (i * per_shard).min(n)..((i + 1) * per_shard).min(n))
        })?;
        // Add the shards up in thread order, so the result does not depend on timing.
        let (first, rest) = self.shards.split_first_mut().ok_or_else(|| Error::Model("no shards".into()))?;
        for shard in rest {
            for (sum, grad) in first.grads.iter_mut().zip(&shard.grads) {
                sum.iter_mut().zip(grad).for_each(|(s, g)| *s += g);
            }
            first.loss_sum += shard.loss_sum;
            first.correct += shard.correct;
        }
        Ok(StepStats { loss: first.loss_sum / n as f64, correct: first.correct })
    }

    /// The gradients of the last [`DataParallel::compute_gradients`], one array per
    /// parameter array of the model, in the order of [`Sequential::params`].
    pub fn gradients(&self) -> &[Vec<f32>] {
        self.shards.first().map_or(&[], |shard| &shard.grads)
    }

    /// Lets `optimizer` update `model`'s weights with the gradients of the last
    /// [`DataParallel::compute_gradients`], then copies the new weights to the replicas.
    pub fn apply(&mut self, model: &mut Sequential, optimizer: &mut RmsProp) -> Result<()> {
        let grads = self.shards.first().map_or(&[][..], |shard| &shard.grads);
        let params = model.params();
        if params.len() != grads.len() {
            return Err(Error::Model(format!(
                "the model has {} parameter arrays but there are gradients for {}: \
                 call compute_gradients first",
                params.len(),
                grads.len()
            )));
        }
        let params = params.into_iter().zip(grads).map(|(p, grad)| Param { value: p.value, grad });
        optimizer.step(params.collect())?;
        for replica in &mut self.replicas {
            for (copy, original) in replica.params().into_iter().zip(model.params()) {
                copy.value.copy_from_slice(original.value);
            }
        }
        Ok(())
    }
}

impl Shard {
    /// Computes the gradients of the batch's `samples` (of `x.shape()[0]`) on `model`,
    /// weighted by their share of the batch, with their losses and correct predictions.
    fn run(&mut self, model: &mut Sequential, x: &Tensor, y: &Tensor, samples: Range<usize>) -> Result<()> {
        (self.loss_sum, self.correct) = (0.0, 0);
        if samples.is_empty() {
            // A batch smaller than the thread count leaves this shard empty: zero gradients.
            let params = model.params();
            self.grads.resize_with(params.len(), Vec::new);
            for (sum, p) in self.grads.iter_mut().zip(params) {
                sum.clear();
                sum.resize(p.value.len(), 0.0);
            }
            return Ok(());
        }
        x.batch_range_into(samples.start, samples.end, &mut self.x)?;
        y.batch_range_into(samples.start, samples.end, &mut self.y)?;
        // compute_gradients averages over the shard; weighting by the shard's share of the
        // batch turns the sum over shards into the batch's average.
        let (loss, probs) = model.compute_gradients(&self.x, &self.y)?;
        let share = samples.len() as f32 / x.shape()[0] as f32;
        let params = model.params();
        self.grads.resize_with(params.len(), Vec::new);
        for (sum, p) in self.grads.iter_mut().zip(params) {
            sum.clear();
            sum.extend(p.grad.iter().map(|g| share * g));
        }
        self.loss_sum = loss * samples.len() as f64;
        self.correct = count_correct(&probs, &self.y)?;
        Ok(())
    }
}

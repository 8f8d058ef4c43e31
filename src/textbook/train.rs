//! Training and evaluation: Keras's `fit` and `evaluate` for a [`Sequential`] model.
//!
//! The loop over epochs and batches is written once, here. What happens inside one step
//! (the gradients of a batch, and the optimiser's update) is a [`Trainer`]'s job:
//! [`PlainLoops`] runs the model's own layers forward and back, as the backprop chapter shows;
//! the engine's [`Plan`](crate::engine::Plan) computes the same gradients faster, and is what
//! [`Sequential::fit`] uses.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::metrics::count_correct;
use crate::model::Sequential;
use crate::optim::RmsProp;
use crate::tensor::Tensor;

/// How to train: `model.fit(x, y, epochs=5, batch_size=64)` in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitOptions {
    /// Passes over the whole training set.
    pub epochs: usize,
    /// Samples per gradient step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Seeds the shuffling, so a run can be repeated exactly.
    pub seed: u64,
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions { epochs: 5, batch_size: 64, seed: 0 }
    }
}

/// Where training is, reported after every step (for a progress bar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// The current epoch, from 1.
    pub epoch: usize,
    /// The number of epochs.
    pub epochs: usize,
    /// Steps done in this epoch, from 1.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Mean loss over the samples of this epoch so far.
    pub loss: f64,
    /// Accuracy over the samples of this epoch so far.
    pub accuracy: f64,
}

/// The mean training loss and accuracy of every epoch, as Keras's `History.history`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// `history['loss']`: one value per epoch.
    pub loss: Vec<f64>,
    /// `history['accuracy']`: one value per epoch.
    pub accuracy: Vec<f64>,
    /// `history['val_loss']`: the loss on the validation data after each epoch (empty
    /// without validation data).
    pub val_loss: Vec<f64>,
    /// `history['val_accuracy']`, likewise.
    pub val_accuracy: Vec<f64>,
}

/// What [`Sequential::fit_with`] adds to [`Sequential::fit`], as Keras's `validation_data=`
/// and its image data generators.
#[derive(Default)]
pub struct FitExtras<'a> {
    /// Images and one-hot labels to evaluate after every epoch (never trained on).
    pub validation: Option<(&'a Tensor, &'a Tensor)>,
    /// Changes every training batch before the step, given the batch, the epoch (from 1)
    /// and the step (from 0): random transformations for data augmentation
    /// ([`crate::augment::augmenter`]).
    pub transform: Option<BatchTransform<'a>>,
}

/// A change made to every training batch: see [`FitExtras::transform`].
pub type BatchTransform<'a> = Box<dyn Fn(&Tensor, usize, usize) -> Result<Tensor> + 'a>;

/// The loss and accuracy numbers of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The mean loss over the batch.
    pub loss: f64,
    /// How many samples of the batch the model classified correctly.
    pub correct: usize,
}

/// How one training step is computed: the gradients of a batch's mean loss, then the
/// optimiser's update of the model's weights.
pub trait Trainer {
    /// Computes the gradients of `model`'s mean cross-entropy on inputs `x` with one-hot
    /// targets `y`, and lets `optimizer` update the model's weights with them.
    fn step(
        &mut self,
        model: &mut Sequential,
        x: &Tensor,
        y: &Tensor,
        optimizer: &mut RmsProp,
    ) -> Result<StepStats>;

    /// The model's mean loss on the batch `x` with one-hot targets `y` (computed as Keras
    /// does: from the logits when the model ends in a softmax), and its outputs.
    fn evaluate_batch(&mut self, model: &mut Sequential, x: &Tensor, y: &Tensor) -> Result<(f64, Tensor)>;
}

// ANCHOR: plain_loops
/// The textbook's training step: the model's own layers, forward and then back in reverse
/// order ([`Sequential::compute_gradients`]), then one optimiser step.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainLoops;

impl Trainer for PlainLoops {
    fn step(
        &mut self,
        model: &mut Sequential,
        x: &Tensor,
        y: &Tensor,
        optimizer: &mut RmsProp,
    ) -> Result<StepStats> {
        let (loss, probs) = model.compute_gradients(x, y)?;
        let correct = count_correct(&probs, y)?;
        optimizer.step(model.params())?;
        Ok(StepStats { loss, correct })
    }

    fn evaluate_batch(&mut self, model: &mut Sequential, x: &Tensor, y: &Tensor) -> Result<(f64, Tensor)> {
        let probs = model.forward(x)?.clone();
        Ok((model.loss_of_last_forward(&probs, y)?, probs))
    }
}
// ANCHOR_END: plain_loops

/// The number of samples in a batch tensor, checking `x` and one-hot `y` agree.
fn sample_count(x: &Tensor, y: &Tensor) -> Result<usize> {
    let (n, m) = (x.shape().first().copied().unwrap_or(0), y.shape().first().copied().unwrap_or(0));
    if n != m {
        return Err(Error::shape(format!("{n} inputs but {m} targets")));
    }
    Ok(n)
}

impl Sequential {
    // ANCHOR: fit
    /// Trains on inputs `x` and one-hot targets `y` with mini-batch gradient descent:
    /// every epoch shuffles the samples, then for each batch computes the gradients and
    /// lets the optimiser take a step. `on_step` hears about every step.
    ///
    /// Stops with [`Error::NonFiniteLoss`] as soon as a batch's loss is NaN or infinite.
    ///
    /// `trainer` computes each step: [`PlainLoops`] for the textbook's own layers, or the
    /// engine's faster [`Plan`](crate::engine::Plan) ([`Sequential::fit`] uses the latter).
    #[allow(clippy::too_many_arguments)] // Keras's fit, plus who computes the steps
    pub fn fit_using(
        &mut self,
        trainer: &mut dyn Trainer,
        x: &Tensor,
        y: &Tensor,
        optimizer: &mut RmsProp,
        options: &FitOptions,
        extras: &FitExtras<'_>,
        mut on_step: impl FnMut(&Progress),
    ) -> Result<History> {
        let n = sample_count(x, y)?;
        if n == 0 || options.batch_size == 0 {
            return Err(Error::model("fit needs at least one sample and a batch size of at least 1"));
        }
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut order: Vec<usize> = (0..n).collect();
        let steps = n.div_ceil(options.batch_size);
        let mut history = History::default();
        // The batch buffers are reused from step to step.
        let (mut xb, mut yb) = (Tensor::default(), Tensor::default());
        for epoch in 1..=options.epochs {
            order.shuffle(&mut rng);
            let (mut loss_sum, mut right, mut seen) = (0.0, 0, 0);
            for (step, batch) in order.chunks(options.batch_size).enumerate() {
                x.gather_into(batch, &mut xb)?;
                y.gather_into(batch, &mut yb)?;
                if let Some(transform) = &extras.transform {
                    xb = transform(&xb, epoch, step)?;
                }
                let StepStats { loss, correct } = trainer.step(self, &xb, &yb, optimizer)?;
                if !loss.is_finite() {
                    return Err(Error::NonFiniteLoss { loss, epoch, step: step + 1 });
                }
                loss_sum += loss * batch.len() as f64;
                right += correct;
                seen += batch.len();
                let (loss, accuracy) = (loss_sum / seen as f64, right as f64 / seen as f64);
                on_step(&Progress { epoch, epochs: options.epochs, step: step + 1, steps, loss, accuracy });
            }
            history.loss.push(loss_sum / seen as f64);
            history.accuracy.push(right as f64 / seen as f64);
            if let Some((xv, yv)) = extras.validation {
                let (loss, accuracy) = self.evaluate_using(trainer, xv, yv, 500)?;
                history.val_loss.push(loss);
                history.val_accuracy.push(accuracy);
            }
        }
        Ok(history)
    }
    // ANCHOR_END: fit

    /// The mean cross-entropy loss and the accuracy on `x` with one-hot targets `y`,
    /// computed `batch_size` samples at a time by `trainer`: Keras's `model.evaluate`.
    pub fn evaluate_using(
        &mut self,
        trainer: &mut dyn Trainer,
        x: &Tensor,
        y: &Tensor,
        batch_size: usize,
    ) -> Result<(f64, f64)> {
        let n = sample_count(x, y)?;
        if n == 0 || batch_size == 0 {
            return Err(Error::model("evaluate needs at least one sample and a batch size of at least 1"));
        }
        let (mut loss_sum, mut right) = (0.0, 0);
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            let (xb, yb) = (x.batch_range(start, end)?, y.batch_range(start, end)?);
            let (loss, probs) = trainer.evaluate_batch(self, &xb, &yb)?;
            loss_sum += loss * (end - start) as f64;
            right += count_correct(&probs, &yb)?;
        }
        Ok((loss_sum / n as f64, right as f64 / n as f64))
    }
}

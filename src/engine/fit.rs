//! Keras's `fit` and `evaluate` for a [`Sequential`] model, computed by the engine.

use super::Plan;
use super::conv::ConvAlgorithm;
use crate::error::Result;
use crate::model::Sequential;
use crate::optim::RmsProp;
use crate::tensor::Tensor;
use crate::train::{FitExtras, FitOptions, History, PlainLoops, Progress, Trainer};

/// The fastest way to train `model`: the engine's [`Plan`] with every thread, or the
/// textbook's [`PlainLoops`] for a model with a layer the engine does not know (one whose
/// [`spec`](crate::layer::Layer::spec) is `None`).
pub fn fastest_trainer(model: &Sequential) -> Result<Box<dyn Trainer>> {
    let unknown = (0..model.len()).any(|i| model.layer(i).is_some_and(|layer| layer.spec().is_none()));
    if unknown {
        return Ok(Box::new(PlainLoops));
    }
    Ok(Box::new(Plan::new(model, ConvAlgorithm::Auto, rayon::current_num_threads())?))
}

impl Sequential {
    /// Trains on inputs `x` and one-hot targets `y` with mini-batch gradient descent, as
    /// Keras's `model.fit`: [`Sequential::fit_using`] with the [`fastest_trainer`].
    pub fn fit(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        optimizer: &mut RmsProp,
        options: &FitOptions,
        on_step: impl FnMut(&Progress),
    ) -> Result<History> {
        self.fit_with(x, y, optimizer, options, &FitExtras::default(), on_step)
    }

    /// [`Sequential::fit`] with validation after every epoch and/or a change to every batch
    /// (data augmentation).
    pub fn fit_with(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        optimizer: &mut RmsProp,
        options: &FitOptions,
        extras: &FitExtras<'_>,
        on_step: impl FnMut(&Progress),
    ) -> Result<History> {
        let mut trainer = fastest_trainer(self)?;
        self.fit_using(trainer.as_mut(), x, y, optimizer, options, extras, on_step)
    }

    /// The mean cross-entropy loss and the accuracy on `x` with one-hot targets `y`, computed
    /// `batch_size` samples at a time by the [`fastest_trainer`]: Keras's `model.evaluate`.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<(f64, f64)> {
        let mut trainer = fastest_trainer(self)?;
        self.evaluate_using(trainer.as_mut(), x, y, batch_size)
    }
}

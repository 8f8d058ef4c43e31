//! RMSprop, the optimiser the book compiles its convnet with.

use crate::error::{Error, Result};
use crate::layer::Param;

/// RMSprop as Keras 3 / TensorFlow 2.21 implement it (no momentum, not centred).
///
/// For each weight `w` with gradient `g` it keeps a running mean of squared gradients `v`
/// (starting at 0) and divides each step by its square root, so every weight moves by about
/// the learning rate whatever the scale of its gradient:
///
/// ```text
/// v = rho · v + (1 − rho) · g²
/// w = w − lr · g / sqrt(v + epsilon)
/// ```
///
/// (epsilon inside the square root, as Keras does it: the first step moves a weight by
/// about `lr · √10`.)
#[derive(Debug, Clone)]
pub struct RmsProp {
    /// Step size (Keras's default 0.001).
    pub learning_rate: f32,
    /// Decay of the running mean of squared gradients (default 0.9).
    pub rho: f32,
    /// Added under the square root to avoid dividing by zero (default 1e-7).
    pub epsilon: f32,
    /// One running mean per weight, per parameter array, in the order `step` receives them.
    velocities: Vec<Vec<f32>>,
}

impl Default for RmsProp {
    fn default() -> RmsProp {
        RmsProp::new(0.001)
    }
}

impl RmsProp {
    /// RMSprop with Keras's defaults and the given learning rate.
    pub fn new(learning_rate: f32) -> RmsProp {
        RmsProp { learning_rate, rho: 0.9, epsilon: 1e-7, velocities: Vec::new() }
    }

    // ANCHOR: step
    /// Updates every parameter array in place from its gradient. The arrays must come in the
    /// same order and sizes at every step (a model's [`params`](crate::model::Sequential::params)).
    pub fn step(&mut self, params: Vec<Param<'_>>) -> Result<()> {
        if self.velocities.is_empty() {
            self.velocities = params.iter().map(|p| vec![0.0; p.value.len()]).collect();
        }
        if self.velocities.len() != params.len() {
            return Err(Error::model(format!(
                "RMSprop was set up for {} parameter arrays but got {}",
                self.velocities.len(),
                params.len()
            )));
        }
        for (param, v) in params.into_iter().zip(&mut self.velocities) {
            if param.grad.len() != param.value.len() || v.len() != param.value.len() {
                return Err(Error::model(format!(
                    "a parameter of {} values has {} gradients and {} velocities: run backward first",
                    param.value.len(),
                    param.grad.len(),
                    v.len()
                )));
            }
            for ((w, &g), v) in param.value.iter_mut().zip(param.grad).zip(v.iter_mut()) {
                *v = self.rho * *v + (1.0 - self.rho) * g * g;
                *w -= self.learning_rate * g / (*v + self.epsilon).sqrt();
            }
        }
        Ok(())
    }
    // ANCHOR_END: step
}

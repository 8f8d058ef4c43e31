//! One trained model, used by many requests at once.
//!
//! A [`Sequential`] keeps buffers from its last forward pass, so running it takes `&mut self`:
//! two requests cannot share one. The server keeps the model's layers as read-only
//! [`LayerSpec`]s and lends each request a model of its own, built from them on first need
//! and put back afterwards for the next request, so no request ever waits for another's model.
//!
//! Each lent model comes with an engine [`Plan`] for it: the fast forward pass that draws the
//! page's feature maps as the user draws (the textbook's loops take about 25 times longer).
//! The microscope and Grad-CAM use the textbook model itself.

use std::sync::{Mutex, PoisonError};

use super::microscope::{activation_name, padding_name};
use crate::engine::{ConvAlgorithm, Plan};
use crate::error::Result;
use crate::model::Sequential;
use crate::padding::Padding;
use crate::spec::LayerSpec;

/// One layer as the page describes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerInfo {
    /// The layer's position in the model, from 0.
    pub index: usize,
    /// Its name in the summary, e.g. `conv2d_1`.
    pub name: String,
    /// `conv2d`, `max_pooling2d`, `average_pooling2d`, `flatten` or `dense`.
    pub kind: String,
    /// Its output shape for one sample, e.g. `[26, 26, 32]`.
    pub shape: Vec<usize>,
    /// Its number of weights.
    pub params: usize,
    /// Its settings in words, e.g. `3×3 kernel, 32 filters, stride 1, valid, relu`.
    pub detail: String,
}

/// A layer's settings in words.
fn detail(spec: &LayerSpec) -> String {
    let pad = |p: &Padding| padding_name(*p);
    match spec {
        LayerSpec::Conv2D { kernel, strides, padding, activation, .. } => {
            let s = kernel.shape();
            format!(
                "{}×{} kernel, {} filters, stride {}×{}, {}, {}",
                s[0],
                s[1],
                s[3],
                strides.0,
                strides.1,
                pad(padding),
                activation_name(*activation)
            )
        }
        LayerSpec::MaxPooling2D { pool, strides, padding }
        | LayerSpec::AveragePooling2D { pool, strides, padding } => {
            let kind = if matches!(spec, LayerSpec::MaxPooling2D { .. }) { "max" } else { "average" };
            format!("{}×{} {kind}, stride {}×{}, {}", pool.0, pool.1, strides.0, strides.1, pad(padding))
        }
        LayerSpec::Flatten => "the maps read out in order".into(),
        LayerSpec::Dense { kernel, activation, .. } => {
            format!("{} units, {}", kernel.shape().get(1).copied().unwrap_or(0), activation_name(*activation))
        }
    }
}

/// A model lent to one request.
pub struct Lent {
    /// The textbook model, with the shared weights.
    pub model: Sequential,
    /// The engine's plan for it, for a fast forward pass ([`Plan::activations`]).
    pub plan: Plan,
}

/// A trained model's weights, shared read-only, and the models lent to requests.
pub struct SharedModel {
    input_shape: Vec<usize>,
    specs: Vec<LayerSpec>,
    conv: ConvAlgorithm,
    layers: Vec<LayerInfo>,
    summary: String,
    /// Models built from `specs` that no request is using.
    idle: Mutex<Vec<Lent>>,
}

impl SharedModel {
    /// Shares `model`'s layers (it must be made of the crate's own layers, as a loaded model
    /// is); the plans lent with it compute convolutions with `conv`.
    pub fn new(model: Sequential, conv: ConvAlgorithm) -> Result<SharedModel> {
        let specs = model.layer_specs()?;
        let layers = (0..model.len())
            .filter_map(|i| model.layer(i).map(|l| (i, l)))
            .zip(model.layer_names())
            .zip(model.layer_shapes())
            .zip(&specs)
            .map(|((((index, layer), name), shape), spec)| LayerInfo {
                index,
                name: name.to_string(),
                kind: layer.kind().to_string(),
                shape: shape.to_vec(),
                params: layer.param_count(),
                detail: detail(spec),
            })
            .collect();
        let plan = Plan::new(&model, conv, 1)?;
        Ok(SharedModel {
            input_shape: model.input_shape().to_vec(),
            specs,
            conv,
            layers,
            summary: model.summary(),
            idle: Mutex::new(vec![Lent { model, plan }]),
        })
    }

    /// The shape of one input sample, e.g. `[28, 28, 1]`.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The model's summary, as `convnets summary` prints it.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Runs `work` on a model of its own: an idle one, or a new one built from the shared
    /// layers. The model goes back to the idle ones afterwards (unless `work` panicked).
    pub fn with<T>(&self, work: impl FnOnce(&mut Lent) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut lent = match idle {
            Some(lent) => lent,
            None => self.build()?,
        };
        let result = work(&mut lent);
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(lent);
        result
    }

    /// A new model with the shared layers' weights, and its plan.
    fn build(&self) -> Result<Lent> {
        let mut model = Sequential::new(&self.input_shape, 0);
        for spec in self.specs.iter() {
            model.add_spec(spec.clone())?;
        }
        let plan = Plan::new(&model, self.conv, 1)?;
        Ok(Lent { model, plan })
    }
}

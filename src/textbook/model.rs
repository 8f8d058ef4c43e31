//! A `Sequential` model: layers applied one after the other, as Keras's `models.Sequential`.

use std::ops::Range;

use crate::activation::Activation;
use crate::conv::Conv2D;
use crate::dense::Dense;
use crate::error::{Error, ModelError, Result, ShapeError};
use crate::flatten::Flatten;
use crate::init::Init;
use crate::layer::{Layer, Param};
use crate::limits;
use crate::loss::{categorical_crossentropy, softmax_crossentropy, softmax_crossentropy_grad};
use crate::pool::{AveragePooling2D, MaxPooling2D};
use crate::spec::LayerSpec;
use crate::tensor::Tensor;

/// One layer of a model, with the name and output shape Keras would show for it.
struct Entry {
    name: String,
    output_shape: Vec<usize>,
    layer: Box<dyn Layer>,
    /// False for a frozen layer: the optimiser leaves its weights alone.
    trainable: bool,
}

/// A stack of layers. Each added layer is built for the previous layer's output shape, so
/// every shape is known (and checked) before any data flows.
pub struct Sequential {
    input_shape: Vec<usize>,
    entries: Vec<Entry>,
    init: Init,
    /// Multiply-adds of one sample's forward pass through the layers so far.
    work: u64,
}

impl Sequential {
    /// An empty model for samples of `input_shape` (without the batch axis), e.g.
    /// `&[28, 28, 1]`. `seed` makes the initial weights reproducible. The input shape is
    /// checked (no axis of 0, at most [`MAX_VALUES`](crate::limits::MAX_VALUES) values) when
    /// the first layer is added.
    pub fn new(input_shape: &[usize], seed: u64) -> Sequential {
        Sequential { input_shape: input_shape.to_vec(), entries: Vec::new(), init: Init::new(seed), work: 0 }
    }

    /// Appends a layer, building it for the current output shape.
    ///
    /// Layers are named as in the book's summaries: `conv2d_1`, `conv2d_2`, `dense_1`, …
    ///
    /// Fails if the layer does not fit the current output shape, or breaks one of the
    /// [limits]: 0 units or filters, a window or stride of 0 or above
    /// [`MAX_WINDOW`](crate::limits::MAX_WINDOW), an output of an axis 0 or of more than
    /// [`MAX_VALUES`](crate::limits::MAX_VALUES) values, more than
    /// [`MAX_WEIGHTS`](crate::limits::MAX_WEIGHTS) weights, or a model whose forward pass
    /// would take more than [`MAX_WORK`](crate::limits::MAX_WORK) multiply-adds per sample.
    pub fn add(&mut self, layer: impl Layer + 'static) -> Result<&mut Sequential> {
        self.add_boxed(Box::new(layer))
    }

    /// [`Sequential::add`] for a layer that is already boxed.
    pub fn add_boxed(&mut self, mut layer: Box<dyn Layer>) -> Result<&mut Sequential> {
        let input_shape = self.output_shape().to_vec();
        if self.entries.is_empty() {
            limits::values("the model", "input", &input_shape)?;
        }
        let output_shape = layer.build(&input_shape, &mut self.init)?;
        limits::values(layer.class_name(), "output", &output_shape)?;
        // The crate's own layers check their sizes in `build`; checking their description
        // again here also covers a layer of your own that describes itself as one of them.
        let work = match layer.spec() {
            Some(spec) => {
                let size = limits::spec(&spec, &input_shape)?;
                if size.output != output_shape {
                    return Err(Error::shape(format!(
                        "{} says its output is {output_shape:?}, but its settings give {:?}",
                        layer.class_name(),
                        size.output
                    )));
                }
                size.work
            }
            None => 0,
        };
        let total = self.work.checked_add(work).filter(|&w| w <= limits::MAX_WORK);
        let Some(total) = total else {
            return Err(Error::Model(ModelError::TooLarge {
                layer: "the model",
                what: "multiply-adds per sample",
                count: self.work.checked_add(work),
                limit: limits::MAX_WORK,
            }));
        };
        self.work = total;
        let same_kind = self.entries.iter().filter(|e| e.layer.kind() == layer.kind()).count();
        let name = format!("{}_{}", layer.kind(), same_kind + 1);
        self.entries.push(Entry { name, output_shape, layer, trainable: true });
        Ok(self)
    }

    /// Appends the layer a [`LayerSpec`] describes, with its weights (as loading a model
    /// file does).
    pub fn add_spec(&mut self, spec: LayerSpec) -> Result<&mut Sequential> {
        self.add_boxed(layer_from_spec(spec)?)
    }

    // ANCHOR: freeze
    /// Freezes (`false`) or unfreezes (`true`) layer `i`, as Keras's `layer.trainable`. A
    /// frozen layer still computes its output, but [`params`](Sequential::params) leaves it
    /// out, so no optimiser changes its weights, and the summary counts them as
    /// non-trainable. As in Keras, start a new optimiser after changing this: the set of
    /// weights it updates has changed.
    pub fn set_trainable(&mut self, i: usize, trainable: bool) -> Result<()> {
        let count = self.entries.len();
        let entry = self
            .entries
            .get_mut(i)
            .ok_or_else(|| Error::model(format!("there is no layer {i} in a model of {count} layers")))?;
        entry.trainable = trainable;
        Ok(())
    }
    // ANCHOR_END: freeze

    /// Whether layer `i` is trainable (false for a frozen layer or no such layer).
    pub fn is_trainable(&self, i: usize) -> bool {
        self.entries.get(i).is_some_and(|e| e.trainable)
    }

    /// A new model made of copies of this model's first `layers` layers (their weights and
    /// whether they are trainable), to which new layers can be added: a pretrained
    /// convolutional base under a new head. `seed` initialises the layers added later.
    pub fn first_layers(&self, layers: usize, seed: u64) -> Result<Sequential> {
        let mut copy = Sequential::new(&self.input_shape, seed);
        for (entry, spec) in self.entries.iter().zip(self.layer_specs()?).take(layers) {
            copy.add_spec(spec)?;
            if let Some(last) = copy.entries.last_mut() {
                last.trainable = entry.trainable;
            }
        }
        Ok(copy)
    }

    /// Every layer's settings and weights, in order, for saving. Fails for a layer type that
    /// cannot describe itself (one defined outside this crate).
    pub fn layer_specs(&self) -> Result<Vec<LayerSpec>> {
        self.entries
            .iter()
            .map(|e| {
                e.layer
                    .spec()
                    .ok_or_else(|| Error::model(format!("{} cannot be saved", e.layer.class_name())))
            })
            .collect()
    }

    /// The shape of one input sample.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The shape of one output sample (the input shape while the model has no layers).
    pub fn output_shape(&self) -> &[usize] {
        self.entries.last().map_or(&self.input_shape, |e| &e.output_shape)
    }

    /// The names of the layers, in order.
    pub fn layer_names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// Each layer's output shape (per sample), in order.
    pub fn layer_shapes(&self) -> Vec<&[usize]> {
        self.entries.iter().map(|e| e.output_shape.as_slice()).collect()
    }

    /// The total number of weights.
    pub fn param_count(&self) -> usize {
        self.entries.iter().map(|e| e.layer.param_count()).sum()
    }

    /// Runs a batch through every layer and returns the last layer's output (which that
    /// layer owns until the next batch; clone it to keep it).
    pub fn forward<'a>(&'a mut self, x: &'a Tensor) -> Result<&'a Tensor> {
        self.check_input(x)?;
        self.forward_range(x, 0..self.entries.len())
    }

    /// Checks that `x` is a batch of samples of the model's input shape.
    fn check_input(&self, x: &Tensor) -> Result<()> {
        if x.shape().get(1..) != Some(self.input_shape.as_slice()) {
            return Err(Error::Shape(ShapeError::Input {
                expected: self.input_shape.clone(),
                got: x.shape().to_vec(),
            }));
        }
        Ok(())
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the model has no layers yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Layer `i` (from 0), to read its settings or weights.
    pub fn layer(&self, i: usize) -> Option<&dyn Layer> {
        self.entries.get(i).map(|e| e.layer.as_ref())
    }

    /// Runs `x` through the layers in `range` only: `x` must be what layer `range.start`
    /// takes (the model's input for 0, otherwise the output of layer `range.start − 1`).
    /// Used to look inside the model: an intermediate activation, or the rest of the model
    /// applied to a changed activation.
    pub fn forward_range<'a>(&'a mut self, x: &'a Tensor, range: Range<usize>) -> Result<&'a Tensor> {
        let layers = self.entries.get_mut(range.clone()).ok_or_else(|| bad_range(&range))?;
        let mut y = x;
        for entry in layers {
            y = entry.layer.forward(y)?;
        }
        Ok(y)
    }

    // ANCHOR: backward_range
    /// Sends `grad` back through the layers in `range`, last first, after a
    /// [`forward_range`](Sequential::forward_range) over at least those layers, and returns
    /// the gradient with respect to the input of layer `range.start`. `grad` is the gradient
    /// with respect to the output of layer `range.end − 1` — taken before its activation if
    /// `before_activation` is set (the logits, for a softmax layer).
    pub fn backward_range(
        &mut self,
        grad: &Tensor,
        range: Range<usize>,
        before_activation: bool,
    ) -> Result<Tensor> {
        let layers = self.entries.get_mut(range.clone()).ok_or_else(|| bad_range(&range))?;
        let Some((last, rest)) = layers.split_last_mut() else { return Ok(grad.clone()) };
        let mut g = if before_activation {
            last.layer.backward_pre_activation(grad)?
        } else {
            last.layer.backward(grad)?
        };
        for entry in rest.iter_mut().rev() {
            g = entry.layer.backward(g)?;
        }
        Ok(g.clone())
    }
    // ANCHOR_END: backward_range

    /// Every layer's weights with their gradients from the last backward pass, layer by
    /// layer in order: what an optimiser updates.
    pub fn params(&mut self) -> Vec<Param<'_>> {
        self.entries.iter_mut().filter(|e| e.trainable).flat_map(|e| e.layer.params()).collect()
    }

    /// The cross-entropy of the last forward pass's output `probs` against `targets`, the
    /// way Keras computes it: from the logits when the last layer kept them (it ends in a
    /// softmax), otherwise from the clipped probabilities.
    pub fn loss_of_last_forward(&self, probs: &Tensor, targets: &Tensor) -> Result<f64> {
        match self.entries.last().and_then(|e| e.layer.logits()) {
            Some(logits) => softmax_crossentropy(logits, targets),
            None => categorical_crossentropy(probs, targets),
        }
    }

    // ANCHOR: gradients
    /// One forward and one backward pass over a batch with one-hot `targets`, leaving every
    /// layer's weight gradients in place for an optimiser. Returns the cross-entropy loss
    /// and the predicted probabilities.
    ///
    /// The model must end in a softmax: the backward pass starts from the fused
    /// softmax + cross-entropy gradient `(p − y) / batch` at the last layer's logits, and
    /// then goes through the layers in reverse, each turning the gradient at its output into
    /// the gradient at its input.
    pub fn compute_gradients(&mut self, x: &Tensor, targets: &Tensor) -> Result<(f64, Tensor)> {
        if self.entries.last().map(|e| e.layer.activation()) != Some(Activation::Softmax) {
            return Err(Error::model("training with cross-entropy needs a model that ends in a softmax"));
        }
        // Below the first trainable layer no gradient is needed: frozen layers stop the pass.
        let first_trainable = self
            .entries
            .iter()
            .position(|e| e.trainable)
            .ok_or_else(|| Error::model("every layer is frozen: there is nothing to train"))?;
        let probs = self.forward(x)?.clone();
        let loss = self.loss_of_last_forward(&probs, targets)?;
        let dz = softmax_crossentropy_grad(&probs, targets)?;
        self.backward_range(&dz, first_trainable..self.entries.len(), true)?;
        Ok((loss, probs))
    }
    // ANCHOR_END: gradients

    /// The model's outputs for all of `x`, computed `batch_size` samples at a time so memory
    /// stays bounded however many samples there are.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        if batch_size == 0 {
            return Err(Error::model("batch_size must be at least 1"));
        }
        let total = x.shape().first().copied().unwrap_or(0);
        let mut outputs = Vec::new();
        for start in (0..total).step_by(batch_size) {
            let batch = x.batch_range(start, (start + batch_size).min(total))?;
            outputs.push(self.forward(&batch)?.clone());
        }
        if outputs.is_empty() {
            let mut shape = vec![0];
            shape.extend_from_slice(self.output_shape());
            return Tensor::zeros(&shape);
        }
        Tensor::concat_batch(&outputs)
    }

    // ANCHOR: summary
    /// The model as Keras's `model.summary()` prints it: one row per layer with its name,
    /// class, output shape and number of weights, then the totals.
    pub fn summary(&self) -> String {
        let rows: Vec<[String; 3]> = self
            .entries
            .iter()
            .map(|e| {
                [
                    format!("{} ({})", e.name, e.layer.class_name()),
                    format_shape(&e.output_shape),
                    e.layer.param_count().to_string(),
                ]
            })
            .collect();
        let name_width = rows.iter().map(|r| r[0].len() + 2).max().unwrap_or(0).max(33);
        let shape_width = rows.iter().map(|r| r[1].len() + 2).max().unwrap_or(0).max(25);
        let line_width = name_width + shape_width + 10;
        let row = |a: &str, b: &str, c: &str| format!("{a:<name_width$}{b:<shape_width$}{c}\n");

        let mut out = format!("{}\n", "_".repeat(line_width));
        out += &row("Layer (type)", "Output Shape", "Param #");
        out += &format!("{}\n", "=".repeat(line_width));
        for (i, [name, shape, params]) in rows.iter().enumerate() {
            out += &row(name, shape, params);
            let rule = if i + 1 == rows.len() { "=" } else { "_" };
            out += &format!("{}\n", rule.repeat(line_width));
        }
        let total = self.param_count();
        let trainable: usize =
            self.entries.iter().filter(|e| e.trainable).map(|e| e.layer.param_count()).sum();
        out += &format!("Total params: {}\n", thousands(total));
        out += &format!("Trainable params: {}\n", thousands(trainable));
        out += &format!("Non-trainable params: {}\n", thousands(total - trainable));
        out
    }
    // ANCHOR_END: summary
}

fn bad_range(range: &Range<usize>) -> Error {
    Error::model(format!("layers {range:?} are not a range of this model's layers"))
}

/// A per-sample shape as Keras prints it, with `None` for the batch axis: `(None, 26, 26, 32)`.
pub fn format_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("(None, {})", dims.join(", "))
}

/// `93322` written as `93,322`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

// ANCHOR: book_model
/// The convnet of *Deep Learning with Python*, listing 5.1 and 5.2, for 28×28 grey images.
///
/// ```text
/// model.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
/// model.add(layers.MaxPooling2D((2, 2)))
/// model.add(layers.Conv2D(64, (3, 3), activation='relu'))
/// model.add(layers.MaxPooling2D((2, 2)))
/// model.add(layers.Conv2D(64, (3, 3), activation='relu'))
/// model.add(layers.Flatten())
/// model.add(layers.Dense(64, activation='relu'))
/// model.add(layers.Dense(10, activation='softmax'))
/// ```
pub fn book_model(seed: u64) -> Result<Sequential> {
    let conv = |filters| Conv2D::new(filters, (3, 3)).activation(Activation::Relu);
    let mut model = Sequential::new(&[28, 28, 1], seed);
    model
        .add(conv(32))?
        .add(MaxPooling2D::new((2, 2)))?
        .add(conv(64))?
        .add(MaxPooling2D::new((2, 2)))?
        .add(conv(64))?
        .add(Flatten::new())?
        .add(Dense::new(64).activation(Activation::Relu))?
        .add(Dense::new(10).activation(Activation::Softmax))?;
    Ok(model)
}
// ANCHOR_END: book_model

// ANCHOR: no_max_pooling
/// The book's `model_no_max_pool`: the same three convolutions without pooling between them.
pub fn no_max_pooling_model(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::new(&[28, 28, 1], seed);
    model
        .add(Conv2D::new(32, (3, 3)).activation(Activation::Relu))?
        .add(Conv2D::new(64, (3, 3)).activation(Activation::Relu))?
        .add(Conv2D::new(64, (3, 3)).activation(Activation::Relu))?;
    Ok(model)
}
// ANCHOR_END: no_max_pooling

/// The layer a [`LayerSpec`] describes, with its weights.
fn layer_from_spec(spec: LayerSpec) -> Result<Box<dyn Layer>> {
    Ok(match spec {
        LayerSpec::Conv2D { kernel, bias, strides, padding, activation } => Box::new(
            Conv2D::with_weights(kernel, bias)?.strides(strides).padding(padding).activation(activation),
        ),
        LayerSpec::MaxPooling2D { pool, strides, padding } => {
            Box::new(MaxPooling2D::new(pool).strides(strides).padding(padding))
        }
        LayerSpec::AveragePooling2D { pool, strides, padding } => {
            Box::new(AveragePooling2D::new(pool).strides(strides).padding(padding))
        }
        LayerSpec::Flatten => Box::new(Flatten::new()),
        LayerSpec::Dense { kernel, bias, activation } => {
            Box::new(Dense::with_weights(kernel, bias)?.activation(activation))
        }
    })
}

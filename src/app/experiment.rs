//! The experiments of the book's chapter on small data, reproduced on MNIST: each trains a
//! few models, measures them epoch by epoch on held-out images, and reports a table.
//!
//! Every experiment is seeded: the same command prints the same numbers on the same machine
//! and thread count.

use std::time::Instant;

use crate::activation::Activation;
use crate::augment::{Augmentation, augmenter};
use crate::conv::Conv2D;
use crate::dense::Dense;
use crate::error::Result;
use crate::flatten::Flatten;
use crate::layer::Layer;
use crate::metrics::to_categorical;
use crate::mnist::Mnist;
use crate::model::{Sequential, book_model};
use crate::optim::RmsProp;
use crate::pool::{AveragePooling2D, MaxPooling2D};
use crate::tensor::Tensor;
use crate::train::{FitExtras, FitOptions};

/// What one training run measured after each epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    /// What was trained, for tables and legends.
    pub name: String,
    /// The number of weights of the model.
    pub params: usize,
    /// Training loss and accuracy per epoch (means over the epoch's batches).
    pub train_loss: Vec<f64>,
    /// See `train_loss`.
    pub train_accuracy: Vec<f64>,
    /// Loss and accuracy on the held-out images after each epoch.
    pub val_loss: Vec<f64>,
    /// See `val_loss`.
    pub val_accuracy: Vec<f64>,
    /// Wall-clock seconds per epoch, training and the evaluation after it.
    pub seconds_per_epoch: f64,
}

impl Run {
    /// Held-out accuracy after the last epoch.
    pub fn final_val_accuracy(&self) -> f64 {
        self.val_accuracy.last().copied().unwrap_or(0.0)
    }

    /// Held-out accuracy averaged over the last (up to) five epochs: steadier than the last
    /// epoch alone, which small batches make jump by a point or two.
    pub fn recent_val_accuracy(&self) -> f64 {
        let recent = &self.val_accuracy[self.val_accuracy.len().saturating_sub(5)..];
        recent.iter().sum::<f64>() / recent.len().max(1) as f64
    }

    /// Training accuracy in the last epoch.
    pub fn final_train_accuracy(&self) -> f64 {
        self.train_accuracy.last().copied().unwrap_or(0.0)
    }
}

/// A data set of images and one-hot labels.
#[derive(Debug, Clone)]
pub struct Split {
    /// `(N, 28, 28, 1)` images.
    pub x: Tensor,
    /// `(N, classes)` one-hot labels.
    pub y: Tensor,
}

impl Split {
    /// The images whose label is in `classes`, at most `limit` of them (in file order),
    /// relabelled `0..classes.len()` in the order `classes` lists them.
    pub fn of_classes(images: &Tensor, labels: &[u8], classes: &[u8], limit: usize) -> Result<Split> {
        let picked: Vec<usize> =
            (0..labels.len()).filter(|&i| classes.contains(&labels[i])).take(limit).collect();
        let relabelled: Vec<u8> =
            picked.iter().map(|&i| classes.iter().position(|&c| c == labels[i]).unwrap_or(0) as u8).collect();
        Ok(Split { x: images.gather(&picked)?, y: to_categorical(&relabelled, classes.len())? })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.x.shape().first().copied().unwrap_or(0)
    }

    /// True if there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How to train one model in an experiment.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// RMSprop's learning rate.
    pub learning_rate: f32,
    /// Seeds the shuffling (and the augmentation).
    pub seed: u64,
    /// New random variants of every training image each epoch, if set.
    pub augmentation: Option<Augmentation>,
}

impl Default for Recipe {
    /// The book's: 5 epochs, batch 64, RMSprop at 0.001, no augmentation.
    fn default() -> Recipe {
        Recipe { epochs: 5, batch_size: 64, learning_rate: 0.001, seed: 0, augmentation: None }
    }
}

// ANCHOR: train_and_measure
/// Trains `model` on `train` following `recipe`, evaluating on `val` after every epoch.
pub fn train_and_measure(
    name: &str,
    model: &mut Sequential,
    train: &Split,
    val: &Split,
    recipe: &Recipe,
) -> Result<Run> {
    let options = FitOptions { epochs: recipe.epochs, batch_size: recipe.batch_size, seed: recipe.seed };
    let transform = recipe.augmentation.map(|settings| augmenter(settings, recipe.seed));
    let extras = FitExtras { validation: Some((&val.x, &val.y)), transform };
    let start = Instant::now();
    let history = model.fit_with(
        &train.x,
        &train.y,
        &mut RmsProp::new(recipe.learning_rate),
        &options,
        &extras,
        |_| {},
    )?;
    Ok(Run {
        name: name.to_string(),
        params: model.param_count(),
        train_loss: history.loss,
        train_accuracy: history.accuracy,
        val_loss: history.val_loss,
        val_accuracy: history.val_accuracy,
        seconds_per_epoch: start.elapsed().as_secs_f64() / recipe.epochs.max(1) as f64,
    })
}
// ANCHOR_END: train_and_measure

/// The dense network of the book's chapter 2: `Dense(512, relu) → Dense(10, softmax)` on the
/// flattened 28×28 image.
pub fn dense_model(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::new(&[28, 28, 1], seed);
    model
        .add(Flatten::new())?
        .add(Dense::new(512).activation(Activation::Relu))?
        .add(Dense::new(10).activation(Activation::Softmax))?;
    Ok(model)
}

/// The book's convnet with a different downsampling between the convolutions: `pool` is
/// called to make each of the two pooling layers (`None`: no pooling at all, the book's
/// `model_no_max_pool`), with the same `Flatten → Dense(64) → Dense(classes)` head.
pub fn convnet_with(
    seed: u64,
    classes: usize,
    pool: Option<&dyn Fn() -> Box<dyn Layer>>,
) -> Result<Sequential> {
    let conv = |filters| Conv2D::new(filters, (3, 3)).activation(Activation::Relu);
    let mut model = Sequential::new(&[28, 28, 1], seed);
    model.add(conv(32))?;
    if let Some(pool) = pool {
        model.add_boxed(pool())?;
    }
    model.add(conv(64))?;
    if let Some(pool) = pool {
        model.add_boxed(pool())?;
    }
    model
        .add(conv(64))?
        .add(Flatten::new())?
        .add(Dense::new(64).activation(Activation::Relu))?
        .add(Dense::new(classes).activation(Activation::Softmax))?;
    Ok(model)
}

fn all_digits(data: &Mnist) -> Result<(Split, Split)> {
    let digits: Vec<u8> = (0..10).collect();
    Ok((
        Split::of_classes(&data.train_images, &data.train_labels, &digits, usize::MAX)?,
        Split::of_classes(&data.test_images, &data.test_labels, &digits, usize::MAX)?,
    ))
}

// ANCHOR: dense_vs_convnet
/// The chapter-2 dense network (5 epochs, batch 128) against the book's convnet (5 epochs,
/// batch 64), both on all of MNIST.
pub fn dense_vs_convnet(data: &Mnist) -> Result<Vec<Run>> {
    let (train, test) = all_digits(data)?;
    let dense_recipe = Recipe { batch_size: 128, ..Recipe::default() };
    Ok(vec![
        train_and_measure("dense network", &mut dense_model(0)?, &train, &test, &dense_recipe)?,
        train_and_measure("convnet", &mut book_model(0)?, &train, &test, &Recipe::default())?,
    ])
}
// ANCHOR_END: dense_vs_convnet

/// The convnet without pooling (three convolutions in a row, then the same head) against
/// the book's model, on all of MNIST. `epochs` is usually 5; the model without pooling is
/// many times slower.
pub fn no_max_pool(data: &Mnist, epochs: usize) -> Result<Vec<Run>> {
    let (train, test) = all_digits(data)?;
    let recipe = Recipe { epochs, ..Recipe::default() };
    let max: &dyn Fn() -> Box<dyn Layer> = &|| Box::new(MaxPooling2D::new((2, 2)));
    Ok(vec![
        train_and_measure(
            "max pooling (the book's)",
            &mut convnet_with(0, 10, Some(max))?,
            &train,
            &test,
            &recipe,
        )?,
        train_and_measure("no pooling", &mut convnet_with(0, 10, None)?, &train, &test, &recipe)?,
    ])
}

/// Max pooling against average pooling, same seeds, on all of MNIST.
pub fn max_vs_average(data: &Mnist) -> Result<Vec<Run>> {
    let (train, test) = all_digits(data)?;
    let max: &dyn Fn() -> Box<dyn Layer> = &|| Box::new(MaxPooling2D::new((2, 2)));
    let average: &dyn Fn() -> Box<dyn Layer> = &|| Box::new(AveragePooling2D::new((2, 2)));
    let recipe = Recipe::default();
    Ok(vec![
        train_and_measure("max pooling", &mut convnet_with(0, 10, Some(max))?, &train, &test, &recipe)?,
        train_and_measure(
            "average pooling",
            &mut convnet_with(0, 10, Some(average))?,
            &train,
            &test,
            &recipe,
        )?,
    ])
}

// ANCHOR: small_data
/// 1,000 training images from scratch, for `epochs` epochs, validated on all 10,000 test
/// images: without and with data augmentation.
pub fn small_data(data: &Mnist, epochs: usize) -> Result<Vec<Run>> {
    let digits: Vec<u8> = (0..10).collect();
    let train = Split::of_classes(&data.train_images, &data.train_labels, &digits, 1000)?;
    let (_, test) = all_digits(data)?;
    let plain = Recipe { epochs, batch_size: 32, ..Recipe::default() };
    let augmented = Recipe { augmentation: Some(Augmentation::default()), ..plain.clone() };
    Ok(vec![
        train_and_measure("1,000 images", &mut book_model(0)?, &train, &test, &plain)?,
        train_and_measure("1,000 images, augmented", &mut book_model(0)?, &train, &test, &augmented)?,
    ])
}
// ANCHOR_END: small_data

/// The outcome of the transfer experiment: every variant's test accuracy for every seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// The pretrained model's accuracy on the test images of digits 0–4.
    pub pretrained_accuracy: f64,
    /// `(variant, accuracies over the seeds)`.
    pub variants: Vec<(String, Vec<f64>)>,
    /// One run per variant for the first seed, for plots.
    pub runs: Vec<Run>,
}

// ANCHOR: transfer
/// Feature extraction and fine-tuning: pretrain the convnet on digits 0–4 (all their
/// training images), then learn digits 5–9 from only 1,000 images: (a) from scratch, (b) on
/// the frozen pretrained convolutional base with a new dense head, (c) the same with data
/// augmentation, (d) (c) continued with the last convolution unfrozen and a ten times lower
/// learning rate. Each is measured on all the test images of 5–9, for every seed.
pub fn transfer(data: &Mnist, seeds: &[u64], epochs: usize) -> Result<Transfer> {
    let (first, second): (Vec<u8>, Vec<u8>) = ((0..5).collect(), (5..10).collect());
    let pretrain = Split::of_classes(&data.train_images, &data.train_labels, &first, usize::MAX)?;
    let pretest = Split::of_classes(&data.test_images, &data.test_labels, &first, usize::MAX)?;
    let max: &dyn Fn() -> Box<dyn Layer> = &|| Box::new(MaxPooling2D::new((2, 2)));
    let mut base = convnet_with(100, 5, Some(max))?;
    let pretrained =
        train_and_measure("pretraining on 0-4", &mut base, &pretrain, &pretest, &Recipe::default())?;

    let train = Split::of_classes(&data.train_images, &data.train_labels, &second, 1000)?;
    let test = Split::of_classes(&data.test_images, &data.test_labels, &second, usize::MAX)?;
    let conv_base = 6; // conv, pool, conv, pool, conv, flatten
    let mut variants: Vec<(String, Vec<f64>)> =
        ["(a) from scratch", "(b) frozen base", "(c) frozen base, augmented", "(d) fine-tuned"]
            .iter()
            .map(|name| (name.to_string(), Vec::new()))
            .collect();
    let mut runs = Vec::new();
    for &seed in seeds {
        let recipe = Recipe { epochs, batch_size: 32, seed, ..Recipe::default() };
        let augmented = Recipe { augmentation: Some(Augmentation::default()), ..recipe.clone() };
        let frozen = |seed| -> Result<Sequential> {
            let mut model = base.first_layers(conv_base, seed)?;
            for layer in 0..conv_base {
                model.set_trainable(layer, false)?;
            }
            model
                .add(Dense::new(64).activation(Activation::Relu))?
                .add(Dense::new(5).activation(Activation::Softmax))?;
            Ok(model)
        };
        let scratch = train_and_measure(
            &variants[0].0,
            &mut convnet_with(seed, 5, Some(max))?,
            &train,
            &test,
            &recipe,
        )?;
        let frozen_base = train_and_measure(&variants[1].0, &mut frozen(seed)?, &train, &test, &recipe)?;
        let mut model = frozen(seed)?;
        let with_augmentation = train_and_measure(&variants[2].0, &mut model, &train, &test, &augmented)?;
        // (d) goes on from (c), as the book does: with the new head trained, unfreeze the
        // last convolution and continue with a ten times smaller learning rate, so the
        // pretrained filters are adjusted rather than overwritten.
        model.set_trainable(conv_base - 2, true)?;
        let fine =
            Recipe { learning_rate: recipe.learning_rate / 10.0, seed: seed + 1000, ..augmented.clone() };
        let more = train_and_measure(&variants[3].0, &mut model, &train, &test, &fine)?;
        let mut fine_tuned =
            Run { name: more.name.clone(), params: more.params, ..with_augmentation.clone() };
        fine_tuned.train_loss.extend(more.train_loss);
        fine_tuned.train_accuracy.extend(more.train_accuracy);
        fine_tuned.val_loss.extend(more.val_loss);
        fine_tuned.val_accuracy.extend(more.val_accuracy);
        let outcomes = vec![scratch, frozen_base, with_augmentation, fine_tuned];
        for ((_, accuracies), outcome) in variants.iter_mut().zip(&outcomes) {
            accuracies.push(outcome.final_val_accuracy());
        }
        if runs.is_empty() {
            runs = outcomes;
        }
    }
    Ok(Transfer { pretrained_accuracy: pretrained.final_val_accuracy(), variants, runs })
}
// ANCHOR_END: transfer

/// The experiments `convnets experiment` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Experiment {
    /// The dense network of chapter 2 against the convnet.
    DenseVsConvnet,
    /// The convnet with and without max pooling.
    NoMaxPool,
    /// Max pooling against average pooling.
    MaxVsAverage,
    /// 1,000 training images, with and without data augmentation.
    SmallData,
    /// A convolutional base trained on digits 0-4, reused for digits 5-9.
    Transfer,
}

/// A Markdown table of runs: parameters, final training and held-out accuracy, the
/// held-out accuracy of the last five epochs, time per epoch (ready to paste into a chapter).
pub fn table(runs: &[Run]) -> String {
    let mut out = String::from(
        "| model | weights | train accuracy | test accuracy | test, mean of last 5 epochs | seconds per epoch |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for run in runs {
        out += &format!(
            "| {} | {} | {:.2}% | {:.2}% | {:.2}% | {:.1} |\n",
            run.name,
            crate::model::thousands(run.params),
            100.0 * run.final_train_accuracy(),
            100.0 * run.final_val_accuracy(),
            100.0 * run.recent_val_accuracy(),
            run.seconds_per_epoch
        );
    }
    out
}

/// A Markdown table of the transfer experiment: each variant's accuracy per seed and mean.
pub fn transfer_table(result: &Transfer) -> String {
    let seeds = result.variants.first().map_or(0, |v| v.1.len());
    let mut out = String::from("| digits 5–9 from 1,000 images |");
    for s in 0..seeds {
        out += &format!(" seed {s} |");
    }
    out += " mean |\n|---|";
    out += &"---:|".repeat(seeds + 1);
    out.push('\n');
    for (name, accuracies) in &result.variants {
        out += &format!("| {name} |");
        for a in accuracies {
            out += &format!(" {:.2}% |", 100.0 * a);
        }
        let mean = accuracies.iter().sum::<f64>() / accuracies.len().max(1) as f64;
        out += &format!(" **{:.2}%** |\n", 100.0 * mean);
    }
    out
}

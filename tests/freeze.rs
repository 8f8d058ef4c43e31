//! Freezing layers (Keras's `layer.trainable = False`) and reusing a trained base.

mod common;

use common::digit_batch;
use convnets::model::book_model;
use convnets::optim::RmsProp;
use convnets::train::FitOptions;
use convnets::{Activation, Dense};

fn weights(model: &mut convnets::Sequential) -> Vec<Vec<f32>> {
    model.params().iter().map(|p| p.value.to_vec()).collect()
}

#[test]
fn frozen_layers_do_not_move_and_the_others_do() {
    let mut model = book_model(1).unwrap();
    for conv_base_layer in 0..5 {
        model.set_trainable(conv_base_layer, false).unwrap();
    }
    let specs_before = model.layer_specs().unwrap();
    let trainable_before = weights(&mut model);
    assert_eq!(trainable_before.len(), 4, "only the two dense layers' kernels and biases");
    let (x, y) = digit_batch(32);
    model
        .fit(&x, &y, &mut RmsProp::default(), &FitOptions { epochs: 2, batch_size: 8, seed: 0 }, |_| {})
        .unwrap();
    let specs_after = model.layer_specs().unwrap();
    assert_eq!(specs_before[..5], specs_after[..5], "the frozen convolutional base is unchanged");
    assert_ne!(specs_before[6..], specs_after[6..], "the dense head has learned");

    model.set_trainable(4, true).unwrap();
    model
        .fit(&x, &y, &mut RmsProp::new(1e-4), &FitOptions { epochs: 1, batch_size: 8, seed: 0 }, |_| {})
        .unwrap();
    let specs_tuned = model.layer_specs().unwrap();
    assert_eq!(specs_after[..4], specs_tuned[..4], "still frozen");
    assert_ne!(specs_after[4], specs_tuned[4], "the unfrozen conv2d_3 is fine-tuned");
}

#[test]
fn the_summary_counts_frozen_weights_as_non_trainable() {
    let mut model = book_model(0).unwrap();
    for layer in 0..5 {
        model.set_trainable(layer, false).unwrap();
    }
    let summary = model.summary();
    assert!(summary.contains("Total params: 93,322\n"));
    assert!(summary.contains("Trainable params: 37,578\n"), "{summary}");
    assert!(summary.contains("Non-trainable params: 55,744\n"));
}

#[test]
fn a_pretrained_base_under_a_new_head() {
    let mut pretrained = book_model(2).unwrap();
    pretrained.set_trainable(0, false).unwrap();
    let mut model = pretrained.first_layers(6, 9).unwrap();
    model
        .add(Dense::new(32).activation(Activation::Relu))
        .unwrap()
        .add(Dense::new(5).activation(Activation::Softmax))
        .unwrap();
    assert_eq!(model.layer_names()[..6], pretrained.layer_names()[..6]);
    assert_eq!(model.layer_specs().unwrap()[..6], pretrained.layer_specs().unwrap()[..6], "same weights");
    assert!(!model.is_trainable(0) && model.is_trainable(2), "trainability is copied");
    assert_eq!(model.output_shape(), &[5]);
    let (x, _) = digit_batch(3);
    let base_out = pretrained.forward_range(&x, 0..6).unwrap().clone();
    assert_eq!(model.forward_range(&x, 0..6).unwrap(), &base_out);
}

#[test]
fn freezing_every_layer_or_a_missing_one_is_a_clear_error() {
    let mut model = book_model(0).unwrap();
    assert!(model.set_trainable(8, false).is_err(), "there are 8 layers, 0 to 7");
    for layer in 0..8 {
        model.set_trainable(layer, false).unwrap();
    }
    let (x, y) = digit_batch(4);
    let err = model.fit(&x, &y, &mut RmsProp::default(), &FitOptions::default(), |_| {}).unwrap_err();
    assert!(err.to_string().contains("frozen"), "{err}");
}

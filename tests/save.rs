//! Saving and loading models: round trips, and clear errors (never a panic) for bad files.

mod common;

use convnets::save::{MAGIC, decode, encode, load_model, save_model};
use convnets::{
    Activation, AveragePooling2D, Conv2D, Error, Flatten, MaxPooling2D, Padding, Sequential, Tensor,
};
use proptest::prelude::*;

/// Conv(3, 3×2, strides (1, 2), relu) → an average pooling (2×2) or an overlapping max pooling
/// (2×2, stride 1) → Flatten → Dense(4, softmax), on 9×8×2 inputs, `valid` or `same`.
fn small_model(seed: u64, same: bool, average: bool) -> Sequential {
    let padding = if same { Padding::Same } else { Padding::Valid };
    let model = common::model(&[9, 8, 2], seed)
        .add(Conv2D::new(3, (3, 2)).strides((1, 2)).padding(padding).activation(Activation::Relu));
    let model = if average {
        model.add(AveragePooling2D::new((2, 2)).padding(padding))
    } else {
        model.add(MaxPooling2D::new((2, 2)).strides((1, 1)))
    };
    model.flatten().softmax(4)
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

proptest! {
    #[test]
    fn a_saved_model_loads_back_identical(seed in any::<u64>(), same: bool, average: bool) {
        let mut model = small_model(seed, same, average);
        let bytes = encode(&model).unwrap();
        let mut loaded = decode(&bytes).unwrap();
        prop_assert_eq!(loaded.layer_specs().unwrap(), model.layer_specs().unwrap());
        prop_assert_eq!(loaded.summary(), model.summary());
        let x = Tensor::new(&[2, 9, 8, 2], (0..288).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
        prop_assert_eq!(loaded.forward(&x).unwrap(), model.forward(&x).unwrap());
        prop_assert_eq!(encode(&loaded).unwrap(), bytes);
    }

    #[test]
    fn corrupted_files_give_errors_not_panics(
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&small_model(seed, false, false)).unwrap();
        let mut bad = bytes.clone();
        for (at, value) in &edits {
            let i = at.index(bad.len());
            bad[i] = *value;
        }
        let _ = decode(&bad); // Ok (a changed weight) or Err; never a panic
        let _ = decode(&bad[..cut.index(bad.len())]);
    }

    #[test]
    fn random_bytes_give_errors_not_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..200), magic: bool) {
        if magic && bytes.len() >= 12 {
            bytes[..8].copy_from_slice(MAGIC);
            bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        }
        prop_assert!(decode(&bytes).is_err());
    }
}

#[test]
fn the_book_model_round_trips_through_a_file() {
    let model = convnets::model::book_model(4).unwrap();
    let path = temp_path("book.model");
    save_model(&model, &path).unwrap();
    assert!(!temp_path("book.model.tmp").exists(), "the temporary file was renamed away");
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded.summary(), model.summary());
    assert_eq!(loaded.layer_specs().unwrap(), model.layer_specs().unwrap());
    // 93,322 weights of 4 bytes, plus a few hundred bytes of header and settings.
    let size = std::fs::metadata(&path).unwrap().len();
    assert!((373_288..373_600).contains(&size), "{size} bytes");
}

fn reason(result: convnets::Result<Sequential>) -> String {
    match result {
        Err(Error::ModelFile(reason)) => reason.to_string(),
        Err(other) => panic!("expected a model-file error, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn every_kind_of_bad_file_has_a_clear_error() {
    let bytes = encode(&small_model(1, false, false)).unwrap();

    let mut wrong_magic = bytes.clone();
    wrong_magic[0] = b'X';
    assert!(reason(decode(&wrong_magic)).contains("not a convnets model file"));

    let mut wrong_version = bytes.clone();
    wrong_version[8] = 2;
    assert!(reason(decode(&wrong_version)).contains("version 2 is not supported"));

    for len in [0, 5, 12, bytes.len() / 2, bytes.len() - 1] {
        assert!(reason(decode(&bytes[..len])).contains("truncated"), "cut at {len}");
    }

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(reason(decode(&trailing)).contains("unexpected bytes"));

    assert!(reason(load_model(&temp_path("no-such.model"))).contains("cannot read"));
}

#[test]
fn layers_whose_shapes_do_not_fit_are_rejected() {
    // A Dense kernel for 10 inputs after a Flatten that gives 12.
    let mut model = Sequential::new(&[2, 2, 3], 0);
    model.add(Flatten::new()).unwrap();
    let mut bytes = encode(&model).unwrap();
    // Rewrite the layer count and append, by hand, Dense(2, softmax) with a 10 × 2 kernel.
    let count_at = bytes.len() - 5;
    bytes[count_at..count_at + 4].copy_from_slice(&2u32.to_le_bytes());
    bytes.push(5);
    bytes.extend(10u32.to_le_bytes());
    bytes.extend(2u32.to_le_bytes());
    bytes.push(2);
    bytes.extend(std::iter::repeat_n(0u8, 4 * 22));
    let message = reason(decode(&bytes));
    assert!(message.contains("layer 2") && message.contains("10 inputs"), "{message}");
}

//! Saving and loading models: round trips, and clear errors (never a panic) for bad files.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use convnets::error::{ModelFileError, ModelFileProblem};
use convnets::save::{MAGIC, check_can_save, decode, encode, load_model, save_model, write_atomically};
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
    let temporary = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".book.model."))
        .count();
    assert_eq!(temporary, 0, "no temporary file is left");
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

// ---- saves that survive failures ----

/// A new, empty folder for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = temp_path(&format!("saves-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The problem of a failed save.
fn save_problem(result: convnets::Result<()>) -> ModelFileProblem {
    match result {
        Err(Error::ModelFile(ModelFileError { problem, .. })) => problem,
        other => panic!("expected a model-file error, got {other:?}"),
    }
}

#[test]
fn a_failed_save_leaves_the_old_model_and_no_temporary_file() {
    let dir = fresh_dir("failed");
    let path = dir.join("m.bin");
    let old = small_model(1, false, false);
    save_model(&old, &path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();
    // The write fails half-way (a full disk, say).
    let result = write_atomically(&path, |file| {
        file.write_all(&old_bytes[..10])?;
        Err(std::io::Error::other("the disk is full"))
    });
    assert_eq!(result.unwrap_err().to_string(), "the disk is full");
    assert_eq!(std::fs::read(&path).unwrap(), old_bytes, "the old model is intact");
    assert_eq!(names(&dir), ["m.bin"], "no temporary file is left");
    // A model that cannot be saved at all fails before anything is written.
    struct Unsaveable(Flatten);
    impl convnets::Layer for Unsaveable {
        fn kind(&self) -> &'static str {
            "unsaveable"
        }
        fn class_name(&self) -> &'static str {
            "Unsaveable"
        }
        fn build(&mut self, s: &[usize], init: &mut convnets::init::Init) -> convnets::Result<Vec<usize>> {
            self.0.build(s, init)
        }
        fn param_count(&self) -> usize {
            0
        }
        fn forward(&mut self, x: &Tensor) -> convnets::Result<&Tensor> {
            self.0.forward(x)
        }
        fn backward(&mut self, dy: &Tensor) -> convnets::Result<&Tensor> {
            self.0.backward(dy)
        }
    }
    let mut odd = Sequential::new(&[2, 2, 1], 0);
    odd.add(Unsaveable(Flatten::new())).unwrap();
    assert!(save_model(&odd, &path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), old_bytes, "the old model is intact");
    assert_eq!(names(&dir), ["m.bin"]);
}

#[test]
fn saving_onto_a_folder_fails_cleanly() {
    // This used to leave `<folder>.tmp` behind.
    let dir = fresh_dir("onto-folder");
    let target = dir.join("a-folder");
    std::fs::create_dir(&target).unwrap();
    let problem = save_problem(save_model(&small_model(2, false, false), &target));
    assert!(
        matches!(&problem, ModelFileProblem::Write { kind: std::io::ErrorKind::IsADirectory, message } if message.contains("is a folder")),
        "{problem}"
    );
    assert!(target.is_dir());
    assert_eq!(names(&dir), ["a-folder"], "nothing is left beside it");
    assert!(names(&target).is_empty(), "nothing is written inside it");
}

#[test]
fn saving_into_a_missing_folder_fails_before_writing() {
    let dir = fresh_dir("missing");
    let path = dir.join("no-such-folder").join("m.bin");
    let problem = save_problem(save_model(&small_model(3, false, false), &path));
    assert!(
        matches!(problem, ModelFileProblem::Write { kind: std::io::ErrorKind::NotFound, .. }),
        "{problem}"
    );
    assert!(names(&dir).is_empty());
}

#[cfg(unix)]
#[test]
fn a_link_at_a_temporary_name_is_never_followed() {
    let dir = fresh_dir("links");
    let victim = dir.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // Links at the names a save of `m.bin` would pick first (this process's counter is still
    // small: only a few saves run before this one).
    let pid = std::process::id();
    for n in 0..200 {
        std::os::unix::fs::symlink(&victim, dir.join(format!(".m.bin.{pid}.{n}.tmp"))).unwrap();
    }
    let path = dir.join("m.bin");
    let model = small_model(4, true, true);
    save_model(&model, &path).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "nothing was written through a link");
    assert_eq!(
        decode(&std::fs::read(&path).unwrap()).unwrap().layer_specs().unwrap(),
        model.layer_specs().unwrap()
    );
    assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
    for n in 0..200 {
        let link = dir.join(format!(".m.bin.{pid}.{n}.tmp"));
        assert_eq!(std::fs::read_link(&link).unwrap(), victim, "the links are left alone");
    }
    assert_eq!(names(&dir).len(), 202);
}

#[test]
fn saves_at_the_same_time_never_mix() {
    let dir = fresh_dir("concurrent");
    let path = dir.join("m.bin");
    let models: Vec<Vec<u8>> =
        (0..4).map(|seed| encode(&small_model(seed, seed % 2 == 0, false)).unwrap()).collect();
    std::thread::scope(|s| {
        for seed in 0..4 {
            let path = &path;
            s.spawn(move || {
                for _ in 0..5 {
                    save_model(&small_model(seed, seed % 2 == 0, false), path).unwrap();
                }
            });
        }
    });
    assert!(models.contains(&std::fs::read(&path).unwrap()), "the file is one whole model");
    assert_eq!(names(&dir), ["m.bin"]);
}

#[test]
fn check_can_save_says_where_a_save_would_fail() {
    let dir = fresh_dir("check");
    check_can_save(&dir.join("m.bin")).unwrap();
    assert!(names(&dir).is_empty(), "the check leaves nothing behind");
    let problem = save_problem(check_can_save(&dir.join("missing").join("m.bin")));
    assert!(problem.to_string().contains("does not exist"), "{problem}");
    let problem = save_problem(check_can_save(&dir));
    assert!(problem.to_string().contains("is a folder"), "{problem}");
}

//! The command line refuses what makes no sense before doing any work: flags out of range, a
//! `--save` path it could not write, a model that does not classify 28×28 MNIST digits into
//! 10 classes. Each refusal names the flag (or the model) and says why. These tests run the
//! built binary; the data folder they give is usually missing, to show that the refusal
//! comes before any data is read.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use convnets::engine::Isa;
use convnets::idx::{IdxArray, IdxData, write_idx_file};
use convnets::mnist::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
use convnets::save::save_model;

fn convnets(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convnets")).args(args).output().expect("the binary runs")
}

fn temp_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}-{name}", std::process::id()))
}

/// Runs `args`, which must fail, and returns what it printed on stderr.
fn refusal(args: &[&str]) -> String {
    let out = convnets(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(!stderr.contains("MNIST directory"), "{args:?} read the data first: {stderr}");
    stderr
}

const NO_DATA: &str = "/nonexistent/mnist";

#[test]
fn train_refuses_zero_epochs() {
    let e = refusal(&["train", "--epochs", "0", "--data", NO_DATA]);
    assert!(e.contains("--epochs 0: train for at least 1 epoch"), "{e}");
    let e = refusal(&["train", "--epochs", "0", "--save", "/tmp/never.bin", "--data", NO_DATA]);
    assert!(e.contains("--epochs 0"), "{e}");
    let e = refusal(&["experiment", "no-max-pool", "--epochs", "0", "--data", NO_DATA]);
    assert!(e.contains("--epochs 0"), "{e}");
}

#[test]
fn train_refuses_a_learning_rate_that_is_not_finite_and_positive() {
    for rate in ["0", "-1", "-0.001", "nan", "inf", "-inf"] {
        let flag = format!("--learning-rate={rate}");
        let e = refusal(&["train", &flag, "--data", NO_DATA]);
        assert!(e.contains("--learning-rate") && e.contains("finite number above 0"), "{rate}: {e}");
    }
}

#[test]
fn train_refuses_batch_sizes_that_cannot_work() {
    let e = refusal(&["train", "--batch-size", "0", "--data", NO_DATA]);
    assert!(e.contains("--batch-size 0: a step needs at least 1 image"), "{e}");
    // It used to allocate 1.8 GB and abort after 12 s.
    let e = refusal(&["train", "--batch-size", "1000000", "--data", NO_DATA]);
    assert!(e.contains("--batch-size 1000000: at most 2048 images per step"), "{e}");
}

#[test]
fn train_refuses_other_flags_out_of_range() {
    let e = refusal(&["train", "--limit", "0", "--data", NO_DATA]);
    assert!(e.contains("--limit 0"), "{e}");
    let e = refusal(&["train", "--threads", "100000", "--data", NO_DATA]);
    assert!(e.contains("--threads 100000: at most 1024"), "{e}");
    let e = refusal(&["evaluate", "--model", "m.bin", "--threads", "5000", "--data", NO_DATA]);
    assert!(e.contains("--threads 5000"), "{e}");
}

#[test]
fn train_refuses_a_save_path_it_could_not_write() {
    // It used to fail only after the whole training run, and skip the test report.
    let e = refusal(&["train", "--save", "/nonexistent-dir/m.bin", "--data", NO_DATA]);
    assert!(
        e.contains("--save /nonexistent-dir/m.bin: cannot save there") && e.contains("does not exist"),
        "{e}"
    );
    // Onto a folder: refused, and nothing left beside it (it used to leave `<dir>.tmp`).
    let dir = temp_path("save-onto-folder");
    std::fs::create_dir_all(dir.join("model.bin")).unwrap();
    let target = dir.join("model.bin");
    let e = refusal(&["train", "--save", target.to_str().unwrap(), "--data", NO_DATA]);
    assert!(e.contains("is a folder"), "{e}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(left.len(), 1, "only the folder itself: {left:?}");
}

/// Saves `model` to a temporary file and returns its path.
fn saved(name: &str, model: &convnets::Sequential) -> PathBuf {
    let path = temp_path(name);
    save_model(model, &path).unwrap();
    path
}

#[test]
fn commands_refuse_models_that_do_not_classify_mnist_before_reading_data() {
    let five_classes = saved("five.bin", &common::tiny_convnet(&[28, 28, 1], 5, 0));
    let one_class = saved("one.bin", &common::model(&[28, 28, 1], 0).flatten().softmax(1));
    let other_input = saved("32x32.bin", &common::tiny_convnet(&[32, 32, 1], 10, 0));
    let picture = temp_path("digit.pgm");
    std::fs::write(&picture, [b"P5 2 2 255\n".as_slice(), &[0, 255, 255, 0]].concat()).unwrap();
    let picture = picture.to_str().unwrap();
    for (model, needle) in [
        (&five_classes, "outputs shape [5] per sample, but classifying MNIST digits needs 10 classes"),
        (&one_class, "outputs shape [1] per sample"),
        (&other_input, "takes inputs of shape [32, 32, 1], but classifying MNIST digits needs [28, 28, 1]"),
    ] {
        let model = model.to_str().unwrap();
        let out = temp_path("visualize-out");
        for args in [
            vec!["evaluate", "--model", model, "--data", NO_DATA],
            vec!["predict", "--model", model, picture],
            vec!["visualize", "--model", model, "--out", out.to_str().unwrap(), "--data", NO_DATA],
        ] {
            let e = refusal(&args);
            assert!(e.contains(needle), "{args:?}: {e}");
        }
        assert!(!out.exists(), "visualize wrote nothing");
    }
}

/// A tiny MNIST of `train` training images and `test` test images.
fn tiny_mnist(name: &str, train: usize, test: usize) -> PathBuf {
    let dir = temp_path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |file: &str, dims: Vec<usize>, data: Vec<u8>| {
        let array = IdxArray::new(dims, IdxData::U8(data)).unwrap();
        write_idx_file(dir.join(format!("{file}.gz")), &array, true).unwrap();
    };
    let pixels = |n: usize| (0..n * 784).map(|i| (i * 37 % 256) as u8).collect();
    write(TRAIN_IMAGES, vec![train, 28, 28], pixels(train));
    write(TRAIN_LABELS, vec![train], (0..train).map(|i| (i % 10) as u8).collect());
    write(TEST_IMAGES, vec![test, 28, 28], pixels(test));
    write(TEST_LABELS, vec![test], (0..test).map(|i| (i % 10) as u8).collect());
    dir
}

#[test]
fn visualize_with_an_empty_test_set_says_so() {
    // It used to print "(0 to 18446744073709551615)".
    let data = tiny_mnist("empty-test-set", 2, 0);
    let model = saved("book-for-visualize.bin", &convnets::model::book_model(0).unwrap());
    let out = temp_path("visualize-empty");
    let args = ["visualize", "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let e = refusal(&[&args[..], &["--data", data.to_str().unwrap()]].concat());
    assert!(e.contains("--index 0: the test set is empty"), "{e}");
    let data = tiny_mnist("three-test-images", 2, 3);
    let e = refusal(&[&args[..], &["--data", data.to_str().unwrap(), "--index", "3"]].concat());
    assert!(e.contains("--index 3: there is no test image 3 (0 to 2)"), "{e}");
}

#[test]
fn a_batch_larger_than_the_data_is_capped_with_a_message() {
    let data = tiny_mnist("five-images", 5, 3);
    let model = temp_path("trained.bin");
    let out = convnets(&[
        "train",
        "--epochs",
        "1",
        "--batch-size",
        "100",
        "--data",
        data.to_str().unwrap(),
        "--save",
        model.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("--batch-size 100 is more than the 5 training images: using batches of 5"),
        "{stdout}"
    );
    assert!(stdout.contains("batch size 5"), "{stdout}");
    assert!(stdout.contains("test accuracy"), "{stdout}");
    // The saved model evaluates.
    let out = convnets(&["evaluate", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn training_names_the_instructions_its_loops_use() {
    // The best the processor has, or the lower set `CONVNETS_ISA` asks for: every processor
    // has the portable loops, and an AVX2 or AVX-512 one also has AVX2's.
    let data = tiny_mnist("isa", 4, 2);
    let mut asked = vec![Isa::Portable, Isa::detected().min(Isa::Avx2)];
    asked.dedup();
    for isa in asked {
        let out = Command::new(env!("CARGO_BIN_EXE_convnets"))
            .args(["train", "--epochs", "1", "--batch-size", "2", "--data", data.to_str().unwrap()])
            .env("CONVNETS_ISA", isa.name())
            .output()
            .expect("the binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!(", {} loops", isa.name())), "{isa:?}: {stdout}");
    }
}

/// `--help` is read in a terminal, not in rustdoc: no help text may show a doc link's
/// brackets (as doc comments used as help would).
#[test]
fn help_shows_no_rustdoc_links() {
    for command in ["summary", "train", "predict", "visualize", "experiment", "serve", "evaluate"] {
        let out = convnets(&[command, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && help.contains("Usage:"), "{command} --help: {help}");
        assert!(
            !help.contains("[`") && !help.contains("`]"),
            "{command} --help shows a rustdoc link: {help}"
        );
    }
}

//! The experiments end to end on a small synthetic MNIST (the real one is not needed in tests).

use convnets::Tensor;
use convnets::experiment::{Split, max_vs_average, small_data, table, transfer, transfer_table};
use convnets::mnist::Mnist;

/// `n` 28×28 images whose class `c` is a bright bar in row band `c` (easy to learn), labels
/// cycling through 0..10.
fn synthetic(n: usize) -> (Tensor, Vec<u8>) {
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let mut x = vec![0.0f32; n * 784];
    for (i, &label) in labels.iter().enumerate() {
        let row = 2 + 2 * label as usize + i % 2;
        for col in 4..24 {
            x[i * 784 + row * 28 + col] = 1.0;
        }
    }
    (Tensor::new(&[n, 28, 28, 1], x).unwrap(), labels)
}

fn fake_mnist() -> Mnist {
    let (train_images, train_labels) = synthetic(1200);
    let (test_images, test_labels) = synthetic(200);
    Mnist { train_images, train_labels, test_images, test_labels }
}

#[test]
fn splits_pick_and_relabel_classes() {
    let (images, labels) = synthetic(40);
    let split = Split::of_classes(&images, &labels, &[7, 5], 3).unwrap();
    assert_eq!(split.len(), 3);
    // Labels 5, 7, 5 in file order become classes 1, 0, 1 (the order [7, 5] gives them).
    assert_eq!(split.y.data(), &[0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
    assert_eq!(split.x.data(), images.gather(&[5, 7, 15]).unwrap().data());
}

#[test]
fn the_small_data_and_pooling_experiments_run_and_report() {
    let data = fake_mnist();
    let runs = small_data(&data, 2).unwrap();
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!((run.train_accuracy.len(), run.val_accuracy.len(), run.val_loss.len()), (2, 2, 2));
        assert_eq!(run.params, 93_322);
    }
    assert_ne!(runs[0].train_loss, runs[1].train_loss, "augmentation changes the training");
    let text = table(&runs);
    assert!(text.contains("| 1,000 images | 93,322 |"), "{text}");
    assert!(text.lines().count() == 4);

    let pooling = max_vs_average(&data).unwrap();
    assert_eq!(pooling.len(), 2);
    assert!(pooling.iter().all(|r| r.val_accuracy.len() == 5));
}

#[test]
fn the_transfer_experiment_reports_every_variant_and_seed() {
    let data = fake_mnist();
    let result = transfer(&data, &[0, 1], 1).unwrap();
    assert!(result.pretrained_accuracy > 0.5, "the bars are easy: {}", result.pretrained_accuracy);
    let names: Vec<&str> = result.variants.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["(a) from scratch", "(b) frozen base", "(c) frozen base, augmented", "(d) fine-tuned"]
    );
    assert!(result.variants.iter().all(|(_, accuracies)| accuracies.len() == 2));
    assert_eq!(result.runs[3].val_accuracy.len(), 2, "fine-tuning: the head's epoch, then the tuned one");
    let text = transfer_table(&result);
    assert!(text.contains("| (d) fine-tuned |") && text.contains("seed 1"), "{text}");
}

//! Labels and accuracy: one-hot encoding, predicted classes, and the fraction right.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One-hot rows for class labels, as Keras's `to_categorical`: label 3 of 10 classes
/// becomes `[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]`. A label outside `0..classes` is an error.
pub fn to_categorical(labels: &[u8], classes: usize) -> Result<Tensor> {
    let mut data = vec![0.0; labels.len() * classes];
    for (i, &label) in labels.iter().enumerate() {
        let label = usize::from(label);
        if label >= classes {
            return Err(Error::shape(format!(
                "label {label} at position {i} is not one of {classes} classes"
            )));
        }
        data[i * classes + label] = 1.0;
    }
    Tensor::new(&[labels.len(), classes], data)
}

/// The index of the largest value of each row (the first one on a tie, as `np.argmax`).
pub fn argmax_rows(values: &Tensor) -> Result<Vec<usize>> {
    let [_, classes] = values.shape()[..] else {
        return Err(Error::shape(format!("expected (batch, classes), got {:?}", values.shape())));
    };
    Ok(values
        .data()
        .chunks(classes.max(1))
        .map(|row| (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best }))
        .collect())
}

/// How many rows of `probs` pick the same class as one-hot `targets` (the shapes must match).
pub fn count_correct(probs: &Tensor, targets: &Tensor) -> Result<usize> {
    if probs.shape() != targets.shape() {
        return Err(Error::shape(format!(
            "predictions {:?} and targets {:?} differ in shape",
            probs.shape(),
            targets.shape()
        )));
    }
    let (predicted, expected) = (argmax_rows(probs)?, argmax_rows(targets)?);
    Ok(predicted.iter().zip(&expected).filter(|(p, e)| p == e).count())
}

/// The fraction of rows whose largest prediction is the target's class (Keras's
/// `accuracy` for one-hot targets).
pub fn accuracy(probs: &Tensor, targets: &Tensor) -> Result<f64> {
    let right = count_correct(probs, targets)?;
    let rows = probs.shape().first().copied().unwrap_or(0);
    Ok(if rows == 0 { 0.0 } else { right as f64 / rows as f64 })
}

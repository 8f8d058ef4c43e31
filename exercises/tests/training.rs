//! Grades `exercises/src/training.rs`.

exercises::graded!(training: one_hot, accuracy, rmsprop_step, train_step);

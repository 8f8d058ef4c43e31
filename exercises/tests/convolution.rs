//! Grades `exercises/src/convolution.rs`.

exercises::graded!(convolution: output_value, conv2d_forward);

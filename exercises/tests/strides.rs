//! Grades `exercises/src/strides.rs`.

exercises::graded!(strides: input_index, conv2d_strided);

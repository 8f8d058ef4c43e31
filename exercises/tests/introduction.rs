//! Grades `exercises/src/introduction.rs`.

exercises::graded!(introduction: nhwc_offset, conv2d_params, dense_params);

//! Grades `exercises/src/im2col.rs`.

exercises::graded!(im2col: im2col, matmul, conv2d_gemm);

//! Grades `exercises/src/max_pooling.rs`.

exercises::graded!(max_pooling: max_pool_forward, avg_pool_forward);

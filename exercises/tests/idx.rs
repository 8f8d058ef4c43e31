//! Grades `exercises/src/idx.rs`.

exercises::graded!(idx: read_be_u32, parse_idx_header, decode_values);

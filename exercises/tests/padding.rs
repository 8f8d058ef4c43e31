//! Grades `exercises/src/padding.rs`.

exercises::graded!(padding: out_len, same_pads, zero_pad);

//! Splitting a batch into runs, one per thread, and adding the runs' sums back in order.
//!
//! Images are independent in a forward pass, so each thread can take a *run* of consecutive
//! images with its own slices of every buffer. A weight gradient is a sum over all images:
//! each run sums its own images into a buffer of its own, and the runs' sums are then added
//! in run order, so that a given thread count always gives the same bits, whichever thread
//! finishes first.

/// Samples per parallel run: the batch split as evenly as the threads allow.
pub fn samples_per_run(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// Adds each of `parts` to `total`, in order.
pub fn add_in_order<'a>(parts: impl IntoIterator<Item = &'a [f32]>, total: &mut [f32]) {
    for part in parts {
        total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
    }
}

/// Adds runs' weight gradients in order: each part holds a kernel gradient followed by a
/// bias gradient, `dkernel.len() + dbias.len()` values.
pub fn add_weight_grads_in_order<'a>(
    parts: impl IntoIterator<Item = &'a [f32]>,
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    for part in parts {
        let (dk, db) = part.split_at(dkernel.len());
        add_in_order([dk], dkernel);
        add_in_order([db], dbias);
    }
}

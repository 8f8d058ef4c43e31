//! Weight initialisation as Keras does it: Glorot-uniform kernels, zero biases.

use rand::Rng;
use rand_distr::{Distribution, Uniform};

/// `fan_in + fan_out` values drawn from `U(-limit, limit)` with
/// `limit = sqrt(6 / (fan_in + fan_out))` (Glorot & Bengio, 2010; Keras's default).
///
/// For a dense kernel `(in, out)` the fans are `in` and `out`; for a conv kernel
/// `(kh, kw, in_c, out_c)` they are `kh·kw·in_c` and `kh·kw·out_c`.
pub fn glorot_uniform(len: usize, fan_in: usize, fan_out: usize, rng: &mut impl Rng) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
    let uniform = Uniform::new_inclusive(-limit, limit);
    (0..len).map(|_| uniform.sample(rng)).collect()
}

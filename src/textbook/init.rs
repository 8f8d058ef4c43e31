//! Weight initialisation as Keras does it: Glorot-uniform kernels, zero biases.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Uniform};

/// `len` values drawn from `U(-limit, limit)` with `limit = sqrt(6 / (fan_in + fan_out))`
/// (Glorot & Bengio, 2010; Keras's default).
///
/// For a dense kernel `(in, out)` the fans are `in` and `out`; for a conv kernel
/// `(kh, kw, in_c, out_c)` they are `kh·kw·in_c` and `kh·kw·out_c`.
pub fn glorot_uniform(len: usize, fan_in: usize, fan_out: usize, rng: &mut impl Rng) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
    let uniform = Uniform::new_inclusive(-limit, limit);
    (0..len).map(|_| uniform.sample(rng)).collect()
}

/// Where a layer's first weights come from: a seeded random source handed to
/// [`Layer::build`](crate::layer::Layer::build), so that a model's seed fixes every layer's
/// start. A layer of your own calls [`Init::glorot_uniform`] and needs no random-number crate.
#[derive(Debug, Clone)]
pub struct Init {
    rng: StdRng,
}

impl Init {
    /// A source whose draws are fixed by `seed`.
    pub fn new(seed: u64) -> Init {
        Init { rng: StdRng::seed_from_u64(seed) }
    }

    /// The next `len` Glorot-uniform values for a kernel with these fans (see
    /// [`glorot_uniform`]).
    pub fn glorot_uniform(&mut self, len: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        glorot_uniform(len, fan_in, fan_out, &mut self.rng)
    }
}

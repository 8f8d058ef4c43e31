//! Which vector instructions the hand-blocked loops run with, chosen when the program runs.
//!
//! One binary carries every variant of the direct loops ([`super::direct`]): compiled for
//! AVX-512, for AVX2 with fused multiply-adds, and for any processor. At the first call it
//! asks the processor what it has and uses the best variant it can, so that a binary built
//! on one machine runs at full speed on another. The environment variable `CONVNETS_ISA`
//! (`portable`, `avx2` or `avx512`) asks for a lower one, to measure or test it on a machine
//! that has more; a variant the processor lacks is never used.

use std::sync::OnceLock;

/// A set of vector instructions the loops can be compiled for, from the least to the most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Whatever the target has without asking: SSE2 on every x86-64, NEON on aarch64.
    Portable,
    /// AVX2 and FMA: sixteen 256-bit registers of 8 `f32`, and fused multiply-adds.
    Avx2,
    /// AVX-512: thirty-two 512-bit registers of 16 `f32`.
    Avx512,
}

impl Isa {
    /// The best set this processor has.
    pub fn detected() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(detect)
    }

    /// Every set this processor has, from the least.
    pub fn available() -> Vec<Isa> {
        [Isa::Portable, Isa::Avx2, Isa::Avx512].into_iter().filter(|&isa| isa <= Isa::detected()).collect()
    }

    /// The set the loops use: the best this processor has, or the one `CONVNETS_ISA` asks
    /// for if it has that.
    pub fn current() -> Isa {
        static CURRENT: OnceLock<Isa> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let asked = std::env::var("CONVNETS_ISA").ok().and_then(|name| Isa::from_name(&name));
            asked.map_or(Isa::detected(), |isa| isa.min(Isa::detected()))
        })
    }

    /// `isa`, or the best set the processor has if it lacks `isa`: what a kernel can run.
    pub fn supported(self) -> Isa {
        self.min(Isa::detected())
    }

    /// The set called `name` (`portable`, `avx2` or `avx512`).
    pub fn from_name(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "portable" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// The set's name, as `CONVNETS_ISA` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    if avx2 && is_x86_feature_detected!("avx512f") {
        Isa::Avx512
    } else if avx2 {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Portable
}

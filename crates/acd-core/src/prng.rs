//! A tiny deterministic mixer for the seeded-random pick strategy and stable string hashes.
//!
//! The core must give the same commands for the same events, so it cannot use a randomly
//! seeded hasher or an external RNG whose stream might change between versions. SplitMix64 is a
//! well-known, high-quality 64-bit mixer; FNV-1a gives a stable hash of agent ids.

/// One SplitMix64 step applied to `x` (a bijective mix of the input).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over bytes: stable across runs and platforms.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash
}

/// Maps a 64-bit value onto [0, 1).
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_spread() {
        assert_eq!(splitmix64(0), splitmix64(0));
        assert_ne!(splitmix64(1), splitmix64(2));
        assert_eq!(fnv1a(b"2001"), fnv1a(b"2001"));
        assert_ne!(fnv1a(b"2001"), fnv1a(b"2002"));
        let mean: f64 = (0..1000u64).map(|i| unit(splitmix64(i))).sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
        assert!((0..1000u64).all(|i| (0.0..1.0).contains(&unit(splitmix64(i)))));
    }
}

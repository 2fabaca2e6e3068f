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

    /// SplitMix64 as a generator: the state advances by the golden gamma and each output is
    /// the mix of the new state. The values for seed 0 are the published reference outputs;
    /// pinning them (and a few other seeds) means a changed constant or shift cannot slip by,
    /// which would silently change every seeded-random pick.
    #[test]
    fn splitmix64_matches_golden_values() {
        const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        let golden: [(u64, [u64; 3]); 4] = [
            (
                0,
                [
                    0xE220_A839_7B1D_CDAF,
                    0x6E78_9E6A_A1B9_65F4,
                    0x06C4_5D18_8009_454F,
                ],
            ),
            (
                1,
                [
                    0x910A_2DEC_8902_5CC1,
                    0xBEEB_8DA1_658E_EC67,
                    0xF893_A2EE_FB32_555E,
                ],
            ),
            (
                42,
                [
                    0xBDD7_3226_2FEB_6E95,
                    0x28EF_E333_B266_F103,
                    0x4752_6757_130F_9F52,
                ],
            ),
            (
                0xDEAD_BEEF,
                [
                    0x4ADF_B90F_68C9_EB9B,
                    0xDE58_6A31_41A1_0922,
                    0x021F_BC2F_8E1C_FC1D,
                ],
            ),
        ];
        for (seed, outputs) in golden {
            let mut state = seed;
            for (i, expected) in outputs.into_iter().enumerate() {
                assert_eq!(splitmix64(state), expected, "seed {seed:#x}, output {i}");
                state = state.wrapping_add(GAMMA);
            }
        }
    }

    /// FNV-1a reference values: the offset basis for empty input, the published value for
    /// "a", and an agent id as the engine hashes it.
    #[test]
    fn fnv1a_matches_golden_values() {
        assert_eq!(fnv1a(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xAF63_DC4C_8601_EC8C);
        assert_eq!(fnv1a(b"2001"), 0x183E_2D0B_358B_FAC4);
    }

    #[test]
    fn unit_is_in_range_and_spread() {
        assert_eq!(unit(0), 0.0);
        assert!(unit(u64::MAX) < 1.0);
        let mean: f64 = (0..1000u64).map(|i| unit(splitmix64(i))).sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
        assert!((0..1000u64).all(|i| (0.0..1.0).contains(&unit(splitmix64(i)))));
    }
}

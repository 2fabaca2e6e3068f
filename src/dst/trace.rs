//! The trace of one simulation: a running hash of everything that crossed the network and
//! every command the engine gave (the same seed must give the same hash, byte for byte), and
//! the last lines of it in words for a failure report.

use sha2::{Digest, Sha256};
use std::collections::VecDeque;

/// Lines kept for a failure report (a replay with `--trace` keeps more).
pub const KEEP: usize = 40;

pub struct Trace {
    hash: Sha256,
    last: VecDeque<String>,
    keep: usize,
    pub steps: u64,
    pub frames: u64,
}

impl Trace {
    pub fn keeping(keep: usize) -> Trace {
        Trace {
            keep,
            ..Trace::default()
        }
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            hash: Sha256::new(),
            last: VecDeque::with_capacity(KEEP),
            keep: KEEP,
            steps: 0,
            frames: 0,
        }
    }
}

impl Trace {
    pub fn bytes(&mut self, tag: &[u8], at_ms: u64, bytes: &[u8]) {
        self.frames += 1;
        self.hash.update(tag);
        self.hash.update(at_ms.to_le_bytes());
        self.hash.update((bytes.len() as u64).to_le_bytes());
        self.hash.update(bytes);
    }

    /// A line for the failure report, also folded into the hash.
    pub fn line(&mut self, at_ms: u64, text: String) {
        self.hash.update(at_ms.to_le_bytes());
        self.hash.update(text.as_bytes());
        if self.last.len() >= self.keep {
            self.last.pop_front();
        }
        self.last
            .push_back(format!("{:>9.3}s  {text}", at_ms as f64 / 1000.0));
    }

    pub fn last_lines(&self) -> Vec<String> {
        self.last.iter().cloned().collect()
    }

    pub fn digest(&self) -> String {
        hex::encode(&self.hash.clone().finalize()[..8])
    }
}

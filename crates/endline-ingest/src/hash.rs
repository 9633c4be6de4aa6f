//! FNV-1a: a hash that is the same on every machine and every run (batches, and so the
//! outputs, depend on it), and fast on the short keys ingest looks up (submission keys,
//! question names).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The FNV-1a hasher.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map keyed with FNV-1a.
pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// A hasher for keys that are already FNV-1a hashes: the key is its own hash (hashing
/// it again would only cost time).
#[derive(Default)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with it; anything else is hashed with FNV-1a.
        let mut h = Fnv(self.0 ^ 0xcbf2_9ce4_8422_2325);
        h.write(bytes);
        self.0 = h.finish();
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map keyed by FNV-1a hashes.
pub(crate) type HashedMap<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// A set of FNV-1a hashes.
pub(crate) type HashedSet = HashSet<u64, BuildHasherDefault<Prehashed>>;

/// The FNV-1a hash of a string.
pub(crate) fn fnv(s: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(s.as_bytes());
    h.finish()
}

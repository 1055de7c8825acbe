//! A compact hash index over an arena: finds an arena slot by a key the slot itself holds.
//!
//! Std's `HashMap<K, V>` stores a copy of every key next to its value. Where the key already
//! lives in an arena (a topic level in its tree node, a client id in its session), that
//! copy is a second allocation per entry. [`ArenaIndex`] stores only the slot number and 32
//! bits of the key's hash, 8 bytes per bucket; the caller hashes the key and answers "is
//! slot `i` this key?" from the arena. Open addressing with linear probing and
//! backward-shift deletion (no tombstones), at most 3/4 full.
//!
//! The index hashes nothing itself: callers hash with a keyed hasher (std's `RandomState`),
//! so a client cannot choose keys that collide.

/// Upper bound of the index's bytes per indexed slot: 8-byte buckets, at least 3/8 in use
/// (it grows at 3/4 by doubling and never shrinks below what it indexes), for the memory
/// ceiling.
pub const BYTES_PER_ENTRY: usize = 22;

/// Marks an empty bucket.
const EMPTY: u32 = u32::MAX;
/// Buckets of the first allocation.
const MIN_BUCKETS: usize = 8;

/// One bucket: an arena slot and the low 32 bits of its key's hash.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Low 32 bits of the key's hash: where the probe starts, and a cheap first comparison.
    hash: u32,
    /// Arena slot, or [`EMPTY`].
    slot: u32,
}

const VACANT: Bucket = Bucket {
    hash: 0,
    slot: EMPTY,
};

/// Arena slots by key. See the module documentation.
#[derive(Debug, Default)]
pub struct ArenaIndex {
    /// Power-of-two number of buckets, or none before the first insert.
    buckets: Box<[Bucket]>,
    /// Occupied buckets.
    len: usize,
}

impl ArenaIndex {
    /// Number of slots indexed.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The slot whose key hashes to `hash` and for which `is_key` is true.
    pub fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let hash = hash as u32;
        let mask = self.buckets.len().checked_sub(1)?;
        let mut i = hash as usize & mask;
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return None;
            }
            if b.hash == hash && is_key(b.slot) {
                return Some(b.slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// Indexes `slot` under `hash`. The caller makes sure its key is not indexed yet.
    pub fn insert(&mut self, hash: u64, slot: u32) {
        debug_assert!(slot != EMPTY, "slot number u32::MAX is reserved");
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        self.place(Bucket {
            hash: hash as u32,
            slot,
        });
        self.len += 1;
    }

    /// Removes and returns the slot whose key hashes to `hash` and satisfies `is_key`.
    pub fn remove(&mut self, hash: u64, is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let slot = self.find(hash, is_key)?;
        let mask = self.buckets.len() - 1;
        let mut hole = hash as u32 as usize & mask;
        while self.buckets[hole].slot != slot {
            hole = (hole + 1) & mask;
        }
        // Backward-shift: move later entries of the cluster into the hole when their home
        // bucket is not between the hole and where they sit.
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let b = self.buckets[i];
            if b.slot == EMPTY {
                break;
            }
            let home = b.hash as usize & mask;
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.buckets[hole] = b;
                hole = i;
            }
        }
        self.buckets[hole] = VACANT;
        self.len -= 1;
        Some(slot)
    }

    fn place(&mut self, bucket: Bucket) {
        let mask = self.buckets.len() - 1;
        let mut i = bucket.hash as usize & mask;
        while self.buckets[i].slot != EMPTY {
            i = (i + 1) & mask;
        }
        self.buckets[i] = bucket;
    }

    fn grow(&mut self) {
        let size = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let old = std::mem::replace(&mut self.buckets, vec![VACANT; size].into_boxed_slice());
        for b in old.iter().filter(|b| b.slot != EMPTY) {
            self.place(*b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// A deliberately weak hash, so that long clusters and wrap-around are exercised.
    fn weak(k: &str) -> u64 {
        u64::from(k.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 4)
    }

    #[test]
    fn finds_inserts_and_removes_under_collisions() {
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        let mut index = ArenaIndex::default();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.find(weak(k), |s| keys[s as usize] == *k), None);
            index.insert(weak(k), i as u32);
        }
        assert_eq!(index.len(), 200);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                index.find(weak(k), |s| keys[s as usize] == *k),
                Some(i as u32)
            );
        }
        // Remove every other key; the rest must stay reachable past the holes.
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            assert_eq!(
                index.remove(weak(k), |s| keys[s as usize] == *k),
                Some(i as u32)
            );
        }
        assert_eq!(index.len(), 100);
        for (i, k) in keys.iter().enumerate() {
            let found = index.find(weak(k), |s| keys[s as usize] == *k);
            assert_eq!(found, (i % 2 == 1).then_some(i as u32), "{k}");
        }
        assert_eq!(index.remove(weak("k0"), |s| keys[s as usize] == "k0"), None);
    }

    #[test]
    fn random_operations_agree_with_a_hash_map() {
        let hasher = std::collections::hash_map::RandomState::new();
        let mut model = std::collections::HashMap::new();
        let mut index = ArenaIndex::default();
        let keys: Vec<u32> = (0..64).collect();
        let mut x = 0x2545_f491_u32;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let k = keys[(x % 64) as usize];
            // Only 8 bits of real hash: many keys share buckets and fragments.
            let h = hasher.hash_one(k) & 0xff;
            if x & 0x100 == 0 {
                if model.insert(k, ()).is_none() {
                    index.insert(h, k);
                }
            } else {
                assert_eq!(
                    index.remove(h, |s| s == k).is_some(),
                    model.remove(&k).is_some()
                );
            }
            assert_eq!(index.len(), model.len());
        }
        for k in keys {
            let h = hasher.hash_one(k) & 0xff;
            assert_eq!(index.find(h, |s| s == k).is_some(), model.contains_key(&k));
        }
    }
}

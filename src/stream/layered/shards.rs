//! [`Shards`]: a hash table split into [`SHARDS`] tables by hash, so that growing it never
//! moves more than a shard's entries at once.
//!
//! A hash table doubles when full: it allocates a table twice the size, zeroes its control bytes
//! (the kernel zeroes the fresh pages on first touch, 2 MB at a time with transparent huge pages)
//! and moves every entry. For a map of a million entries that is tens of milliseconds on the
//! processing thread, a stall of reading (`streamify bench --only latency` showed 30-40 ms turns
//! spent in `reserve_rehash` and `clear_page_erms`). Split by hash, each shard doubles on its own,
//! at about a [`SHARDS`]th of the cost, and the doublings of the shards spread over time.
//!
//! The methods are those of [`hashbrown::HashTable`], taking the same full hash; the shard is
//! chosen by bits the shard's own table does not use for small tables (it takes the low bits
//! for the bucket and the top seven for the control byte).

use hashbrown::HashTable;
use hashbrown::hash_table::{AbsentEntry, OccupiedEntry};

/// Tables per map. A map's size is split this many ways; an empty shard costs its header only.
pub const SHARDS: usize = 64;
/// Below this many entries per shard a requested capacity is not spread over the shards: each
/// would allocate a minimum-size table for a few entries.
const SPREAD_FROM: usize = 16;

#[derive(Clone)]
pub struct Shards<T> {
    /// Empty until the first insert, then [`SHARDS`] tables.
    tables: Vec<HashTable<T>>,
}

impl<T> Default for Shards<T> {
    fn default() -> Self {
        Shards::new()
    }
}

fn shard(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

impl<T> Shards<T> {
    pub fn new() -> Self {
        Shards { tables: Vec::new() }
    }

    /// Room for `capacity` entries without growing, if their hashes spread evenly.
    pub fn with_capacity(capacity: usize) -> Self {
        let per = capacity.div_ceil(SHARDS);
        if per < SPREAD_FROM {
            return Shards::new();
        }
        Shards { tables: (0..SHARDS).map(|_| HashTable::with_capacity(per)).collect() }
    }

    fn table_mut(&mut self, hash: u64) -> &mut HashTable<T> {
        if self.tables.is_empty() {
            self.tables = (0..SHARDS).map(|_| HashTable::new()).collect();
        }
        &mut self.tables[shard(hash)]
    }

    pub fn len(&self) -> usize {
        self.tables.iter().map(HashTable::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(HashTable::is_empty)
    }

    pub fn capacity(&self) -> usize {
        self.tables.iter().map(HashTable::capacity).sum()
    }

    pub fn find(&self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<&T> {
        self.tables.get(shard(hash))?.find(hash, eq)
    }

    pub fn find_mut(&mut self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<&mut T> {
        self.tables.get_mut(shard(hash))?.find_mut(hash, eq)
    }

    pub fn find_entry(
        &mut self,
        hash: u64,
        eq: impl FnMut(&T) -> bool,
    ) -> Result<OccupiedEntry<'_, T>, AbsentEntry<'_, T>> {
        self.table_mut(hash).find_entry(hash, eq)
    }

    /// Inserts `value`, whose key no entry has; `hasher` gives an entry's full hash.
    pub fn insert_unique(&mut self, hash: u64, value: T, hasher: impl Fn(&T) -> u64) -> &mut T {
        self.table_mut(hash).insert_unique(hash, value, hasher).into_mut()
    }

    /// Room for `additional` more entries, spread over the shards.
    pub fn reserve(&mut self, additional: usize, hasher: impl Fn(&T) -> u64) {
        let per = additional.div_ceil(SHARDS);
        if per < SPREAD_FROM {
            return;
        }
        self.table_mut(0);
        self.tables.iter_mut().for_each(|t| t.reserve(per, &hasher));
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        self.tables.iter_mut().for_each(|t| t.retain(&mut keep));
    }

    /// Removes every entry, keeping the allocated tables with every slot free again.
    pub fn clear(&mut self) {
        // `drain`, not `clear`: hashbrown's `clear` returns at once on an empty table, which
        // keeps the tombstones its removals left, and those lower the capacity.
        self.tables.iter_mut().for_each(|t| drop(t.drain()));
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.tables.iter().flat_map(HashTable::iter)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.tables.iter_mut().flat_map(HashTable::iter_mut)
    }

    /// Removes up to `budget` entries, handing each to `take`; returns how many.
    pub fn take_some(&mut self, budget: usize, mut take: impl FnMut(T)) -> usize {
        let mut taken = 0;
        for table in self.tables.iter_mut().filter(|t| !t.is_empty()) {
            if taken == budget {
                break;
            }
            let left = budget - taken;
            table.extract_if(|_| true).take(left).for_each(|e| {
                taken += 1;
                take(e)
            });
        }
        taken
    }
}

impl<T> IntoIterator for Shards<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<HashTable<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.tables.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    type Entry = (u64, u64);

    fn hash_of(s: &foldhash::fast::RandomState, k: u64) -> u64 {
        s.hash_one(k)
    }

    #[test]
    fn behaves_as_one_table() {
        let s = foldhash::fast::RandomState::default();
        let rehash = |e: &Entry| hash_of(&s, e.0);
        let mut t: Shards<Entry> = Shards::new();
        assert!(t.is_empty() && t.find(hash_of(&s, 1), |e| e.0 == 1).is_none());
        for k in 0..10_000u64 {
            t.insert_unique(hash_of(&s, k), (k, k * 2), rehash);
        }
        assert_eq!(t.len(), 10_000);
        assert!((0..10_000).all(|k| t.find(hash_of(&s, k), |e| e.0 == k) == Some(&(k, k * 2))));
        assert!(t.tables.iter().all(|table| table.len() > 50), "hashes spread over every shard");
        if let Some(e) = t.find_mut(hash_of(&s, 7), |e| e.0 == 7) {
            e.1 = 0;
        }
        let Ok(seven) = t.find_entry(hash_of(&s, 7), |e| e.0 == 7) else { panic!("7 is there") };
        assert_eq!(seven.remove().0, (7, 0));
        assert!(t.find_entry(hash_of(&s, 7), |e| e.0 == 7).is_err());
        t.retain(|e| e.0 % 2 == 0);
        assert_eq!(t.len(), 5_000, "the even keys (7, removed, is odd)");
        let mut taken = Vec::new();
        assert_eq!(t.take_some(1_000, |e| taken.push(e.0)), 1_000);
        assert!(taken.iter().all(|k| k % 2 == 0 && t.find(hash_of(&s, *k), |e| e.0 == *k).is_none()));
        assert_eq!(t.len(), 4_000);
        assert_eq!(t.take_some(10_000, |_| {}), 4_000);
        assert!(t.is_empty() && t.capacity() > 0, "taking keeps the tables");
    }

    /// Removals from a run of full slots leave tombstones; clearing a table they emptied frees
    /// every slot again, so its capacity is what it was (the hashes are chosen: all fall in one
    /// shard, in consecutive slots).
    #[test]
    fn clearing_an_emptied_table_restores_its_capacity() {
        let mut t: Shards<Entry> = Shards::new();
        let rehash = |e: &Entry| e.0;
        // 224 entries fill a table of 256 slots, slot k holding hash k.
        for k in 0..224u64 {
            t.insert_unique(k, (k, k), rehash);
        }
        let full = t.capacity();
        assert_eq!(full, 224);
        assert_eq!(t.take_some(usize::MAX, drop), 224);
        assert!(t.is_empty() && t.capacity() < full, "the removals left tombstones");
        t.clear();
        assert_eq!(t.capacity(), full);
    }

    #[test]
    fn capacity_is_spread_only_for_sizeable_maps() {
        assert_eq!(Shards::<Entry>::with_capacity(100).capacity(), 0);
        let t = Shards::<Entry>::with_capacity(100_000);
        assert!(t.capacity() >= 100_000 && t.tables.iter().all(|table| table.capacity() >= 100_000 / SHARDS));
    }
}

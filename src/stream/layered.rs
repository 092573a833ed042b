//! [`Layered`]: keyed operator state whose checkpoint is cut in constant time, so that saving a
//! state of millions of keys never stops the processing thread.
//!
//! A layered map is a stack of hash tables, newest on top:
//!
//! - the **live** layer holds every key written or removed since the last cut, with its value
//!   (or a tombstone for a removal): it is the epoch's change set;
//! - **frozen** layers are earlier epochs' live layers, immutable and shared (`Arc`) with the
//!   checkpoint encoder, which writes them off the processing thread;
//! - the **base** holds everything older.
//!
//! A read looks at the layers top down and takes the first entry of its key. The first write of
//! a key in an epoch brings its entry up into the live layer: moved out of the base when no
//! checkpoint holds the base, else copied (copy on write). Once the encoder has let go of a frozen
//! layer, [`Layered::settle`] merges it into the base, a bounded number of entries per call.
//!
//! # What is promised
//!
//! - **L-1 (a map)**: reads, writes, removals, `len` and `iter` behave as one hash map's.
//! - **L-2 (cut in constant time)**: [`Layered::delta`] and [`Layered::whole`] cost the same
//!   whatever the map holds: they freeze the live layer (and share the base), copying nothing.
//!   The [`Delta`] they return holds, for every key written or removed since the previous cut,
//!   its value at the cut or its removal (C-1 of [`super::changelog`]: it serializes as a
//!   [`MapDelta`](super::changelog::MapDelta)); the [`Whole`] holds the map as of the cut.
//! - **L-3 (frozen stays frozen)**: nothing a cut returned changes afterwards, whatever the map
//!   does next; a write never mutates a shared layer.
//! - **L-4 (bounded work)**: a write costs a few hash lookups (one per layer), a value copy only
//!   for a key written again while a checkpoint still holds its layer, and `settle` moves at most
//!   its budget of entries. A cut allocates nothing when a merged layer's table can be reused.

use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

mod shards;
use shards::Shards;

/// The hasher of every layer, seeded at random per process like [`crate::model::StateMap`].
type Hasher = foldhash::fast::RandomState;
/// A layer: keys written since a cut, with their value or `None` for a removal. Layers and the
/// base are [`Shards`], so that growing one never moves a whole map at once.
type Layer<K, V> = Shards<(K, Option<V>)>;
type Base<K, V> = Shards<(K, V)>;

/// A hash map cut for checkpoints in constant time (see the module docs).
pub struct Layered<K, V> {
    hasher: Hasher,
    live: Layer<K, V>,
    /// Earlier epochs' live layers, oldest first, not yet merged into `base`.
    frozen: VecDeque<Arc<Layer<K, V>>>,
    base: Arc<Base<K, V>>,
    /// A frozen layer merged and emptied, kept to be the next live layer: a fresh table of an
    /// epoch's size would be allocated and zeroed at the cut, on the processing thread (with
    /// transparent huge pages, 2 MB at a time: most of a cut's time before).
    spare: Option<Layer<K, V>>,
    len: usize,
    /// A change touched every key (an expiry pass): the next save should be whole.
    whole_next: bool,
}

impl<K, V> Default for Layered<K, V> {
    fn default() -> Self {
        Layered {
            hasher: Hasher::default(),
            live: Layer::new(),
            frozen: VecDeque::new(),
            base: Arc::new(Base::new()),
            spare: None,
            len: 0,
            whole_next: false,
        }
    }
}

/// The changes of one epoch (L-2), shared with the map until written; serializes as a
/// [`MapDelta`](super::changelog::MapDelta): the keys set with their values, then the keys
/// removed.
pub struct Delta<K, V>(Arc<Layer<K, V>>);

/// The whole map as of a cut (L-2).
pub struct Whole<K, V> {
    hasher: Hasher,
    /// Newest first.
    layers: Vec<Arc<Layer<K, V>>>,
    base: Arc<Base<K, V>>,
}

fn same<K: Borrow<Q>, Q: Eq + ?Sized, T>(q: &Q) -> impl Fn(&(K, T)) -> bool + '_ {
    move |(k, _)| k.borrow() == q
}

impl<K: Hash + Eq, V> Layered<K, V> {
    /// The hash of a key, as every layer hashes it.
    pub fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_hashed(self.hash(key), key)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// [`get`](Self::get) with the key's [`hash`](Self::hash).
    pub fn get_hashed<Q>(&self, hash: u64, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        for layer in std::iter::once(&self.live).chain(self.frozen.iter().rev().map(|l| &**l)) {
            if let Some((_, v)) = layer.find(hash, same(key)) {
                return v.as_ref();
            }
        }
        self.base.find(hash, same(key)).map(|(_, v)| v)
    }

    /// Whether a layer below the live one or the base holds `key` (present, not removed).
    fn below<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        for layer in self.frozen.iter().rev() {
            if let Some((_, v)) = layer.find(hash, same(key)) {
                return v.is_some();
            }
        }
        self.base.find(hash, same(key)).is_some()
    }

    /// Inserts `key` with `value`; returns whether the key is new.
    pub fn insert(&mut self, key: K, value: V) -> bool {
        let hash = self.hash(&key);
        if let Some((_, slot)) = self.live.find_mut(hash, |(k, _)| *k == key) {
            let new = slot.is_none();
            *slot = Some(value);
            self.len += usize::from(new);
            return new;
        }
        let new = !self.below(hash, &key);
        let hasher = &self.hasher;
        self.live.insert_unique(hash, (key, Some(value)), |e| hasher.hash_one(&e.0));
        self.len += usize::from(new);
        new
    }

    /// Removes `key`; returns whether it was there.
    pub fn remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        // Kept as a tombstone even for a key new this epoch: the base may have had it before a
        // write moved it up.
        let in_live = self.live.find_mut(hash, same(key)).map(|(_, slot)| slot.take().is_some());
        let removed = match in_live {
            Some(was) => was,
            None if !self.below(hash, key) => false,
            None => {
                let owned = match Arc::get_mut(&mut self.base) {
                    Some(base) => base.find_entry(hash, same(key)).ok().map(|e| e.remove().0.0),
                    None => None,
                };
                let k = match owned {
                    Some(k) => k,
                    None => self.key_below(hash, key).clone(),
                };
                let hasher = &self.hasher;
                self.live.insert_unique(hash, (k, None), |e| hasher.hash_one(&e.0));
                true
            }
        };
        self.len -= usize::from(removed);
        removed
    }

    /// The stored key of an entry some layer below the live one holds.
    fn key_below<Q>(&self, hash: u64, key: &Q) -> &K
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.frozen
            .iter()
            .rev()
            .find_map(|l| l.find(hash, same(key)).map(|(k, _)| k))
            .or_else(|| self.base.find(hash, same(key)).map(|(k, _)| k))
            .expect("a key found below")
    }

    /// Brings the newest entry of `key` into the live layer (L-3: copied out of a shared layer,
    /// moved out of a base no checkpoint holds). Returns whether the live layer now has it.
    fn lift<Q>(&mut self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q> + Clone,
        V: Clone,
        Q: Eq + ?Sized,
    {
        if self.live.find(hash, same(key)).is_some() {
            return true;
        }
        let hasher = &self.hasher;
        let rehash = |e: &(K, Option<V>)| hasher.hash_one(&e.0);
        for layer in self.frozen.iter().rev() {
            if let Some((k, v)) = layer.find(hash, same(key)) {
                self.live.insert_unique(hash, (k.clone(), v.clone()), rehash);
                return true;
            }
        }
        let entry = match Arc::get_mut(&mut self.base) {
            Some(base) => base.find_entry(hash, same(key)).ok().map(|e| e.remove().0),
            None => self.base.find(hash, same(key)).map(|(k, v)| (k.clone(), v.clone())),
        };
        match entry {
            Some((k, v)) => {
                self.live.insert_unique(hash, (k, Some(v)), rehash);
                true
            }
            None => false,
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q> + Clone,
        V: Clone,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.get_mut_hashed(hash, key)
    }

    /// [`get_mut`](Self::get_mut) with the key's [`hash`](Self::hash).
    pub fn get_mut_hashed<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q> + Clone,
        V: Clone,
        Q: Eq + ?Sized,
    {
        if !self.lift(hash, key) {
            return None;
        }
        self.live.find_mut(hash, same(key)).and_then(|(_, v)| v.as_mut())
    }

    /// The value of `key`, inserted by `make` when it has none.
    pub fn get_or_insert_with<Q>(&mut self, key: &Q, make: impl FnOnce() -> V) -> &mut V
    where
        K: Borrow<Q> + Clone,
        V: Clone,
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Into<K>,
    {
        let hash = self.hash(key);
        if !self.lift(hash, key) {
            let hasher = &self.hasher;
            self.live.insert_unique(hash, (key.to_owned().into(), None), |e| hasher.hash_one(&e.0));
        }
        let slot = &mut self.live.find_mut(hash, same(key)).expect("lifted or inserted").1;
        if slot.is_none() {
            self.len += 1;
        }
        slot.get_or_insert_with(make)
    }

    /// The first key (by layer, top down) hashing to `hash` whose value passes `pred`, among the
    /// entries reads see: for a map that finds entries by something other than their key.
    pub fn find_key(&self, hash: u64, pred: impl Fn(&V) -> bool) -> Option<&K> {
        // Top down; not collected, as closing sessions calls this once a session.
        let layers = || std::iter::once(&self.live).chain(self.frozen.iter().rev().map(|l| &**l));
        let shadowed = |upto: usize, k: &K| layers().take(upto).any(|l| l.find(hash, |(x, _)| x == k).is_some());
        for (i, layer) in layers().enumerate() {
            let found = layer.find(hash, |(k, v)| v.as_ref().is_some_and(&pred) && !shadowed(i, k));
            if let Some((k, _)) = found {
                return Some(k);
            }
        }
        self.base.find(hash, |(k, v)| pred(v) && !shadowed(self.frozen.len() + 1, k)).map(|(k, _)| k)
    }

    /// Gives the entry [`find_key`](Self::find_key) finds (the first hashing to `hash` whose
    /// value passes `pred`) to `update`, brought into the live layer as a write would (L-3), and
    /// removes it when `update` says so with its second result; `None` when no entry passes.
    /// When the live layer holds the entry (it was written this epoch) that is two probes of one
    /// table, the second in cache; `find_key`, a clone of the key, `get_mut` and `remove` took
    /// four lookups.
    pub fn update_where<R>(
        &mut self,
        hash: u64,
        pred: impl Fn(&V) -> bool,
        update: impl FnOnce(&K, &mut V) -> (R, bool),
    ) -> Option<R>
    where
        K: Clone,
        V: Clone,
    {
        let passes = |(_, v): &(K, Option<V>)| v.as_ref().is_some_and(&pred);
        if self.live.find(hash, passes).is_none() {
            let key = self.find_key(hash, &pred)?.clone();
            self.lift(hash, &key);
        }
        let (key, slot) = self.live.find_mut(hash, passes)?;
        let (result, remove) = update(key, slot.as_mut()?);
        if remove {
            *slot = None; // a tombstone, as `remove` leaves
            self.len -= 1;
        }
        Some(result)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let layers = std::iter::once(&self.live).chain(self.frozen.iter().rev().map(|l| &**l)).collect();
        visible(&self.hasher, layers, &self.base)
    }

    /// Keeps the entries for which `keep` returns true (it may change them). Walks every key, so
    /// the next save should be whole ([`must_save_whole`](Self::must_save_whole)).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool)
    where
        K: Clone,
        V: Clone,
    {
        self.whole_next = true;
        if self.forget_changes() {
            let base = Arc::get_mut(&mut self.base).expect("collapsed");
            base.retain(|(k, v)| keep(k, v));
            self.len = base.len();
            return;
        }
        // A checkpoint still holds layers: bring every entry up, then filter there.
        let keys: Vec<K> = self.iter().map(|(k, _)| k.clone()).collect();
        for k in &keys {
            let hash = self.hash(k);
            self.lift(hash, k);
        }
        let mut removed = 0;
        for (k, slot) in self.live.iter_mut() {
            if let Some(v) = slot
                && !keep(k, v)
            {
                *slot = None;
                removed += 1;
            }
        }
        self.len -= removed;
    }

    /// Takes what the map holds as saved (after a restore, or before a whole save): merges every
    /// layer, the live one too, into the base, so that the next delta holds only later changes.
    /// Does nothing, and returns false, while a checkpoint holds a layer.
    pub fn forget_changes(&mut self) -> bool {
        if Arc::get_mut(&mut self.base).is_none() || !self.frozen.iter_mut().all(|l| Arc::get_mut(l).is_some()) {
            return false;
        }
        self.settle(usize::MAX);
        let live = std::mem::take(&mut self.live);
        let base = Arc::get_mut(&mut self.base).expect("checked");
        merge(&self.hasher, base, live.into_iter());
        true
    }

    /// Whether a change since the last cut touched every key, so that the next save should be
    /// whole rather than a delta.
    pub fn must_save_whole(&self) -> bool {
        self.whole_next
    }

    /// Ends the epoch: the changes since the last cut (L-2).
    pub fn delta(&mut self) -> Delta<K, V> {
        self.whole_next = false;
        Delta(self.freeze())
    }

    /// Ends the epoch: the whole map (L-2).
    pub fn whole(&mut self) -> Whole<K, V> {
        self.whole_next = false;
        self.freeze();
        Whole {
            hasher: self.hasher.clone(),
            layers: self.frozen.iter().rev().cloned().collect(),
            base: self.base.clone(),
        }
    }

    fn freeze(&mut self) -> Arc<Layer<K, V>> {
        // Room for as many keys as this epoch wrote: a steady stream does not regrow the table.
        let next = match self.spare.take() {
            Some(spare) if spare.capacity() >= self.live.len() => spare,
            _ => Layer::with_capacity(self.live.len()),
        };
        let layer = Arc::new(std::mem::replace(&mut self.live, next));
        if !layer.is_empty() {
            self.frozen.push_back(layer.clone());
        }
        layer
    }

    /// Merges frozen layers that no checkpoint holds any more into the base, oldest first, at
    /// most `budget` entries (L-4). Returns whether layers remain.
    pub fn settle(&mut self, mut budget: usize) -> bool {
        while budget > 0 {
            let Some(front) = self.frozen.front_mut() else { break };
            let (Some(layer), Some(base)) = (Arc::get_mut(front), Arc::get_mut(&mut self.base)) else { break };
            budget -= layer.take_some(budget, |(k, v)| merge(&self.hasher, base, std::iter::once((k, v))));
            if layer.is_empty() {
                let mut emptied = std::mem::take(layer);
                emptied.clear(); // resets its slots (removals leave tombstones)
                self.frozen.pop_front();
                if self.spare.as_ref().is_none_or(|s| s.capacity() < emptied.capacity()) {
                    self.spare = Some(emptied);
                }
            }
        }
        !self.frozen.is_empty()
    }

    /// Layers above the base (for tests and logs).
    pub fn layers(&self) -> usize {
        1 + self.frozen.len()
    }
}

/// Applies a layer's entries to the base.
fn merge<K: Hash + Eq, V>(hasher: &Hasher, base: &mut Base<K, V>, entries: impl Iterator<Item = (K, Option<V>)>) {
    for (k, v) in entries {
        let hash = hasher.hash_one(&k);
        match (base.find_entry(hash, |(b, _)| *b == k), v) {
            (Ok(mut e), Some(v)) => e.get_mut().1 = v,
            (Ok(e), None) => drop(e.remove()),
            (Err(absent), Some(v)) => {
                absent.into_table().insert_unique(hash, (k, v), |e| hasher.hash_one(&e.0));
            }
            (Err(_), None) => {}
        }
    }
}

/// The entries reads see in `layers` (newest first) over `base`.
fn visible<'a, K: Hash + Eq, V>(
    hasher: &'a Hasher,
    layers: Vec<&'a Layer<K, V>>,
    base: &'a Base<K, V>,
) -> impl Iterator<Item = (&'a K, &'a V)> + 'a {
    let layers: Arc<[&'a Layer<K, V>]> = layers.into();
    let shadowed = move |layers: &[&Layer<K, V>], k: &K| {
        let hash = hasher.hash_one(k);
        layers.iter().any(|l| l.find(hash, |(x, _)| x == k).is_some())
    };
    let all = layers.clone();
    let upper = (0..layers.len()).flat_map(move |i| {
        let above = all.clone();
        let layer: &'a Layer<K, V> = all[i];
        layer.iter().filter(move |(k, _)| !shadowed(&above[..i], k)).filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    });
    upper.chain(base.iter().filter(move |(k, _)| !shadowed(&layers, k)).map(|(k, v)| (k, v)))
}

impl<K: Hash + Eq, V> Whole<K, V> {
    /// Every entry as of the cut, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        visible(&self.hasher, self.layers.iter().map(|l| &**l).collect(), &self.base)
    }

    /// Every entry as of the cut, by key: equal maps give equal images.
    pub fn sorted(&self) -> Vec<(&K, &V)>
    where
        K: Ord,
    {
        let mut entries: Vec<_> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries
    }
}

/// Serializes as a map sorted by key, like [`crate::model::sorted_map`].
impl<K: Hash + Eq + Ord + Serialize, V: Serialize> Serialize for Whole<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.sorted())
    }
}

impl<K: Serialize, V: Serialize> Serialize for Delta<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let layer = &self.0;
        let set = Seq(|| layer.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k, v))));
        let removed = Seq(|| layer.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k));
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&set)?;
        t.serialize_element(&removed)?;
        t.end()
    }
}

/// Serializes the items of an iterator made on demand, as a sequence.
struct Seq<F>(F);

impl<F: Fn() -> I, I: Iterator<Item = T>, T: Serialize> Serialize for Seq<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for Layered<K, V> {
    /// A map of `entries` (a later entry of a key replaces an earlier one), all in the base.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = Layered::default();
        let base = Arc::get_mut(&mut map.base).expect("new");
        let entries = entries.into_iter();
        base.reserve(entries.size_hint().0, |e| map.hasher.hash_one(&e.0));
        merge(&map.hasher, base, entries.map(|(k, v)| (k, Some(v))));
        map.len = base.len();
        map
    }
}

impl<K: Hash + Eq, V> Layered<K, V> {
    /// Applies a saved epoch's changes ([`MapDelta`](super::changelog::MapDelta)) straight to the
    /// base when no layer is pending (a restore), else as writes.
    pub fn apply(&mut self, delta: super::changelog::MapDelta<K, V>)
    where
        K: Clone,
    {
        let super::changelog::MapDelta(set, removed) = delta;
        if self.live.is_empty()
            && self.frozen.is_empty()
            && let Some(base) = Arc::get_mut(&mut self.base)
        {
            merge(
                &self.hasher,
                base,
                removed.into_iter().map(|k| (k, None)).chain(set.into_iter().map(|(k, v)| (k, Some(v)))),
            );
            self.len = base.len();
            return;
        }
        for k in removed {
            self.remove(&k);
        }
        for (k, v) in set {
            self.insert(k, v);
        }
    }
}

impl<K: Clone, V: Clone> Clone for Layered<K, V> {
    /// Shares every layer but the live one (L-3 keeps both copies apart).
    fn clone(&self) -> Self {
        Layered {
            hasher: self.hasher.clone(),
            live: self.live.clone(),
            frozen: self.frozen.clone(),
            base: self.base.clone(),
            spare: None,
            len: self.len,
            whole_next: self.whole_next,
        }
    }
}

impl<K: Hash + Eq, V: PartialEq> PartialEq for Layered<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: Hash + Eq + fmt::Debug, V: fmt::Debug> fmt::Debug for Layered<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Serializes as a map sorted by key (equal maps, equal bytes).
impl<K: Hash + Eq + Ord + Serialize, V: Serialize> Serialize for Layered<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        s.collect_map(entries)
    }
}

impl<'de, K: Hash + Eq + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Layered<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = crate::model::StateMap::<K, V>::deserialize(d)?;
        Ok(map.into_iter().collect())
    }
}

#[cfg(test)]
mod tests;

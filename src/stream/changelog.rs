//! Incremental checkpoints: which keys of a map changed since its last save, and the images an
//! operator saves per epoch, its whole state or the changes since the epoch before.
//!
//! # What is promised
//!
//! - **C-1 (replay)**: the state restored from a full image followed by the deltas of each later
//!   epoch, in order, equals the state that saved the last of them. A delta holds, for every key
//!   written or removed during its epoch, the key's value at the save or its removal, and the
//!   small parts of the state (watermarks, counters) whole.
//! - **C-2 (cost)**: a delta costs what changed, not what is held: a key is recorded once per
//!   epoch however often it changes (one hash lookup per write, one copy of the key the first
//!   time), and saving reads only the recorded keys.
//! - A change that touches many keys at once (an expiry pass rewriting every customer) marks the
//!   whole map instead; its next save is then a full image.
//!
//! Deltas list their keys in no particular order; full images stay sorted, so equal states give
//! equal full images.

use crate::model::StateSet;
use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

/// What an operator (or one of its parts) saves for an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Image<F, D> {
    /// The whole state.
    Full(F),
    /// The changes since the previous epoch's image.
    Delta(D),
}

/// The keys of one map written or removed since the last save.
///
/// Bookkeeping for the next save, not part of the state: it is not serialized, and any two
/// compare equal, so that states compare by their content.
#[derive(Clone, Debug)]
pub struct Changes<K> {
    keys: StateSet<K>,
    all: bool,
}

impl<K> Default for Changes<K> {
    fn default() -> Self {
        Changes { keys: StateSet::default(), all: false }
    }
}

impl<K> PartialEq for Changes<K> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<K: Hash + Eq> Changes<K> {
    /// Records that `key` was written or removed; copies the key only the first time per epoch.
    pub fn touch<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Into<K>,
    {
        if !self.all && !self.keys.contains(key) {
            self.keys.insert(key.to_owned().into());
        }
    }

    /// Records that any key may have changed: the next save must be a full image.
    pub fn everything(&mut self) {
        self.all = true;
        self.keys = StateSet::default();
    }

    /// Whether the next save must be a full image.
    pub fn is_everything(&self) -> bool {
        self.all
    }

    /// Keys recorded (none after [`everything`](Self::everything)).
    pub fn touched(&self) -> usize {
        self.keys.len()
    }

    /// Starts the next epoch: nothing changed yet.
    pub fn clear(&mut self) {
        self.all = false;
        let used = self.keys.len();
        self.keys.clear();
        // Room for as many keys as this epoch touched, so a steady stream does not regrow the
        // table every epoch; a burst's room goes after one quieter epoch.
        if self.keys.capacity() > 2 * used.max(1024) {
            self.keys.shrink_to(used.max(1024));
        }
    }

    /// The changes to `map` recorded here, ready to serialize as a [`MapDelta`].
    pub fn of<'a, V, M: Lookup<K, V>>(&'a self, map: &'a M) -> DeltaOf<'a, K, V, M> {
        debug_assert!(!self.all, "a map whose every key changed is saved whole");
        DeltaOf { changes: self, map, value: std::marker::PhantomData }
    }
}

/// Maps a delta can read values from.
pub trait Lookup<K, V> {
    fn lookup(&self, key: &K) -> Option<&V>;
}

impl<K: Hash + Eq, V, S: BuildHasher> Lookup<K, V> for HashMap<K, V, S> {
    fn lookup(&self, key: &K) -> Option<&V> {
        self.get(key)
    }
}

impl<K: Ord, V> Lookup<K, V> for BTreeMap<K, V> {
    fn lookup(&self, key: &K) -> Option<&V> {
        self.get(key)
    }
}

/// The recorded changes of one map, serialized as a [`MapDelta`] without copying values.
pub struct DeltaOf<'a, K, V, M> {
    changes: &'a Changes<K>,
    map: &'a M,
    value: std::marker::PhantomData<V>,
}

impl<K: Hash + Eq + Serialize, V: Serialize, M: Lookup<K, V>> Serialize for DeltaOf<'_, K, V, M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let keys = &self.changes.keys;
        let set = Seq(|| keys.iter().filter_map(|k| self.map.lookup(k).map(|v| (k, v))));
        let removed = Seq(|| keys.iter().filter(|k| self.map.lookup(k).is_none()));
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

/// One map's changes in an epoch, as read back: the keys written, with their values, and the
/// keys removed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MapDelta<K, V>(pub Vec<(K, V)>, pub Vec<K>);

impl<K, V> MapDelta<K, V> {
    /// Applies the changes to a hash map (a key is never both set and removed).
    pub fn apply_to<S: BuildHasher>(self, map: &mut HashMap<K, V, S>)
    where
        K: Hash + Eq,
    {
        let (removed, set) = (self.1, self.0);
        for k in removed {
            map.remove(&k);
        }
        map.extend(set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        rmp_serde::to_vec(value).unwrap()
    }

    proptest! {
        /// C-1 for one map: a full image, then one delta per epoch, replays to the live map.
        #[test]
        fn full_then_deltas_replay_to_the_live_map(
            epochs in prop::collection::vec(prop::collection::vec((0u8..40, prop::option::of(0u32..1000)), 0..60), 1..6),
        ) {
            let mut live: HashMap<u8, u32> = HashMap::new();
            let mut changes = Changes::default();
            let mut images = vec![encode(&Image::<_, ()>::Full(&live))];
            for ops in epochs {
                for (k, v) in ops {
                    match v {
                        Some(v) => { live.insert(k, v); }
                        None => { live.remove(&k); }
                    }
                    changes.touch(&k);
                }
                images.push(encode(&Image::<(), _>::Delta(changes.of(&live))));
                changes.clear();
            }
            let mut restored: HashMap<u8, u32> = HashMap::new();
            for bytes in &images {
                match rmp_serde::from_slice::<Image<HashMap<u8, u32>, MapDelta<u8, u32>>>(bytes).unwrap() {
                    Image::Full(map) => restored = map,
                    Image::Delta(delta) => delta.apply_to(&mut restored),
                }
            }
            prop_assert_eq!(restored, live);
        }
    }

    #[test]
    fn a_key_is_copied_once_per_epoch_and_everything_empties_the_record() {
        let mut changes: Changes<String> = Changes::default();
        changes.touch("a");
        changes.touch("a");
        changes.touch("b");
        assert_eq!(changes.touched(), 2);
        changes.everything();
        changes.touch("c");
        assert!(changes.is_everything() && changes.touched() == 0);
        changes.clear();
        assert!(!changes.is_everything());
        changes.touch("d");
        assert_eq!(changes.touched(), 1);
    }

    #[test]
    fn a_btree_map_delta_lists_set_and_removed_keys() {
        let mut map = BTreeMap::from([(1, "one"), (2, "two")]);
        let mut changes = Changes::default();
        map.remove(&1);
        changes.touch(&1);
        map.insert(3, "three");
        changes.touch(&3);
        let delta: MapDelta<i32, String> = rmp_serde::from_slice(&encode(&changes.of(&map))).unwrap();
        assert_eq!(delta, MapDelta(vec![(3, "three".to_string())], vec![1]));
    }
}

//! [`IdSet`]: an exact set of 64-bit identity hashes, as the KPI windows count distinct customers,
//! devices and merchants with.
//!
//! Most windows are small: a customer's hourly window holds one customer, a device or two and a
//! merchant or two. Up to two members live inline (no allocation, 24 bytes); the third moves the
//! set to a hash table. With a million customers' windows open that is the difference between
//! about 450 bytes and 24 bytes per set.
//!
//! # Invariants
//!
//! - **S-1 a set**: `len` counts distinct inserted values, whatever the representation;
//!   equality is set equality.
//! - **S-2 canonical bytes**: serialization is the sorted list of members, so equal sets give
//!   equal checkpoint bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

#[derive(Clone, Debug, Default)]
pub enum IdSet {
    #[default]
    Empty,
    One(u64),
    Two(u64, u64),
    Many(Box<HashSet<u64, IdState>>),
}

impl IdSet {
    pub fn insert(&mut self, id: u64) {
        *self = match std::mem::take(self) {
            IdSet::Empty => IdSet::One(id),
            IdSet::One(a) if a == id => IdSet::One(a),
            IdSet::One(a) => IdSet::Two(a, id),
            IdSet::Two(a, b) if a == id || b == id => IdSet::Two(a, b),
            IdSet::Two(a, b) => {
                let mut set = HashSet::with_capacity_and_hasher(4, IdState::default());
                set.extend([a, b, id]);
                IdSet::Many(Box::new(set))
            }
            IdSet::Many(mut set) => {
                set.insert(id);
                IdSet::Many(set)
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            IdSet::Empty => 0,
            IdSet::One(_) => 1,
            IdSet::Two(..) => 2,
            IdSet::Many(set) => set.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: u64) -> bool {
        match self {
            IdSet::Empty => false,
            IdSet::One(a) => *a == id,
            IdSet::Two(a, b) => *a == id || *b == id,
            IdSet::Many(set) => set.contains(&id),
        }
    }

    /// The members, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (inline, many) = match self {
            IdSet::Empty => ([None, None], None),
            IdSet::One(a) => ([Some(*a), None], None),
            IdSet::Two(a, b) => ([Some(*a), Some(*b)], None),
            IdSet::Many(set) => ([None, None], Some(set.iter().copied())),
        };
        inline.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Adds `other`'s members.
    pub fn extend(&mut self, other: &IdSet) {
        for id in other.iter() {
            self.insert(id);
        }
    }
}

impl PartialEq for IdSet {
    fn eq(&self, other: &IdSet) -> bool {
        self.len() == other.len() && self.iter().all(|id| other.contains(id))
    }
}

impl Eq for IdSet {}

impl FromIterator<u64> for IdSet {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> IdSet {
        let mut set = IdSet::Empty;
        iter.into_iter().for_each(|id| set.insert(id));
        set
    }
}

impl Serialize for IdSet {
    /// Inline sets are written without collecting them first: a checkpoint writes three sets
    /// for each of a million customer windows.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IdSet::Empty => s.collect_seq([0u64; 0]),
            IdSet::One(a) => s.collect_seq([*a]),
            IdSet::Two(a, b) => s.collect_seq([*a.min(b), *a.max(b)]),
            IdSet::Many(set) => {
                let mut v: Vec<u64> = set.iter().copied().collect();
                v.sort_unstable();
                v.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for IdSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IdSet, D::Error> {
        Vec::<u64>::deserialize(d).map(|v| v.into_iter().collect())
    }
}

/// The hash table's hasher. The values are hashes already, so one seeded multiply mixes them
/// enough (SipHash would triple the cost of an insert); the seed is random per table, so crafted
/// ids cannot be made to collide.
#[derive(Clone, Debug)]
pub struct IdState(u64);

impl Default for IdState {
    fn default() -> Self {
        IdState(std::collections::hash_map::RandomState::new().hash_one(0x5EED_u64))
    }
}

impl BuildHasher for IdState {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.0)
    }
}

pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write_u64(&mut self, x: u64) {
        // Folded multiply: both halves of the 128-bit product, so high and low bits are mixed.
        let product = u128::from(x ^ self.0) * 0x5851_F42D_4C95_7F2D_u128;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_sets_stay_inline() {
        assert_eq!(std::mem::size_of::<IdSet>(), 24);
        let mut s = IdSet::default();
        s.insert(7);
        s.insert(7);
        assert!(matches!(s, IdSet::One(7)));
        s.insert(9);
        s.insert(7);
        assert!(matches!(s, IdSet::Two(7, 9)));
        s.insert(1);
        assert!(matches!(s, IdSet::Many(_)));
        assert_eq!(s.len(), 3);
    }

    proptest! {
        #[test]
        fn s1_s2_behaves_as_a_set_with_canonical_bytes(
            a in proptest::collection::vec(0u64..8, 0..12),
            b in proptest::collection::vec(0u64..8, 0..12),
        ) {
            let mut set: IdSet = a.iter().copied().collect();
            set.extend(&b.iter().copied().collect());
            let model: std::collections::BTreeSet<u64> = a.iter().chain(&b).copied().collect();
            prop_assert_eq!(set.len(), model.len(), "S-1");
            prop_assert!(model.iter().all(|id| set.contains(*id)), "S-1");
            let reversed: IdSet = model.iter().rev().copied().collect();
            prop_assert_eq!(&set, &reversed, "S-1");
            let bytes = rmp_serde::to_vec(&set).unwrap();
            prop_assert_eq!(&bytes, &rmp_serde::to_vec(&reversed).unwrap(), "S-2");
            let sorted: Vec<u64> = model.iter().copied().collect();
            prop_assert_eq!(&bytes, &rmp_serde::to_vec(&sorted).unwrap(), "S-2: the sorted list, whatever the form");
            prop_assert_eq!(rmp_serde::from_slice::<IdSet>(&bytes).unwrap(), set, "S-2");
        }
    }
}

//! [`Open`]: the open sessions by session id, each id's text held once.
//!
//! A million sessions may be open at once, so the id is not copied into the expiry index: the
//! index holds the id's hash and a session number, and [`Open::find`] looks the session up by
//! both (two ids with one hash are told apart by the number, unique among open sessions).

use super::Session;
use crate::stream::changelog::Lookup;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::hash::BuildHasher;

/// One session id's open sessions: disjoint, by ascending start, never empty.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub id: Box<str>,
    pub sessions: Vec<Session>,
}

/// The open sessions, by session id. Serializes as a map sorted by id (equal states, equal bytes).
#[derive(Clone, Default)]
pub(super) struct Open {
    table: hashbrown::HashTable<Entry>,
    /// Seeded at random per process, like [`crate::model::StateMap`]: hashes are not saved.
    hasher: foldhash::fast::RandomState,
}

impl Open {
    pub fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Session ids with open sessions.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn get_mut(&mut self, hash: u64, id: &str) -> Option<&mut Vec<Session>> {
        self.table.find_mut(hash, |e| &*e.id == id).map(|e| &mut e.sessions)
    }

    /// The entry holding session number `number` of an id hashing to `hash`.
    pub fn find(&mut self, hash: u64, number: u64) -> Option<hashbrown::hash_table::OccupiedEntry<'_, Entry>> {
        self.table.find_entry(hash, |e| e.sessions.iter().any(|s| s.id == number)).ok()
    }

    /// Adds `session`, of an id that has no open session yet.
    pub fn insert_new(&mut self, hash: u64, id: &str, session: Session) {
        let hasher = &self.hasher;
        self.table.insert_unique(hash, Entry { id: id.into(), sessions: vec![session] }, |e| hasher.hash_one(&*e.id));
    }

    /// Sets (or, with no sessions, removes) the open sessions of `id`.
    pub fn set(&mut self, id: Box<str>, sessions: Vec<Session>) {
        let hash = self.hash(&id);
        let hasher = &self.hasher;
        match self.table.entry(hash, |e| e.id == id, |e| hasher.hash_one(&*e.id)) {
            hashbrown::hash_table::Entry::Occupied(o) if sessions.is_empty() => drop(o.remove()),
            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().sessions = sessions,
            hashbrown::hash_table::Entry::Vacant(_) if sessions.is_empty() => {}
            hashbrown::hash_table::Entry::Vacant(v) => drop(v.insert(Entry { id, sessions })),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    pub fn into_entries(self) -> impl Iterator<Item = Entry> {
        self.table.into_iter()
    }

    pub fn get(&self, id: &str) -> Option<&Vec<Session>> {
        self.table.find(self.hash(id), |e| &*e.id == id).map(|e| &e.sessions)
    }
}

impl Lookup<Box<str>, Vec<Session>> for Open {
    fn lookup(&self, key: &Box<str>) -> Option<&Vec<Session>> {
        self.get(key)
    }
}

impl PartialEq for Open {
    fn eq(&self, other: &Open) -> bool {
        self.len() == other.len() && self.iter().all(|e| other.get(&e.id) == Some(&e.sessions))
    }
}

impl fmt::Debug for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|e| (&e.id, &e.sessions))).finish()
    }
}

impl Serialize for Open {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<&Entry> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        s.collect_map(entries.into_iter().map(|e| (&e.id, &e.sessions)))
    }
}

impl<'de> Deserialize<'de> for Open {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Open, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Open;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of session ids to their open sessions")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Open, M::Error> {
                let mut open = Open::default();
                open.table.reserve(map.size_hint().unwrap_or(0), |e| open.hasher.hash_one(&*e.id));
                while let Some((id, sessions)) = map.next_entry::<Box<str>, Vec<Session>>()? {
                    open.set(id, sessions);
                }
                Ok(open)
            }
        }
        d.deserialize_map(Entries)
    }
}

use super::*;
use crate::stream::changelog::MapDelta;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u32),
    Update(u8, u32),
    Remove(u8),
    Delta,
    Whole,
    /// Let go of the oldest held image, then settle with this budget.
    Release(usize),
    Retain(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..30, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => (0u8..30, any::<u32>()).prop_map(|(k, v)| Op::Update(k, v)),
        3 => (0u8..30).prop_map(Op::Remove),
        1 => Just(Op::Delta),
        1 => Just(Op::Whole),
        2 => (1usize..8).prop_map(Op::Release),
        1 => (0u32..4).prop_map(Op::Retain),
    ]
}

/// A cut not yet written, and the model as of the cut.
type Held = (Result<Delta<u8, u32>, Whole<u8, u32>>, BTreeMap<u8, u32>);

fn decode<T: serde::de::DeserializeOwned>(value: &impl Serialize) -> T {
    rmp_serde::from_slice(&rmp_serde::to_vec(value).unwrap()).unwrap()
}

proptest! {
    /// L-1 against a BTreeMap; L-2 and L-3: every image, written whenever the map is done
    /// with it, equals the model as of its cut, and deltas replay onto the previous image.
    #[test]
    fn layered_map_behaves_as_a_map_and_its_cuts_stay_as_cut(ops in prop::collection::vec(op(), 0..200)) {
        let mut map: Layered<u8, u32> = Layered::default();
        let mut model: BTreeMap<u8, u32> = BTreeMap::new();
        let mut held: VecDeque<Held> = VecDeque::new();
        // The model as of the previous cut, onto which a delta replays.
        let mut replayed: BTreeMap<u8, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v).is_none()),
                Op::Update(k, v) => {
                    let got = map.get_or_insert_with(&k, || v);
                    *got = got.wrapping_add(1);
                    let want = model.entry(k).or_insert(v);
                    *want = want.wrapping_add(1);
                }
                Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k).is_some()),
                Op::Delta if map.must_save_whole() => {
                    let whole = map.whole();
                    replayed = model.clone();
                    held.push_back((Err(whole), model.clone()));
                }
                Op::Delta => {
                    let delta = map.delta();
                    let MapDelta::<u8, u32>(set, removed) = decode(&delta);
                    for k in removed { replayed.remove(&k); }
                    replayed.extend(set);
                    prop_assert_eq!(&replayed, &model);
                    held.push_back((Ok(delta), model.clone()));
                }
                Op::Whole => {
                    let whole = map.whole();
                    replayed = model.clone();
                    held.push_back((Err(whole), model.clone()));
                }
                Op::Release(budget) => {
                    if let Some((image, then)) = held.pop_front() {
                        match image {
                            Ok(delta) => prop_assert!(delta.0.iter().all(|(k, v)| v.as_ref() == then.get(k))),
                            Err(whole) => prop_assert_eq!(decode::<BTreeMap<u8, u32>>(&whole), then),
                        }
                    }
                    map.settle(budget);
                }
                Op::Retain(m) => {
                    map.retain(|k, v| { *v = v.wrapping_add(1); u32::from(*k) % 4 != m });
                    model.retain(|k, v| { *v = v.wrapping_add(1); u32::from(*k) % 4 != m });
                    prop_assert!(map.must_save_whole());
                }
            }
            prop_assert_eq!(map.len(), model.len());
            for k in 0..30u8 {
                prop_assert_eq!(map.get(&k), model.get(&k));
            }
            let mut all: Vec<(u8, u32)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            all.sort_unstable();
            prop_assert_eq!(all, model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
        }
        for (image, then) in held {
            match image {
                Ok(delta) => prop_assert!(delta.0.iter().all(|(k, v)| v.as_ref() == then.get(k))),
                Err(whole) => prop_assert_eq!(decode::<BTreeMap<u8, u32>>(&whole), then),
            }
        }
    }
}

#[test]
fn a_cut_copies_nothing_and_settling_merges_released_layers_within_the_budget() {
    let mut map: Layered<u32, String> = (0..1000).map(|i| (i, i.to_string())).collect();
    for i in 0..100 {
        map.get_mut(&i).unwrap().push('!');
    }
    let delta = map.delta();
    assert_eq!(delta.0.len(), 100);
    assert_eq!(map.layers(), 2);
    // Held by the checkpoint: a write copies the value up, the frozen layer keeps its own.
    map.get_mut(&0).unwrap().push('?');
    assert_eq!(delta.0.find(map.hash(&0u32), |(k, _)| *k == 0).unwrap().1.as_deref(), Some("0!"));
    assert!(map.settle(1000), "a held layer is not merged");
    drop(delta);
    assert!(map.settle(60), "60 of 100 merged");
    assert!(!map.settle(60));
    assert_eq!((map.layers(), map.len(), map.get(&0).map(String::as_str)), (1, 1000, Some("0!?")));
}

#[test]
fn find_key_sees_through_shadowed_entries() {
    let mut map: Layered<&str, Vec<u64>> = Layered::default();
    map.insert("a", vec![5]);
    let hash = map.hash("a");
    let _whole = map.whole();
    // Session 5 closes: the live layer's newer value no longer holds it.
    map.get_mut("a").unwrap().clear();
    map.get_mut("a").unwrap().push(6);
    assert_eq!(map.find_key(hash, |v| v.contains(&5)), None);
    assert_eq!(map.find_key(hash, |v| v.contains(&6)), Some(&"a"));
    map.remove("a");
    assert_eq!(map.find_key(hash, |v| v.contains(&6)), None);
}

#[test]
fn update_where_updates_or_removes_the_entry_find_key_finds_and_leaves_cuts_alone() {
    let mut map: Layered<String, Vec<u64>> = Layered::default();
    map.insert("a".into(), vec![5, 6]);
    map.insert("b".into(), vec![7]);
    let (a, b) = (map.hash("a"), map.hash("b"));
    // In the live layer.
    let first = map.update_where(a, |v| v.contains(&5), |k, v| (format!("{k}{}", v.remove(0)), false));
    assert_eq!(first.as_deref(), Some("a5"));
    assert_eq!(map.update_where(a, |v| v.contains(&5), |_, _| ((), true)), None, "5 is gone");
    // Below a cut: lifted (the cut keeps its value), then removed.
    let whole = map.whole();
    assert_eq!(map.update_where(b, |v| v.contains(&7), |_, v| (v.pop(), v.is_empty())), Some(Some(7)));
    assert_eq!((map.len(), map.get("b"), map.get("a")), (1, None, Some(&vec![6])));
    assert_eq!(map.update_where(b, |v| v.is_empty(), |_, _| ((), true)), None, "a removal is not found");
    let image: BTreeMap<String, Vec<u64>> = decode(&whole);
    assert_eq!(image, BTreeMap::from([("a".into(), vec![6]), ("b".into(), vec![7])]), "L-3");
    drop(whole);
    let MapDelta::<String, Vec<u64>>(set, removed) = decode(&map.delta());
    assert_eq!((set, removed), (vec![], vec!["b".to_string()]), "the removal is in the next delta");
}

#[test]
fn l4_a_merged_layer_becomes_the_next_live_layer_with_its_slots_reset() {
    let mut map: Layered<u32, u32> = Layered::default();
    (0..1000).for_each(|k| {
        map.insert(k, k);
    });
    let grown = map.live.capacity();
    drop(map.delta());
    assert!(!map.settle(usize::MAX), "merged: the cut let go of its layer");
    // Slots reset: a table's capacity counts the entries it takes before growing, which
    // tombstones left by the merge would lower.
    let spare = map.spare.as_ref().map(|s| (s.len(), s.capacity()));
    assert_eq!(spare, Some((0, grown)));
    (0..10).for_each(|k| {
        map.insert(k, k + 1);
    });
    drop(map.delta());
    assert_eq!(map.live.capacity(), grown, "the next live layer is the merged one's table");
    (0..grown as u32 / 4).for_each(|k| {
        map.insert(k, 7);
    });
    assert_eq!(map.live.capacity(), grown);
    assert_eq!((map.len(), map.get(&5), map.get(&999)), (1000, Some(&7), Some(&999)));
}

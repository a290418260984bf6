//! Which replica owns which SLO: pure decisions over the members registered
//! in PostgreSQL. Every replica computes the same answer from the same rows,
//! so no replica has to tell another what to do.
//!
//! - The catalog that wins is the newest one any live member runs (by when
//!   its content hash was first seen); only members running it own SLOs, so
//!   a replica left on an older catalog during a rollout writes nothing.
//! - Among those members, each SLO goes to the highest rendezvous score:
//!   SLOs spread evenly, and a member joining or leaving moves only its share.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::catalog::Catalog;

/// A live member as the database lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: Uuid,
    pub catalog_hash: String,
    /// When any replica first ran this catalog.
    pub catalog_first_seen: DateTime<Utc>,
}

/// The content hash of a catalog: equal on every replica that loaded the
/// same definitions, different as soon as one SLO differs.
/// The JSON is hashed as it is written: 10,000 SLOs are 17 MB of text.
pub fn catalog_hash(catalog: &Catalog) -> String {
    let mut hasher = Fnv1a(FNV_OFFSET);
    // Writing to the hasher cannot fail, and the catalog model serialises.
    let _ = serde_json::to_writer(&mut hasher, &catalog.slos);
    format!("{:016x}", hasher.0)
}

/// FNV-1a over everything written to it.
struct Fnv1a(u64);

impl std::io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = fnv1a_from(self.0, bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The catalog hash whose replicas own SLOs: the newest first seen among
/// live members (ties broken by hash, so every replica agrees).
pub fn winning_catalog(members: &[Member]) -> Option<&str> {
    members
        .iter()
        .max_by(|a, b| {
            (a.catalog_first_seen, &a.catalog_hash).cmp(&(b.catalog_first_seen, &b.catalog_hash))
        })
        .map(|m| m.catalog_hash.as_str())
}

/// The member that should own `slo_id`: the highest rendezvous score.
pub fn owner_of(slo_id: &str, candidates: &[Uuid]) -> Option<Uuid> {
    candidates
        .iter()
        .max_by_key(|m| (score(m, slo_id), **m))
        .copied()
}

/// What one replica should do with its leases this round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeasePlan {
    /// SLOs it should own: kept if held, acquired if free or their owner died.
    pub wanted: BTreeSet<String>,
    /// SLOs it holds but should hand over (another member's, or not in the
    /// winning catalog any more).
    pub release: BTreeSet<String>,
}

/// The plan for replica `me`, running `my_catalog_hash` with SLOs
/// `slo_ids`, given the live members (itself included) and its leases.
pub fn plan(
    me: Uuid,
    my_catalog_hash: &str,
    slo_ids: &[&str],
    members: &[Member],
    held: &BTreeMap<String, i64>,
) -> LeasePlan {
    let winner = winning_catalog(members);
    let mut out = LeasePlan::default();
    if winner == Some(my_catalog_hash) {
        let owners: Vec<Uuid> = members
            .iter()
            .filter(|m| Some(m.catalog_hash.as_str()) == winner)
            .map(|m| m.id)
            .collect();
        for &slo in slo_ids {
            if owner_of(slo, &owners) == Some(me) {
                out.wanted.insert(slo.to_string());
            }
        }
    }
    out.release = held
        .keys()
        .filter(|id| !out.wanted.contains(*id))
        .cloned()
        .collect();
    out
}

fn score(member: &Uuid, slo_id: &str) -> u64 {
    let mut h = fnv1a(member.as_bytes());
    h ^= fnv1a(slo_id.as_bytes()).rotate_left(17);
    splitmix64(h)
}

/// FNV-1a, 64 bits: stable across platforms, builds and Rust releases (the
/// standard library's hasher is not), so replicas of different burnrate
/// versions still agree.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(FNV_OFFSET, bytes)
}

fn fnv1a_from(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A finaliser that spreads FNV's output over all 64 bits.
fn splitmix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
    }

    fn member(n: u128, hash: &str, seen_hour: u32) -> Member {
        Member {
            id: id(n),
            catalog_hash: hash.into(),
            catalog_first_seen: Utc.with_ymd_and_hms(2026, 1, 1, seen_hour, 0, 0).unwrap(),
        }
    }

    fn slo_ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("svc-{}/slo-{i}", i % 37)).collect()
    }

    #[test]
    fn slos_spread_evenly_and_each_has_one_owner() {
        let members: Vec<Uuid> = (1..=3).map(id).collect();
        let ids = slo_ids(10_000);
        let mut counts: BTreeMap<Uuid, usize> = BTreeMap::new();
        for slo in &ids {
            *counts.entry(owner_of(slo, &members).unwrap()).or_default() += 1;
        }
        assert_eq!(counts.len(), 3);
        for (m, n) in counts {
            // 3,333 expected; the binomial standard deviation is about 47.
            assert!((3_100..=3_570).contains(&n), "{m} owns {n}");
        }
    }

    #[test]
    fn a_member_joining_or_leaving_moves_only_its_share() {
        let three: Vec<Uuid> = (1..=3).map(id).collect();
        let four: Vec<Uuid> = (1..=4).map(id).collect();
        let ids = slo_ids(4_000);
        let moved = ids
            .iter()
            .filter(|s| owner_of(s, &three) != owner_of(s, &four))
            .collect::<Vec<_>>();
        // Only SLOs that go to the new member move: about a quarter.
        assert!(moved.iter().all(|s| owner_of(s, &four) == Some(id(4))));
        assert!((850..=1_150).contains(&moved.len()), "{}", moved.len());
        // Leaving is the reverse: member 4's SLOs spread over the others.
        assert!(ids.iter().all(
            |s| owner_of(s, &four) == Some(id(4)) || owner_of(s, &four) == owner_of(s, &three)
        ));
    }

    #[test]
    fn the_answer_does_not_depend_on_member_order() {
        let mut members: Vec<Uuid> = (1..=5).map(id).collect();
        let before: Vec<_> = slo_ids(500).iter().map(|s| owner_of(s, &members)).collect();
        members.reverse();
        let after: Vec<_> = slo_ids(500).iter().map(|s| owner_of(s, &members)).collect();
        assert_eq!(before, after);
        assert_eq!(owner_of("a/b", &[]), None);
    }

    #[test]
    fn the_newest_catalog_wins_and_only_its_members_own() {
        let slos = ["a/1", "a/2", "a/3", "b/1", "b/2", "c/9"];
        #[rustfmt::skip]
        let cases: [(&str, Vec<Member>, u128, &str, usize); 5] = [
            // case,                               members,                                               me, my hash, SLOs wanted by me
            ("alone: everything",                  vec![member(1, "v1", 1)],                              1, "v1", 6),
            ("older catalog: nothing",             vec![member(1, "v1", 1), member(2, "v2", 2)],          1, "v1", 0),
            ("newer catalog: everything",          vec![member(1, "v1", 1), member(2, "v2", 2)],          2, "v2", 6),
            ("a rollback is older: still loses",   vec![member(1, "v2", 2), member(2, "v1", 1)],          2, "v1", 0),
            ("not registered yet: nothing",        vec![member(2, "v1", 1)],                              1, "v1", 0),
        ];
        for (case, members, me, hash, want) in cases {
            let p = plan(id(me), hash, &slos, &members, &BTreeMap::new());
            assert_eq!(p.wanted.len(), want, "{case}");
        }
        let two = [member(1, "v1", 1), member(2, "v1", 1)];
        let mine = plan(id(1), "v1", &slos, &two, &BTreeMap::new()).wanted;
        let theirs = plan(id(2), "v1", &slos, &two, &BTreeMap::new()).wanted;
        assert!(mine.is_disjoint(&theirs));
        assert_eq!(mine.len() + theirs.len(), slos.len());
    }

    #[test]
    fn leases_not_wanted_are_released() {
        let members = [member(1, "v1", 1), member(2, "v1", 1)];
        let slos = ["a/1", "a/2", "a/3", "a/4", "a/5", "a/6", "a/7", "a/8"];
        let held: BTreeMap<String, i64> = slos
            .iter()
            .map(|s| (s.to_string(), 1))
            .chain([("gone/slo".to_string(), 3)])
            .collect();
        let p = plan(id(1), "v1", &slos, &members, &held);
        let others: BTreeSet<String> = plan(id(2), "v1", &slos, &members, &BTreeMap::new()).wanted;
        assert!(p.release.contains("gone/slo"));
        assert_eq!(p.release.len(), others.len() + 1);
        assert!(others.iter().all(|s| p.release.contains(s)));
        assert!(p.wanted.iter().all(|s| !p.release.contains(s)));
    }

    #[test]
    fn catalog_hashes_are_stable_and_tell_catalogs_apart() {
        assert_eq!(format!("{:016x}", fnv1a(b"")), "cbf29ce484222325");
        assert_eq!(format!("{:016x}", fnv1a(b"a")), "af63dc4c8601ec8c");
        let empty = Catalog { slos: Vec::new() };
        assert_eq!(catalog_hash(&empty), format!("{:016x}", fnv1a(b"[]")));
        let load = |objective: &str| {
            let source = format!(
                "version: burnrate/v1\nservice: shop\nslos:\n  - name: a\n    objective: {objective}\n    \
                 indicator: {{bool_gauge: {{metric: up}}}}\n"
            );
            crate::catalog::load_str(std::path::Path::new("t.yaml"), &source)
                .into_result()
                .expect("valid catalog")
        };
        let shop = load("99.9");
        // Hashed while written: the same hash as of the whole text, which
        // replicas of other versions compute for the same catalog.
        let text = serde_json::to_string(&shop.slos).expect("serialises");
        assert!(text.len() > 100);
        assert_eq!(
            catalog_hash(&shop),
            format!("{:016x}", fnv1a(text.as_bytes()))
        );
        assert_ne!(catalog_hash(&shop), catalog_hash(&load("99.5")));
        assert_ne!(catalog_hash(&shop), catalog_hash(&empty));
    }
}

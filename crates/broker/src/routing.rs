//! Which shard owns what: a pure, documented function, so every shard (and every test) computes
//! the same answer without asking anyone.
//!
//! `owner(topic, partition, shards) = (fnv1a_32(topic) + partition) mod shards`
//!
//! FNV-1a over the topic's UTF-8 bytes spreads topics; adding the partition number spreads one
//! topic's partitions round-robin over the shards starting at the topic's hash, so a topic with
//! at least as many partitions as shards touches every shard.
//!
//! # Invariants
//! - Depends only on its arguments (no state, no randomness): stable across restarts.
//! - `owner(..) < shards` for `shards >= 1` and `partition >= 0`.

/// 32-bit FNV-1a.
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The shard that owns `(topic, partition)`.
pub fn owner(topic: &str, partition: i32, shards: usize) -> usize {
    debug_assert!(partition >= 0 && shards >= 1);
    let base = u64::from(fnv1a_32(topic.as_bytes()));
    ((base + partition.max(0) as u64) % shards.max(1) as u64) as usize
}

/// The shard that coordinates a consumer group (same hash, no partition term).
pub fn group_coordinator(group_id: &str, shards: usize) -> usize {
    (u64::from(fnv1a_32(group_id.as_bytes())) % shards.max(1) as u64) as usize
}

/// The shard that serializes topic creation and deletion (the controller).
pub const CONTROLLER_SHARD: usize = 0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn partitions_of_a_topic_spread_round_robin() {
        let shards = 4;
        let owners: Vec<usize> = (0..8).map(|p| owner("orders", p, shards)).collect();
        for p in 0..8 {
            assert_eq!(owners[p], (owners[0] + p) % shards);
        }
        assert!((0..100).all(|p| owner("t", p, 3) < 3));
        assert_eq!(owner("anything", 5, 1), 0);
    }
}

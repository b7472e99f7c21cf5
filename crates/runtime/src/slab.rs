//! A fixed-capacity slab whose keys carry a generation.
//!
//! In-flight operations and epoll registrations live here. A key is `slot | generation << 32`, so a
//! stale completion (for a slot that was freed and reused) never reaches the new occupant, and the
//! kernel's `user_data` is never a pointer.
//!
//! # Invariants
//! - At most `capacity` entries are ever live: a full slab refuses (`insert` returns `None`), it
//!   never grows. The caller turns that into back-pressure.
//! - A key is valid only while its slot holds the same generation.
//! - Every slot ever allocated is either live or on the free list, never both:
//!   `len + free.len() == entries.len()`.

/// A slab key: slot index in the low 32 bits, generation in the high 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(u64);

impl Key {
    /// The raw value (used as io_uring `user_data` or epoll `u64`).
    pub fn to_u64(self) -> u64 {
        self.0
    }
    /// Rebuild a key from a raw value.
    pub fn from_u64(v: u64) -> Key {
        Key(v)
    }
    fn slot(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

/// Bounded slab of `T` with generation-checked keys.
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    capacity: usize,
    len: usize,
}

/// Keys reserved by the drivers for internal completions lie above this slot number.
pub const SLOTS_MAX: usize = 1 << 24;

impl<T> Slab<T> {
    /// A slab holding at most `capacity` entries (at most [`SLOTS_MAX`]).
    pub fn with_capacity(capacity: usize) -> Slab<T> {
        assert!(
            capacity > 0 && capacity <= SLOTS_MAX,
            "slab capacity {capacity}"
        );
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            capacity,
            len: 0,
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// True when an insert would be refused.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// Insert, or `None` when the slab is full.
    pub fn insert(&mut self, value: T) -> Option<Key> {
        if self.is_full() {
            return None;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot as usize,
            None => {
                self.entries.push(Entry {
                    generation: 0,
                    value: None,
                });
                self.entries.len() - 1
            }
        };
        debug_assert!(
            slot < SLOTS_MAX,
            "slab slot {slot} reaches the reserved keys at {SLOTS_MAX}"
        );
        let entry = &mut self.entries[slot];
        debug_assert!(
            entry.value.is_none(),
            "slab slot {slot} was on the free list but is occupied"
        );
        entry.value = Some(value);
        let key = Key(slot as u64 | (u64::from(entry.generation) << 32));
        self.len += 1;
        self.debug_assert_occupancy();
        Some(key)
    }

    /// `len` counts the live slots, the free list holds the others (cheap: three lengths).
    fn debug_assert_occupancy(&self) {
        debug_assert!(
            self.len <= self.capacity && self.len + self.free.len() == self.entries.len(),
            "slab occupancy broken: {} live + {} free != {} slots (capacity {})",
            self.len,
            self.free.len(),
            self.entries.len(),
            self.capacity
        );
    }

    /// The entry for `key`, if the key is still current.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.slot())?;
        if entry.generation != key.generation() {
            return None;
        }
        entry.value.as_mut()
    }

    /// The entry for `key`, if the key is still current.
    pub fn get(&self, key: Key) -> Option<&T> {
        let entry = self.entries.get(key.slot())?;
        if entry.generation != key.generation() {
            return None;
        }
        entry.value.as_ref()
    }

    /// Remove the entry for `key`; the slot's generation moves on so the key goes stale.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.slot())?;
        if entry.generation != key.generation() {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(key.slot() as u32);
        self.len -= 1;
        self.debug_assert_occupancy();
        Some(value)
    }

    /// Iterate over live entries.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().filter_map(|e| e.value.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_slab_refuses_and_stale_keys_miss() {
        let mut slab = Slab::with_capacity(2);
        let a = slab.insert(1).unwrap();
        let b = slab.insert(2).unwrap();
        assert!(slab.insert(3).is_none(), "a full slab must refuse");
        assert_eq!(slab.remove(a), Some(1));
        let c = slab.insert(3).unwrap();
        assert_ne!(a, c, "reused slot gets a new generation");
        assert!(slab.get(a).is_none());
        assert_eq!(slab.get(c), Some(&3));
        assert_eq!(slab.get(b), Some(&2));
        assert_eq!(slab.len(), 2);
    }
}

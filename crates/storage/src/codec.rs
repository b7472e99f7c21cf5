//! A bounds-checked reader of big-endian fixed-width integers, shared by the on-disk formats
//! that ringlog decodes itself (producer-state snapshots, the group offsets log). Every read
//! returns `None` instead of panicking when the bytes run out.

/// Reads big-endian values from the front of a byte slice.
pub struct BeReader<'a> {
    /// The bytes not read yet.
    pub rest: &'a [u8],
}

impl<'a> BeReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> BeReader<'a> {
        BeReader { rest: bytes }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    /// u16, big-endian.
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }
    /// i16, big-endian.
    pub fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.array()?))
    }
    /// u32, big-endian.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }
    /// i32, big-endian.
    pub fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.array()?))
    }
    /// i64, big-endian.
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.array()?))
    }
    /// A UTF-8 string prefixed by its u16 length.
    pub fn str16(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_stops_at_the_end() {
        let bytes = [0, 1, 0, 0, 0, 2, 0, 3, b'a', b'b', b'c', 9];
        let mut r = BeReader::new(&bytes);
        assert_eq!(r.u16(), Some(1));
        assert_eq!(r.u32(), Some(2));
        assert_eq!(r.str16().as_deref(), Some("abc"));
        assert_eq!(r.u16(), None, "one byte left is not a u16");
        assert_eq!(r.u8(), Some(9));
        assert!(r.rest.is_empty());
    }
}

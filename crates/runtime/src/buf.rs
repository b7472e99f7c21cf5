//! Owned buffers that can be handed to the kernel.
//!
//! An I/O operation takes its buffer *by value* and gives it back with the result, so the buffer
//! outlives every access the kernel makes to it, even when the future of the operation is dropped
//! half-way (the driver then keeps the buffer until the final completion arrives).
//!
//! # Invariants
//! - `stable_ptr()` points to heap memory that does not move when the buffer value moves.
//! - `bytes_init()` bytes from `stable_ptr()` are initialised and readable.
//! - For [`IoBufMut`], `bytes_total()` bytes from `stable_mut_ptr()` are writable.

use std::ops::{Bound, RangeBounds};

/// A buffer whose bytes the kernel may read while an operation is in flight.
///
/// # Safety
/// Implementors guarantee the invariants in the module documentation: the pointer is stable across
/// moves of `self`, and `bytes_init()` bytes behind it are initialised.
pub unsafe trait IoBuf: 'static {
    /// Pointer to the first byte; stable while `self` is alive, however `self` is moved.
    fn stable_ptr(&self) -> *const u8;
    /// Number of initialised bytes (the bytes a write sends).
    fn bytes_init(&self) -> usize;

    /// A sub-range of this buffer, owning it.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_init(),
        };
        assert!(
            begin <= end && end <= self.bytes_init(),
            "slice {begin}..{end} out of bounds of a buffer of {} bytes",
            self.bytes_init()
        );
        Slice {
            buf: self,
            begin,
            end,
        }
    }
}

/// A buffer the kernel may write into while an operation is in flight.
///
/// # Safety
/// As [`IoBuf`], and `bytes_total()` bytes from `stable_mut_ptr()` are writable.
pub unsafe trait IoBufMut: IoBuf {
    /// Pointer to the first writable byte.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// Capacity the kernel may write.
    fn bytes_total(&self) -> usize;
    /// Record that the first `n` bytes are now initialised.
    ///
    /// # Safety
    /// The first `n` bytes must really have been written.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a Vec's heap allocation does not move when the Vec value moves; `len` bytes are
// initialised and `capacity` bytes are allocated.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above; `set_init` only ever grows `len` within the capacity.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
    unsafe fn set_init(&mut self, n: usize) {
        assert!(
            n <= self.capacity(),
            "set_init({n}) past the buffer's capacity {}",
            self.capacity()
        );
        if self.len() < n {
            // SAFETY: the caller promises the first `n` bytes were written, n <= capacity.
            unsafe { self.set_len(n) };
        }
    }
}

// SAFETY: a boxed slice's allocation is stable and fully initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: static data never moves and is initialised.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: `Bytes` points to reference-counted heap (or static) memory that does not move when the
// handle moves, and its `len` bytes are initialised.
unsafe impl IoBuf for bytes::Bytes {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

/// An owned sub-range `begin..end` of a buffer.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    /// The range within the inner buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.begin..self.end
    }
    /// Give back the whole inner buffer.
    pub fn into_inner(self) -> B {
        self.buf
    }
    /// The inner buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }
}

// SAFETY: `begin..end` lies within the inner buffer's initialised bytes (checked in `slice`), and
// the inner pointer is stable, so the offset pointer is too.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: begin <= bytes_init of the inner buffer, so the result stays in the allocation.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }
    fn bytes_init(&self) -> usize {
        self.end - self.begin
    }
}

/// The bytes of an initialised buffer as a slice.
pub fn as_bytes<B: IoBuf>(b: &B) -> &[u8] {
    // SAFETY: IoBuf guarantees `bytes_init` initialised bytes behind a valid pointer for the
    // lifetime of the borrow.
    unsafe { std::slice::from_raw_parts(b.stable_ptr(), b.bytes_init()) }
}

// SAFETY: a BytesMut's heap buffer does not move when the handle moves; `len` bytes are
// initialised and `capacity` bytes are allocated and uniquely owned by this handle.
unsafe impl IoBuf for bytes::BytesMut {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above; `set_init` only grows `len` within the capacity.
unsafe impl IoBufMut for bytes::BytesMut {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
    unsafe fn set_init(&mut self, n: usize) {
        assert!(
            n <= self.capacity(),
            "set_init({n}) past the buffer's capacity {}",
            self.capacity()
        );
        if self.len() < n {
            // SAFETY: the caller promises the first `n` bytes were written, n <= capacity.
            unsafe { self.set_len(n) };
        }
    }
}

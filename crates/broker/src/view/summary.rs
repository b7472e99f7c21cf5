//! Per-batch summaries: what the records of one batch hold in their key and headers, computed
//! at append time, small enough to keep beside every batch, from which a view's filter decides
//! "every record matches" / "no record matches" without reading the batch
//! ([`crate::view::filter::Filter::decide`]).
//!
//! A summary describes the record key (`__key`) and up to [`NAMES_MAX`] header names, each by
//! a *field*: how many records have a non-null value for it (the rest have a null value or no
//! such header, which a filter cannot tell apart) and what those values are, in one of three
//! forms:
//! - **exact**: the set of distinct values, when there are at most [`EXACT_VALUES_MAX`] of at
//!   most [`EXACT_VALUE_BYTES_MAX`] bytes each. A batch that is homogeneous per tag (as
//!   RocketMQ producers usually send) is described exactly: the case that matters most.
//! - **approx**: whether the values are numbers (none, some, all) with the numeric min and max,
//!   a byte-wise lower bound and upper bound (prefixes of at most [`RANGE_PREFIX_BYTES`]), and,
//!   while it still says something, a bloom filter of [`BLOOM_BYTES`] over the values'
//!   equality keys (a number's canonical `f64`, else the bytes).
//! - **undescribed**: only the count.
//!
//! A record's value for a header name is the value of its *first* header of that name, as the
//! filter reads it. Header names past the first [`NAMES_MAX`] distinct ones, or longer than
//! [`NAME_BYTES_MAX`], are not described: the summary then says its names are incomplete, and
//! a filter must assume anything about a name it does not find. When the names are complete, a
//! name it does not find is absent from every record.
//!
//! # Encoding (version 1)
//! All integers big-endian, fixed width.
//! ```text
//! Summary
//!   byte 0      version u8 = 1
//!        1..5   record_count u32
//!        5      flags u8: bit 0 = NAMES_INCOMPLETE; bits 1..7 are 0
//!        6      header_count u8 (0..=NAMES_MAX)
//!        7..    key field (Field)
//!               header_count x { name_len u8 (0..=NAME_BYTES_MAX), name, Field }
//!               names distinct; nothing after the last field
//! Field
//!        0..4   non_null u32 (<= record_count): records whose value is not null
//!        4      form u8: 0 = UNDESCRIBED, 1 = EXACT, 2 = APPROX (1 and 2 need non_null >= 1)
//!   EXACT
//!        5      value_count u8 (1..=min(EXACT_VALUES_MAX, non_null))
//!               value_count x { len u8 (0..=EXACT_VALUE_BYTES_MAX), bytes },
//!               strictly increasing byte-wise
//!   APPROX
//!        5      flags u8: bit 0 = BLOOM, bit 1 = HI_TRUNCATED; bits 2..7 are 0
//!        6      numeric u8: 0 = no value is a number, 1 = some are, 2 = all are
//!               if numeric != 0: min f64, max f64 (IEEE 754 bits; not NaN; min <= max)
//!               lo_len u8 (0..=RANGE_PREFIX_BYTES), lo: <= every value
//!               hi_len u8 (0..=RANGE_PREFIX_BYTES, = RANGE_PREFIX_BYTES if HI_TRUNCATED), hi:
//!                 >= every value, or if HI_TRUNCATED >= the first RANGE_PREFIX_BYTES bytes
//!                 of every value; lo <= hi
//!               if BLOOM: BLOOM_BYTES bytes, bit i = byte i / 8, bit i % 8 (LSB first);
//!                 1..=BLOOM_BITS_SET_MAX bits set
//! ```
//! The bloom filter holds each value's equality key: for a number (as the filter reads
//! numbers) the 8 big-endian bytes of its `f64` bits, with -0 written as 0; for any other
//! value its bytes. A key sets bits `h >> 57`, `(h >> 50) & 127` and `(h >> 43) & 127` where
//! `h = CRC-32C(key) as u64 * 0x9e3779b97f4a7c15` (wrapping). Changing any of this needs a
//! new version.
//!
//! The whole encoding is at most [`SUMMARY_BYTES_MAX`] bytes: [`BatchSummary::of_records`]
//! keeps within it by degrading the largest fields first (exact to approx or undescribed,
//! approx to undescribed, then dropping header fields, which makes the names incomplete).
//!
//! # Invariants
//! - A summary is sound: every statement it makes holds for every record of its batch. Losing
//!   precision (degrading a field, dropping a name) never makes it unsound.
//! - Every summary, built or decoded, encodes within [`SUMMARY_BYTES_MAX`] bytes; `decode`
//!   accepts exactly the canonical encodings, so re-encoding a decoded summary gives the same
//!   bytes.
//! - `decode` never panics on any bytes. It checks the format, not the truth: a well-formed
//!   summary of some other batch decodes fine, so the index that stores summaries must tie
//!   each one to its batch (offsets, CRC).

use crate::storage::records::Record;
use crate::view::filter::Value;

/// The encoding's version byte.
pub const SUMMARY_VERSION: u8 = 1;
/// The most bytes [`BatchSummary::encode`] ever appends. Why 512: a summary sits beside every
/// batch of an indexed topic and is read for every batch a view's fetch considers, so it must
/// stay small next to the batch it lets the fetch skip: at the Java producer's default
/// `batch.size` of 16 KiB it is at most 3%. Typical batches (a tag, a few short or numeric
/// headers, keys) need 30-200 bytes; only batches with many long, distinct header values hit
/// the bound, and they lose precision, never soundness.
pub const SUMMARY_BYTES_MAX: usize = 512;
/// Header names described per batch. Why 16: records rarely carry more distinct header names,
/// and each described name costs at least its name plus 5 bytes of the budget.
pub const NAMES_MAX: usize = 16;
/// Longest header name described, in bytes (longer names make the names incomplete). Why 64:
/// real header names are short; a longer one would eat an eighth of the budget on its own.
pub const NAME_BYTES_MAX: usize = 64;
/// Most distinct values of an exact field. Why 8: enough for a batch of a few tags or a
/// few enum-like values, small enough to enumerate when deciding.
pub const EXACT_VALUES_MAX: usize = 8;
/// Longest value an exact field holds, in bytes. Why 64: tags and enum-like values are short;
/// 8 values of 64 bytes fill the budget once.
pub const EXACT_VALUE_BYTES_MAX: usize = 64;
/// Bytes kept of the byte-wise lower and upper bounds of an approx field. Why 16: enough to
/// separate typical string ranges (dates, ids with a common prefix), 34 bytes per field.
pub const RANGE_PREFIX_BYTES: usize = 16;
/// Bytes of an approx field's bloom filter (128 bits). Why: with 3 hashes it answers
/// equality with under 5% false positives for up to 20 distinct values, the range just past
/// what an exact field holds; past that it is dropped (see [`BLOOM_BITS_SET_MAX`]).
pub const BLOOM_BYTES: usize = 16;
/// Bits of the bloom filter.
const BLOOM_BITS: usize = BLOOM_BYTES * 8;
/// Bit positions taken per value (each from 7 bits of one hash).
const BLOOM_HASHES: usize = 3;
/// A bloom filter with more bits set than this (half of them: over 12% false positives) says
/// too little to be worth its bytes and is left out.
pub const BLOOM_BITS_SET_MAX: u32 = (BLOOM_BITS / 2) as u32;
/// Most records of a batch: Kafka's record count is an `i32`.
pub const RECORDS_MAX: usize = i32::MAX as usize;

/// Summary header bytes: version, record_count, flags, header_count.
const SUMMARY_HEADER_BYTES: usize = 7;
/// Field bytes before its form's data: non_null and form.
const FIELD_HEADER_BYTES: usize = 5;
/// Summary flag: some header names of the batch are not described.
const FLAG_NAMES_INCOMPLETE: u8 = 1;
/// Field forms.
const FORM_UNDESCRIBED: u8 = 0;
const FORM_EXACT: u8 = 1;
const FORM_APPROX: u8 = 2;
/// Approx flags.
const APPROX_BLOOM: u8 = 1;
const APPROX_HI_TRUNCATED: u8 = 2;
/// Approx `numeric` values.
const NUMERIC_NONE: u8 = 0;
const NUMERIC_SOME: u8 = 1;
const NUMERIC_ALL: u8 = 2;
/// Multiplier spreading a CRC-32C over 64 bits (2^64 / golden ratio, odd) before the bloom
/// positions are taken from its top bits.
const BLOOM_SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

// The bloom positions are 7-bit slices of one hash.
const _: () = assert!(BLOOM_BITS == 1 << 7 && BLOOM_HASHES * 7 <= 64);
// The header and the key field undescribed always fit, so degrading always ends.
const _: () = assert!(SUMMARY_HEADER_BYTES + FIELD_HEADER_BYTES <= SUMMARY_BYTES_MAX);
const _: () = assert!(NAMES_MAX <= u8::MAX as usize);
const _: () = assert!(NAME_BYTES_MAX <= u8::MAX as usize);
const _: () = assert!(EXACT_VALUES_MAX <= u8::MAX as usize);
const _: () = assert!(EXACT_VALUE_BYTES_MAX <= u8::MAX as usize);
const _: () = assert!(RANGE_PREFIX_BYTES <= u8::MAX as usize);

/// A compact description of one batch's records (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSummary {
    record_count: u32,
    /// Whether every header name of the batch is among `headers`.
    names_complete: bool,
    key: Field,
    headers: Vec<NamedField>,
}

/// A described header name.
#[derive(Clone, Debug, PartialEq)]
struct NamedField {
    name: Box<[u8]>,
    field: Field,
}

/// What the records hold for one name (or the key).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Field {
    /// Records whose value is not null; the others' value is null or absent.
    pub(crate) non_null: u32,
    /// What the non-null values are.
    pub(crate) values: Values,
}

/// The non-null values of a field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Values {
    /// Nothing is known (always the form when there are no non-null values).
    Undescribed,
    /// Exactly these distinct values occur, strictly increasing byte-wise; at least one.
    Exact(Vec<Box<[u8]>>),
    /// Bounds on the values.
    Approx(Approx),
}

/// Bounds on a field's values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Approx {
    numeric: Numeric,
    /// At most every value byte-wise.
    lo: Box<[u8]>,
    /// At least every value byte-wise; if `hi_truncated`, at least the first
    /// [`RANGE_PREFIX_BYTES`] bytes of every value.
    hi: Box<[u8]>,
    hi_truncated: bool,
    /// Every value's equality key is in it (see [`EqualityKey`]).
    bloom: Option<[u8; BLOOM_BYTES]>,
}

/// Which values are numbers, and their range.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Numeric {
    /// No value is a number.
    NoNumbers,
    /// Some values are numbers, within `min..=max`.
    Some { min: f64, max: f64 },
    /// Every value is a number, within `min..=max`.
    All { min: f64, max: f64 },
}

/// What a summary says about one name (or the key).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Described<'a> {
    /// Every record's value is null or absent.
    AlwaysNull,
    /// Nothing is known: any record may have any value or none.
    Unknown,
    /// Described by this field.
    Field(&'a Field),
}

/// A set of orderings (`<`, `=`, `>`) of a value against another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Orderings(u8);

impl Orderings {
    /// No ordering.
    pub(crate) const NONE: Orderings = Orderings(0);
    /// Less than.
    pub(crate) const LESS: Orderings = Orderings(1);
    /// Equal.
    pub(crate) const EQUAL: Orderings = Orderings(2);
    /// Greater than.
    pub(crate) const GREATER: Orderings = Orderings(4);
    /// Any ordering.
    pub(crate) const ANY: Orderings = Orderings(7);

    /// The set holding just `o`.
    pub(crate) fn of(o: std::cmp::Ordering) -> Orderings {
        match o {
            std::cmp::Ordering::Less => Orderings::LESS,
            std::cmp::Ordering::Equal => Orderings::EQUAL,
            std::cmp::Ordering::Greater => Orderings::GREATER,
        }
    }

    /// Both sets.
    pub(crate) fn union(self, other: Orderings) -> Orderings {
        Orderings(self.0 | other.0)
    }

    /// Whether the two sets share an ordering.
    pub(crate) fn meets(self, other: Orderings) -> bool {
        self.0 & other.0 != 0
    }

    /// Orderings of this set not in `other`.
    pub(crate) fn minus(self, other: Orderings) -> Orderings {
        Orderings(self.0 & !other.0)
    }

    /// The orderings seen from the other side (`<` and `>` swapped).
    pub(crate) fn reversed(self) -> Orderings {
        Orderings((self.0 & 2) | ((self.0 & 1) << 2) | ((self.0 & 4) >> 2))
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BatchSummary {
    /// The summary of a batch's records (in batch order), within [`SUMMARY_BYTES_MAX`].
    ///
    /// # Panics
    /// If there are more than [`RECORDS_MAX`] records (no Kafka batch has).
    pub fn of_records(records: &[Record]) -> BatchSummary {
        assert!(
            records.len() <= RECORDS_MAX,
            "a batch of {} records: at most {RECORDS_MAX}",
            records.len()
        );
        let mut key = FieldBuilder::default();
        let mut headers: Vec<(&[u8], FieldBuilder)> = Vec::new();
        let mut names_complete = true;
        for (index, record) in records.iter().enumerate() {
            // 1-based, so 0 in `last_record` means "no record yet"; fits: index < i32::MAX.
            let record_number = index as u32 + 1;
            key.add(record.key.as_deref());
            for (name, value) in &record.headers {
                let slot = match headers.iter().position(|(n, _)| *n == &name[..]) {
                    Some(slot) => slot,
                    None if headers.len() < NAMES_MAX && name.len() <= NAME_BYTES_MAX => {
                        headers.push((name, FieldBuilder::default()));
                        headers.len() - 1
                    }
                    None => {
                        names_complete = false;
                        continue;
                    }
                };
                let builder = &mut headers[slot].1;
                // Only the first header of a name counts, as the filter reads it.
                if builder.last_record != record_number {
                    builder.last_record = record_number;
                    builder.add(value.as_deref());
                }
            }
        }
        let (key, key_fallback) = key.finish();
        let mut fallbacks = vec![key_fallback];
        let mut summary = BatchSummary {
            record_count: records.len() as u32,
            names_complete,
            key,
            headers: Vec::with_capacity(headers.len()),
        };
        for (name, builder) in headers {
            let (field, fallback) = builder.finish();
            summary.headers.push(NamedField {
                name: name.into(),
                field,
            });
            fallbacks.push(fallback);
        }
        summary.fit(&mut fallbacks);
        summary
    }

    /// Degrades fields, largest first, until the encoding fits [`SUMMARY_BYTES_MAX`].
    /// `fallbacks[0]` is the key's approx form, `fallbacks[1 + i]` header `i`'s.
    fn fit(&mut self, fallbacks: &mut Vec<Option<Approx>>) {
        debug_assert_eq!(fallbacks.len(), 1 + self.headers.len());
        let mut bytes = self.encoded_len();
        while bytes > SUMMARY_BYTES_MAX {
            // Entry 0 is the key; the key stays, at worst undescribed. Ties go to later names.
            let mut largest: Option<(usize, usize)> = None;
            if !matches!(self.key.values, Values::Undescribed) {
                largest = Some((0, self.key.encoded_len()));
            }
            for (i, h) in self.headers.iter().enumerate() {
                let len = 1 + h.name.len() + h.field.encoded_len();
                if largest.is_none_or(|(_, l)| len >= l) {
                    largest = Some((1 + i, len));
                }
            }
            let Some((entry, _)) = largest else {
                unreachable!("a summary of {bytes} bytes with nothing left to degrade");
            };
            let field = if entry == 0 {
                &mut self.key
            } else {
                &mut self.headers[entry - 1].field
            };
            match std::mem::replace(&mut field.values, Values::Undescribed) {
                Values::Exact(values) => {
                    let exact_len = Values::Exact(values).encoded_len();
                    if let Some(approx) = fallbacks[entry].take() {
                        let approx = Values::Approx(approx);
                        if approx.encoded_len() < exact_len {
                            field.values = approx;
                        }
                    }
                }
                Values::Approx(_) => {}
                Values::Undescribed => {
                    debug_assert!(entry > 0, "the key is never dropped");
                    self.headers.remove(entry - 1);
                    fallbacks.remove(entry);
                    self.names_complete = false;
                }
            }
            let shrunk = self.encoded_len();
            assert!(shrunk < bytes, "degrading a summary must shrink it");
            bytes = shrunk;
        }
    }

    /// Records of the batch.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// Whether every header name of the batch is described (so a name the summary does not
    /// have is absent from every record).
    pub fn names_complete(&self) -> bool {
        self.names_complete
    }

    /// What the summary says about the key (`name == None`) or the header `name`.
    pub(crate) fn describe(&self, name: Option<&[u8]>) -> Described<'_> {
        let field = match name {
            None => &self.key,
            Some(name) => match self.headers.iter().find(|h| &h.name[..] == name) {
                Some(h) => &h.field,
                None if self.names_complete => return Described::AlwaysNull,
                None => return Described::Unknown,
            },
        };
        if field.non_null == 0 {
            Described::AlwaysNull
        } else {
            Described::Field(field)
        }
    }

    /// Bytes [`BatchSummary::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        SUMMARY_HEADER_BYTES
            + self.key.encoded_len()
            + self
                .headers
                .iter()
                .map(|h| 1 + h.name.len() + h.field.encoded_len())
                .sum::<usize>()
    }

    /// Appends the encoding (module docs), at most [`SUMMARY_BYTES_MAX`] bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(SUMMARY_VERSION);
        out.extend_from_slice(&self.record_count.to_be_bytes());
        out.push(if self.names_complete {
            0
        } else {
            FLAG_NAMES_INCOMPLETE
        });
        out.push(self.headers.len() as u8);
        self.key.encode(out);
        for h in &self.headers {
            out.push(h.name.len() as u8);
            out.extend_from_slice(&h.name);
            h.field.encode(out);
        }
        let written = out.len() - start;
        assert!(
            written <= SUMMARY_BYTES_MAX && written == self.encoded_len(),
            "summary encoded to {written} bytes (expected {}, at most {SUMMARY_BYTES_MAX})",
            self.encoded_len()
        );
    }

    /// Decodes an encoding made by [`BatchSummary::encode`], checking every field; never
    /// panics. The error says what is wrong and at which byte.
    pub fn decode(bytes: &[u8]) -> Result<BatchSummary, String> {
        if bytes.len() > SUMMARY_BYTES_MAX {
            return Err(format!(
                "summary of {} bytes: at most {SUMMARY_BYTES_MAX}",
                bytes.len()
            ));
        }
        let mut r = Reader { bytes, at: 0 };
        let version = r.u8("version")?;
        if version != SUMMARY_VERSION {
            return Err(format!(
                "summary version {version}: only {SUMMARY_VERSION} is known"
            ));
        }
        let record_count = r.u32("record_count")?;
        let flags = r.u8("flags")?;
        if flags & !FLAG_NAMES_INCOMPLETE != 0 {
            return Err(format!("summary flags {flags:#04x}: unknown bits set"));
        }
        let header_count = usize::from(r.u8("header_count")?);
        if header_count > NAMES_MAX {
            return Err(format!(
                "summary with {header_count} header names: at most {NAMES_MAX}"
            ));
        }
        let key = Field::decode(&mut r, record_count, "the key")?;
        let mut headers: Vec<NamedField> = Vec::with_capacity(header_count);
        for i in 0..header_count {
            let at = r.at;
            let name_len = usize::from(r.u8("name_len")?);
            if name_len > NAME_BYTES_MAX {
                return Err(format!(
                    "header name {i} at byte {at} is {name_len} bytes: at most {NAME_BYTES_MAX}"
                ));
            }
            let name = r.take(name_len, "name")?;
            if headers.iter().any(|h| &h.name[..] == name) {
                return Err(format!("header name {i} at byte {at} is named twice"));
            }
            let field = Field::decode(&mut r, record_count, "a header")?;
            headers.push(NamedField {
                name: name.into(),
                field,
            });
        }
        if r.at != bytes.len() {
            return Err(format!(
                "{} bytes after the summary's last field at byte {}",
                bytes.len() - r.at,
                r.at
            ));
        }
        Ok(BatchSummary {
            record_count,
            names_complete: flags & FLAG_NAMES_INCOMPLETE == 0,
            key,
            headers,
        })
    }
}

impl Field {
    fn encoded_len(&self) -> usize {
        FIELD_HEADER_BYTES + self.values.encoded_len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.non_null.to_be_bytes());
        match &self.values {
            Values::Undescribed => out.push(FORM_UNDESCRIBED),
            Values::Exact(values) => {
                out.push(FORM_EXACT);
                out.push(values.len() as u8);
                for v in values {
                    out.push(v.len() as u8);
                    out.extend_from_slice(v);
                }
            }
            Values::Approx(a) => {
                out.push(FORM_APPROX);
                let mut flags = 0;
                if a.bloom.is_some() {
                    flags |= APPROX_BLOOM;
                }
                if a.hi_truncated {
                    flags |= APPROX_HI_TRUNCATED;
                }
                out.push(flags);
                match a.numeric {
                    Numeric::NoNumbers => out.push(NUMERIC_NONE),
                    Numeric::Some { min, max } | Numeric::All { min, max } => {
                        out.push(if matches!(a.numeric, Numeric::All { .. }) {
                            NUMERIC_ALL
                        } else {
                            NUMERIC_SOME
                        });
                        out.extend_from_slice(&min.to_bits().to_be_bytes());
                        out.extend_from_slice(&max.to_bits().to_be_bytes());
                    }
                }
                out.push(a.lo.len() as u8);
                out.extend_from_slice(&a.lo);
                out.push(a.hi.len() as u8);
                out.extend_from_slice(&a.hi);
                if let Some(bloom) = &a.bloom {
                    out.extend_from_slice(bloom);
                }
            }
        }
    }

    fn decode(r: &mut Reader<'_>, record_count: u32, what: &str) -> Result<Field, String> {
        let at = r.at;
        let non_null = r.u32("non_null")?;
        if non_null > record_count {
            return Err(format!(
                "field of {what} at byte {at}: {non_null} non-null values in {record_count} records"
            ));
        }
        let form = r.u8("form")?;
        if form != FORM_UNDESCRIBED && non_null == 0 {
            return Err(format!(
                "field of {what} at byte {at}: values described (form {form}) but none is non-null"
            ));
        }
        let values = match form {
            FORM_UNDESCRIBED => Values::Undescribed,
            FORM_EXACT => {
                let count = usize::from(r.u8("value_count")?);
                if count == 0 || count > EXACT_VALUES_MAX || count as u64 > u64::from(non_null) {
                    return Err(format!(
                        "field of {what} at byte {at}: {count} exact values for {non_null} \
                         non-null values (1..={EXACT_VALUES_MAX})"
                    ));
                }
                let mut values: Vec<Box<[u8]>> = Vec::with_capacity(count);
                for _ in 0..count {
                    let len = usize::from(r.u8("value length")?);
                    if len > EXACT_VALUE_BYTES_MAX {
                        return Err(format!(
                            "field of {what} at byte {at}: an exact value of {len} bytes \
                             (at most {EXACT_VALUE_BYTES_MAX})"
                        ));
                    }
                    let v = r.take(len, "exact value")?;
                    if values.last().is_some_and(|prev| &prev[..] >= v) {
                        return Err(format!(
                            "field of {what} at byte {at}: exact values not strictly increasing"
                        ));
                    }
                    values.push(v.into());
                }
                Values::Exact(values)
            }
            FORM_APPROX => Values::Approx(Approx::decode(r, what, at)?),
            other => {
                return Err(format!(
                    "field of {what} at byte {at}: unknown form {other}"
                ))
            }
        };
        Ok(Field { non_null, values })
    }
}

impl Values {
    fn encoded_len(&self) -> usize {
        match self {
            Values::Undescribed => 0,
            Values::Exact(values) => 1 + values.iter().map(|v| 1 + v.len()).sum::<usize>(),
            Values::Approx(a) => {
                let numeric = match a.numeric {
                    Numeric::NoNumbers => 1,
                    _ => 1 + 16,
                };
                let bloom = if a.bloom.is_some() { BLOOM_BYTES } else { 0 };
                1 + numeric + 1 + a.lo.len() + 1 + a.hi.len() + bloom
            }
        }
    }
}

impl Approx {
    fn decode(r: &mut Reader<'_>, what: &str, at: usize) -> Result<Approx, String> {
        let flags = r.u8("approx flags")?;
        if flags & !(APPROX_BLOOM | APPROX_HI_TRUNCATED) != 0 {
            return Err(format!(
                "field of {what} at byte {at}: approx flags {flags:#04x} have unknown bits"
            ));
        }
        let numeric = match r.u8("numeric")? {
            NUMERIC_NONE => Numeric::NoNumbers,
            state @ (NUMERIC_SOME | NUMERIC_ALL) => {
                let min = f64::from_bits(r.u64("numeric min")?);
                let max = f64::from_bits(r.u64("numeric max")?);
                // NaN compares as nothing, so it fails too.
                if !matches!(
                    min.partial_cmp(&max),
                    Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                ) {
                    return Err(format!(
                        "field of {what} at byte {at}: numeric range {min}..={max}"
                    ));
                }
                if state == NUMERIC_ALL {
                    Numeric::All { min, max }
                } else {
                    Numeric::Some { min, max }
                }
            }
            other => {
                return Err(format!(
                    "field of {what} at byte {at}: numeric state {other} (0, 1 or 2)"
                ))
            }
        };
        let lo_len = usize::from(r.u8("lo length")?);
        if lo_len > RANGE_PREFIX_BYTES {
            return Err(format!(
                "field of {what} at byte {at}: lower bound of {lo_len} bytes (at most {RANGE_PREFIX_BYTES})"
            ));
        }
        let lo = r.take(lo_len, "lo")?;
        let hi_len = usize::from(r.u8("hi length")?);
        let hi_truncated = flags & APPROX_HI_TRUNCATED != 0;
        if hi_len > RANGE_PREFIX_BYTES || (hi_truncated && hi_len != RANGE_PREFIX_BYTES) {
            return Err(format!(
                "field of {what} at byte {at}: upper bound of {hi_len} bytes (at most \
                 {RANGE_PREFIX_BYTES}, exactly that if truncated)"
            ));
        }
        let hi = r.take(hi_len, "hi")?;
        if lo > hi {
            return Err(format!(
                "field of {what} at byte {at}: lower bound above the upper bound"
            ));
        }
        let bloom = if flags & APPROX_BLOOM != 0 {
            let mut bloom = [0u8; BLOOM_BYTES];
            bloom.copy_from_slice(r.take(BLOOM_BYTES, "bloom")?);
            let set: u32 = bloom.iter().map(|b| b.count_ones()).sum();
            if set == 0 || set > BLOOM_BITS_SET_MAX {
                return Err(format!(
                    "field of {what} at byte {at}: bloom filter with {set} bits set \
                     (1..={BLOOM_BITS_SET_MAX})"
                ));
            }
            Some(bloom)
        } else {
            None
        };
        Ok(Approx {
            numeric,
            lo: lo.into(),
            hi: hi.into(),
            hi_truncated,
            bloom,
        })
    }

    /// The orderings that a value of this field may have against `v` (under the filter's
    /// comparison: numeric when both are numbers, else byte-wise). Never empty.
    pub(crate) fn orderings_against(&self, v: Value<'_>) -> Orderings {
        let mut o = Orderings::NONE;
        let (all_numbers, range) = match self.numeric {
            Numeric::NoNumbers => (false, None),
            Numeric::Some { min, max } => (false, Some((min, max))),
            Numeric::All { min, max } => (true, Some((min, max))),
        };
        match v.number {
            Some(n) => {
                // Numbers compare numerically with `n`.
                if let Some((min, max)) = range {
                    if min < n {
                        o = o.union(Orderings::LESS);
                    }
                    if max > n {
                        o = o.union(Orderings::GREATER);
                    }
                    if min <= n && n <= max && self.bloom_may_hold(EqualityKey::of(v)) {
                        o = o.union(Orderings::EQUAL);
                    }
                }
                // Other values compare byte-wise with `v`'s text, never equal to it (a number's
                // text is a number).
                if !all_numbers {
                    o = o.union(self.byte_orderings(v.bytes, false));
                }
            }
            None => {
                // Every value compares byte-wise with `v`; only a non-number can equal it.
                o = o.union(self.byte_orderings(v.bytes, !all_numbers));
                if o.meets(Orderings::EQUAL) && !self.bloom_may_hold(EqualityKey::of(v)) {
                    o = o.minus(Orderings::EQUAL);
                }
            }
        }
        // Only an inconsistent summary leaves nothing; assume anything then.
        if o.is_empty() {
            Orderings::ANY
        } else {
            o
        }
    }

    /// Byte-wise orderings a value may have against `b`, from the bounds.
    fn byte_orderings(&self, b: &[u8], may_equal: bool) -> Orderings {
        let mut o = Orderings::NONE;
        if &self.lo[..] < b {
            o = o.union(Orderings::LESS);
        }
        // Whether some value may exceed `b`, and whether `b` is within the upper bound.
        let (above, within) = if self.hi_truncated {
            // Values are below everything that starts with a greater prefix than `hi`; a value
            // starting with `hi` may be longer than `b` and anything after it.
            let prefix = &b[..b.len().min(RANGE_PREFIX_BYTES)];
            let within = prefix <= &self.hi[..];
            (within, within)
        } else {
            (&self.hi[..] > b, b <= &self.hi[..])
        };
        if above {
            o = o.union(Orderings::GREATER);
        }
        if may_equal && &self.lo[..] <= b && within {
            o = o.union(Orderings::EQUAL);
        }
        o
    }

    fn bloom_may_hold(&self, key: EqualityKey<'_>) -> bool {
        match &self.bloom {
            None => true,
            Some(bloom) => bloom_positions(key.bytes())
                .iter()
                .all(|&p| bloom[p / 8] & (1 << (p % 8)) != 0),
        }
    }
}

/// What equality compares: two values are equal under the filter exactly when their keys are
/// (numbers by value, with -0 = 0; other values by bytes; a number never equals a non-number,
/// as a number's text is a number). The bloom filter holds keys.
enum EqualityKey<'a> {
    Number([u8; 8]),
    Bytes(&'a [u8]),
}

impl<'a> EqualityKey<'a> {
    fn of(v: Value<'a>) -> EqualityKey<'a> {
        match v.number {
            // `+ 0.0` turns -0.0 into 0.0; NaN never comes out of `parse_number`.
            Some(n) => EqualityKey::Number((n + 0.0).to_bits().to_be_bytes()),
            None => EqualityKey::Bytes(v.bytes),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            EqualityKey::Number(b) => b,
            EqualityKey::Bytes(b) => b,
        }
    }
}

/// The bloom bits of a key: three 7-bit slices of its CRC-32C spread over 64 bits. (The CRC is
/// the hash the broker already has; a false positive only costs precision.)
fn bloom_positions(key: &[u8]) -> [usize; BLOOM_HASHES] {
    let h = u64::from(crc32c::crc32c(key)).wrapping_mul(BLOOM_SPREAD);
    [
        (h >> 57) as usize,
        ((h >> 50) & 0x7f) as usize,
        ((h >> 43) & 0x7f) as usize,
    ]
}

/// Collects one field's values while a batch is summarized.
#[derive(Default)]
struct FieldBuilder<'r> {
    /// Record number (1-based) of the last record whose value was added; 0 before any.
    last_record: u32,
    non_null: u32,
    /// The distinct values while they fit an exact field.
    exact: Option<Vec<&'r [u8]>>,
    /// Bounds, once the values no longer fit an exact field.
    approx: Option<ApproxBuilder<'r>>,
}

impl<'r> FieldBuilder<'r> {
    fn add(&mut self, value: Option<&'r [u8]>) {
        let Some(v) = value else { return };
        self.non_null += 1;
        if let Some(approx) = &mut self.approx {
            approx.add(v);
            return;
        }
        let exact = self.exact.get_or_insert_with(Vec::new);
        if exact.contains(&v) {
            return;
        }
        if exact.len() < EXACT_VALUES_MAX && v.len() <= EXACT_VALUE_BYTES_MAX {
            exact.push(v);
            return;
        }
        // Past the exact form: the bounds of the values so far are the bounds of their
        // distinct set.
        let mut approx = ApproxBuilder::new(v);
        for &seen in exact.iter() {
            approx.add(seen);
        }
        self.exact = None;
        self.approx = Some(approx);
    }

    /// The field in its most precise form, and its approx form when that is an exact one
    /// (to degrade to if the summary is too large).
    fn finish(self) -> (Field, Option<Approx>) {
        let (values, fallback) = match (self.exact, self.approx) {
            (_, Some(approx)) => (Values::Approx(approx.finish()), None),
            (Some(mut exact), None) if !exact.is_empty() => {
                let mut approx = ApproxBuilder::new(exact[0]);
                for &v in &exact[1..] {
                    approx.add(v);
                }
                exact.sort_unstable();
                let values = exact.into_iter().map(Box::from).collect();
                (Values::Exact(values), Some(approx.finish()))
            }
            _ => (Values::Undescribed, None),
        };
        debug_assert!(self.non_null > 0 || values == Values::Undescribed);
        (
            Field {
                non_null: self.non_null,
                values,
            },
            fallback,
        )
    }
}

/// Collects the bounds of a field's values.
struct ApproxBuilder<'r> {
    any_number: bool,
    all_numbers: bool,
    min_number: f64,
    max_number: f64,
    min: &'r [u8],
    max: &'r [u8],
    bloom: [u8; BLOOM_BYTES],
}

impl<'r> ApproxBuilder<'r> {
    fn new(first: &'r [u8]) -> ApproxBuilder<'r> {
        let mut b = ApproxBuilder {
            any_number: false,
            all_numbers: true,
            min_number: f64::INFINITY,
            max_number: f64::NEG_INFINITY,
            min: first,
            max: first,
            bloom: [0; BLOOM_BYTES],
        };
        b.add(first);
        b
    }

    fn add(&mut self, v: &'r [u8]) {
        let value = Value::of(v);
        match value.number {
            Some(n) => {
                self.any_number = true;
                self.min_number = self.min_number.min(n);
                self.max_number = self.max_number.max(n);
            }
            None => self.all_numbers = false,
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        for p in bloom_positions(EqualityKey::of(value).bytes()) {
            self.bloom[p / 8] |= 1 << (p % 8);
        }
    }

    fn finish(self) -> Approx {
        let numeric = match (self.any_number, self.all_numbers) {
            (false, _) => Numeric::NoNumbers,
            (true, false) => Numeric::Some {
                min: self.min_number,
                max: self.max_number,
            },
            (true, true) => Numeric::All {
                min: self.min_number,
                max: self.max_number,
            },
        };
        let set: u32 = self.bloom.iter().map(|b| b.count_ones()).sum();
        Approx {
            numeric,
            lo: self.min[..self.min.len().min(RANGE_PREFIX_BYTES)].into(),
            hi: self.max[..self.max.len().min(RANGE_PREFIX_BYTES)].into(),
            hi_truncated: self.max.len() > RANGE_PREFIX_BYTES,
            bloom: (set <= BLOOM_BITS_SET_MAX).then_some(self.bloom),
        }
    }
}

/// Reads the fixed-width fields of an encoding; every read checks the length first.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "summary truncated: {what} needs {n} bytes at byte {}, {} left",
                self.at,
                self.bytes.len() - self.at
            ));
        };
        let b = &self.bytes[self.at..end];
        self.at = end;
        Ok(b)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::rng::Rng;
    use crate::view::filter::testgen;
    use bytes::Bytes;

    fn record(key: Option<&[u8]>, headers: &[(&str, Option<&[u8]>)]) -> Record {
        Record {
            key: key.map(Bytes::copy_from_slice),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        Bytes::copy_from_slice(n.as_bytes()),
                        v.map(Bytes::copy_from_slice),
                    )
                })
                .collect(),
            ..Record::default()
        }
    }

    fn round_trip(s: &BatchSummary) -> Vec<u8> {
        let mut out = vec![0xAA];
        s.encode(&mut out);
        assert_eq!(out[0], 0xAA, "encode appends");
        let bytes = out[1..].to_vec();
        assert_eq!(bytes.len(), s.encoded_len());
        assert!(bytes.len() <= SUMMARY_BYTES_MAX);
        assert_eq!(&BatchSummary::decode(&bytes).expect("decodes"), s);
        bytes
    }

    #[test]
    fn homogeneous_batch_is_exact() {
        let records: Vec<Record> = (0..10)
            .map(|i| {
                let amount = format!("{}", 150 + i);
                record(
                    Some(b"k"),
                    &[("tag", Some(b"red")), ("amount", Some(amount.as_bytes()))],
                )
            })
            .collect();
        let s = BatchSummary::of_records(&records);
        assert_eq!(s.record_count(), 10);
        assert!(s.names_complete());
        let Described::Field(tag) = s.describe(Some(b"tag")) else {
            panic!("tag described")
        };
        assert_eq!(tag.non_null, 10);
        assert_eq!(tag.values, Values::Exact(vec![b"red"[..].into()]));
        let Described::Field(amount) = s.describe(Some(b"amount")) else {
            panic!("amount described")
        };
        let Values::Approx(a) = &amount.values else {
            panic!("10 distinct amounts are approx: {amount:?}")
        };
        assert_eq!(
            a.numeric,
            Numeric::All {
                min: 150.0,
                max: 159.0
            }
        );
        assert!(matches!(s.describe(Some(b"other")), Described::AlwaysNull));
        let Described::Field(key) = s.describe(None) else {
            panic!("key described")
        };
        assert_eq!(key.values, Values::Exact(vec![b"k"[..].into()]));
        round_trip(&s);
    }

    #[test]
    fn first_header_of_a_name_counts_and_nulls_are_counted() {
        let records = vec![
            record(None, &[("tag", None), ("tag", Some(b"blue"))]),
            record(None, &[("tag", Some(b"red")), ("tag", Some(b"blue"))]),
            record(None, &[]),
        ];
        let s = BatchSummary::of_records(&records);
        let Described::Field(tag) = s.describe(Some(b"tag")) else {
            panic!("tag described")
        };
        assert_eq!(tag.non_null, 1);
        assert_eq!(tag.values, Values::Exact(vec![b"red"[..].into()]));
        assert!(matches!(s.describe(None), Described::AlwaysNull));
        round_trip(&s);
    }

    #[test]
    fn names_past_the_limits_make_the_names_incomplete() {
        let names: Vec<String> = (0..NAMES_MAX).map(|i| format!("h{i}")).collect();
        let headers: Vec<(&str, Option<&[u8]>)> = names
            .iter()
            .map(|n| (n.as_str(), Some(&b"v"[..])))
            .collect();
        let s = BatchSummary::of_records(&[record(None, &headers)]);
        assert!(s.names_complete(), "exactly NAMES_MAX names are described");
        assert!(matches!(s.describe(Some(b"h99")), Described::AlwaysNull));

        let mut more = headers.clone();
        more.push(("one-too-many", Some(b"v")));
        let s = BatchSummary::of_records(&[record(None, &more)]);
        assert!(!s.names_complete());
        assert!(matches!(
            s.describe(Some(b"one-too-many")),
            Described::Unknown
        ));
        assert!(matches!(s.describe(Some(b"h0")), Described::Field(_)));

        let long = "n".repeat(NAME_BYTES_MAX);
        let s = BatchSummary::of_records(&[record(None, &[(&long, Some(b"v"))])]);
        assert!(
            s.names_complete(),
            "a name of NAME_BYTES_MAX bytes is described"
        );
        let longer = "n".repeat(NAME_BYTES_MAX + 1);
        let s = BatchSummary::of_records(&[record(None, &[(&longer, Some(b"v"))])]);
        assert!(!s.names_complete());
        assert!(matches!(
            s.describe(Some(longer.as_bytes())),
            Described::Unknown
        ));
    }

    #[test]
    fn exact_limits_then_approx() {
        let values: Vec<String> = (0..=EXACT_VALUES_MAX).map(|i| format!("v{i}")).collect();
        let batch = |n: usize| -> Vec<Record> {
            values[..n]
                .iter()
                .map(|v| record(None, &[("h", Some(v.as_bytes()))]))
                .collect()
        };
        let s = BatchSummary::of_records(&batch(EXACT_VALUES_MAX));
        let Described::Field(f) = s.describe(Some(b"h")) else {
            panic!()
        };
        assert!(matches!(&f.values, Values::Exact(v) if v.len() == EXACT_VALUES_MAX));
        let s = BatchSummary::of_records(&batch(EXACT_VALUES_MAX + 1));
        let Described::Field(f) = s.describe(Some(b"h")) else {
            panic!()
        };
        let Values::Approx(a) = &f.values else {
            panic!("{f:?}")
        };
        assert_eq!(a.numeric, Numeric::NoNumbers);
        assert_eq!(&a.lo[..], b"v0");
        assert_eq!(&a.hi[..], format!("v{EXACT_VALUES_MAX}").as_bytes());
        assert!(a.bloom.is_some());
        round_trip(&s);

        let at_max = vec![b'x'; EXACT_VALUE_BYTES_MAX];
        let s = BatchSummary::of_records(&[record(None, &[("h", Some(&at_max))])]);
        let Described::Field(f) = s.describe(Some(b"h")) else {
            panic!()
        };
        assert!(matches!(&f.values, Values::Exact(_)));
        let past = vec![b'x'; EXACT_VALUE_BYTES_MAX + 1];
        let s = BatchSummary::of_records(&[record(None, &[("h", Some(&past))])]);
        let Described::Field(f) = s.describe(Some(b"h")) else {
            panic!()
        };
        let Values::Approx(a) = &f.values else {
            panic!("{f:?}")
        };
        assert!(a.hi_truncated);
        assert_eq!(a.hi.len(), RANGE_PREFIX_BYTES);
        round_trip(&s);
    }

    #[test]
    fn bloom_is_left_out_when_saturated() {
        let records: Vec<Record> = (0..200)
            .map(|i| record(None, &[("id", Some(format!("user-{i}").as_bytes()))]))
            .collect();
        let s = BatchSummary::of_records(&records);
        let Described::Field(f) = s.describe(Some(b"id")) else {
            panic!()
        };
        let Values::Approx(a) = &f.values else {
            panic!()
        };
        assert!(
            a.bloom.is_none(),
            "200 values fill more than half of 128 bits"
        );
        round_trip(&s);
    }

    #[test]
    fn large_batches_fit_the_budget() {
        // 16 names, each with 8 distinct values of 64 bytes: 8 KiB of exact values before
        // degrading; also long keys.
        let mut records = Vec::new();
        for i in 0..EXACT_VALUES_MAX {
            let value = vec![b'a' + i as u8; EXACT_VALUE_BYTES_MAX];
            let names: Vec<String> = (0..NAMES_MAX)
                .map(|n| format!("{}{n}", "name-".repeat(12)))
                .collect();
            let headers: Vec<(&str, Option<&[u8]>)> = names
                .iter()
                .map(|n| (n.as_str(), Some(&value[..])))
                .collect();
            records.push(record(Some(&value), &headers));
        }
        let s = BatchSummary::of_records(&records);
        assert!(s.encoded_len() <= SUMMARY_BYTES_MAX);
        assert!(!s.names_complete(), "some names had to go");
        round_trip(&s);
    }

    #[test]
    fn random_batches_round_trip_within_the_budget() {
        let mut rng = Rng::new(0x5eed_0017);
        for case in 0..2000 {
            let batch = testgen::batch(&mut rng);
            let s = BatchSummary::of_records(&batch);
            assert_eq!(s.record_count() as usize, batch.len(), "case {case}");
            round_trip(&s);
        }
        round_trip(&BatchSummary::of_records(&[]));
    }

    #[test]
    fn truncated_or_garbage_bytes_are_errors_not_panics() {
        let mut rng = Rng::new(0xbad_0017);
        let mut accepted = 0;
        for _ in 0..300 {
            let batch = testgen::batch(&mut rng);
            let mut bytes = Vec::new();
            BatchSummary::of_records(&batch).encode(&mut bytes);
            for cut in 0..bytes.len() {
                assert!(
                    BatchSummary::decode(&bytes[..cut]).is_err(),
                    "a cut at {cut} of {} bytes decoded",
                    bytes.len()
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(BatchSummary::decode(&longer).is_err());
            // Mutations: anything accepted is canonical (re-encodes to the same bytes).
            for _ in 0..20 {
                let mut m = bytes.clone();
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(m.len());
                    m[i] = rng.next_u64() as u8;
                }
                if let Ok(s) = BatchSummary::decode(&m) {
                    accepted += 1;
                    let mut again = Vec::new();
                    s.encode(&mut again);
                    assert_eq!(again, m);
                }
            }
        }
        assert!(accepted > 0, "some mutations (e.g. of a count) stay valid");
        for _ in 0..20_000 {
            let len = rng.below(SUMMARY_BYTES_MAX + 64);
            let mut garbage = rng.bytes(len);
            if !garbage.is_empty() && rng.chance(2) {
                garbage[0] = SUMMARY_VERSION;
            }
            if let Ok(s) = BatchSummary::decode(&garbage) {
                let mut again = Vec::new();
                s.encode(&mut again);
                assert_eq!(again, garbage);
            }
        }
    }

    /// A valid encoding to corrupt: key undescribed, one header `h` with an exact field.
    fn small() -> Vec<u8> {
        let s = BatchSummary::of_records(&[
            record(None, &[("h", Some(b"a"))]),
            record(None, &[("h", Some(b"b"))]),
        ]);
        round_trip(&s)
    }

    #[test]
    fn decode_checks_every_field() {
        let good = small();
        // version 1, count 2, flags 0, 1 header; key: non_null 0, form 0;
        // "h": non_null 2, exact, 2 values "a" "b".
        assert_eq!(
            good,
            [1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 1, b'h', 0, 0, 0, 2, 1, 2, 1, b'a', 1, b'b']
        );
        let bad = |at: usize, byte: u8, expected: &str| {
            let mut b = good.clone();
            b[at] = byte;
            let e = BatchSummary::decode(&b).expect_err(expected);
            assert!(e.contains(expected), "{e:?} should say {expected:?}");
        };
        bad(0, 2, "version 2");
        bad(5, 2, "unknown bits");
        bad(6, NAMES_MAX as u8 + 1, "at most 16");
        bad(4, 1, "2 non-null values in 1 records");
        bad(11, 1, "but none is non-null");
        bad(18, 3, "unknown form 3");
        bad(19, 0, "0 exact values");
        bad(19, 3, "3 exact values for 2 non-null values");
        bad(23, b'a', "not strictly increasing");
        bad(20, EXACT_VALUE_BYTES_MAX as u8 + 1, "at most 64");
        bad(12, NAME_BYTES_MAX as u8 + 1, "at most 64");

        let e = BatchSummary::decode(&vec![1; SUMMARY_BYTES_MAX + 1]).unwrap_err();
        assert!(e.contains("at most 512"), "{e}");
        assert!(BatchSummary::decode(&[]).unwrap_err().contains("truncated"));

        // Exact count past EXACT_VALUES_MAX (with enough non-null values).
        let mut b = good.clone();
        b[1..5].copy_from_slice(&100u32.to_be_bytes());
        b[14..18].copy_from_slice(&100u32.to_be_bytes());
        b[19] = EXACT_VALUES_MAX as u8 + 1;
        assert!(BatchSummary::decode(&b).unwrap_err().contains("1..=8"));

        // A name twice.
        let s = BatchSummary::of_records(&[record(None, &[("a", None), ("b", None)])]);
        let mut b = round_trip(&s);
        let second = b.len() - 6;
        assert_eq!(b[second], b'b');
        b[second] = b'a';
        assert!(BatchSummary::decode(&b)
            .unwrap_err()
            .contains("named twice"));
    }

    #[test]
    fn decode_checks_approx_fields() {
        let records: Vec<Record> = (0..20)
            .map(|i| record(None, &[("n", Some(format!("{i}").as_bytes()))]))
            .collect();
        let good = round_trip(&BatchSummary::of_records(&records));
        // header (7) + key (5) + name (2) + non_null/form (5): flags at 19, numeric at 20.
        assert_eq!(good[18], FORM_APPROX);
        assert_eq!(good[19], APPROX_BLOOM);
        assert_eq!(good[20], NUMERIC_ALL);
        let bad = |edit: &dyn Fn(&mut Vec<u8>), expected: &str| {
            let mut b = good.clone();
            edit(&mut b);
            let e = BatchSummary::decode(&b).expect_err(expected);
            assert!(e.contains(expected), "{e:?} should say {expected:?}");
        };
        bad(&|b| b[19] |= 4, "unknown bits");
        bad(
            &|b| b[19] |= APPROX_HI_TRUNCATED,
            "exactly that if truncated",
        );
        bad(&|b| b[20] = 3, "numeric state 3");
        bad(
            &|b| b[21..29].copy_from_slice(&f64::NAN.to_bits().to_be_bytes()),
            "numeric range NaN",
        );
        bad(
            &|b| b[21..29].copy_from_slice(&100f64.to_bits().to_be_bytes()),
            "numeric range 100..=19",
        );
        // lo = "0" (1 byte at 38), hi = "9" (at 40).
        assert_eq!((good[37], good[38], good[39], good[40]), (1, b'0', 1, b'9'));
        bad(&|b| b[38] = b'z', "lower bound above");
        bad(&|b| b[37] = RANGE_PREFIX_BYTES as u8 + 1, "at most 16");
        bad(&|b| b[41..].fill(0), "0 bits set");
        bad(&|b| b[41..].fill(0xff), "128 bits set");
    }

    #[test]
    fn orderings_of_approx_fields() {
        let v = Value::of;
        // Numbers 10..=29 and a few words.
        let mut records: Vec<Record> = (10..30)
            .map(|i| record(None, &[("n", Some(format!("{i}").as_bytes()))]))
            .collect();
        let s = BatchSummary::of_records(&records);
        let Described::Field(f) = s.describe(Some(b"n")) else {
            panic!()
        };
        let Values::Approx(a) = &f.values else {
            panic!()
        };
        assert_eq!(a.orderings_against(v(b"5")), Orderings::GREATER);
        assert_eq!(a.orderings_against(v(b"100")), Orderings::LESS);
        assert_eq!(
            a.orderings_against(v(b"20.0")),
            Orderings::ANY,
            "20 is among the values"
        );
        assert_eq!(
            a.orderings_against(v(b"abc")),
            Orderings::LESS,
            "digits sort before letters; a number never equals a word"
        );
        records.push(record(None, &[("n", Some(b"zebra"))]));
        let s = BatchSummary::of_records(&records);
        let Described::Field(f) = s.describe(Some(b"n")) else {
            panic!()
        };
        let Values::Approx(a) = &f.values else {
            panic!()
        };
        assert_eq!(
            a.orderings_against(v(b"5")),
            Orderings::GREATER.union(Orderings::LESS),
            "numbers are above 5 and 'zebra' is byte-wise above '5', but the byte bounds \
             cover the numbers too ('10' < '5'): LESS stays possible"
        );
        assert!(a.orderings_against(v(b"zebra")).meets(Orderings::EQUAL));
        assert!(!a.orderings_against(v(b"zz")).meets(Orderings::GREATER));
    }

    #[test]
    fn bloom_bits_are_pinned() {
        // Part of the on-disk format (module docs): these never change within a version.
        assert_eq!(bloom_positions(b"red"), [92, 28, 60]);
        assert_eq!(
            bloom_positions(&100f64.to_bits().to_be_bytes()),
            [76, 63, 70]
        );
        let key = |s: &'static [u8]| EqualityKey::of(Value::of(s)).bytes().to_vec();
        assert_eq!(key(b"100"), key(b"1e2"));
        assert_eq!(key(b"-0"), key(b"0.0"));
        assert_eq!(key(b"red"), b"red");
    }

    #[test]
    fn orderings_reverse() {
        assert_eq!(Orderings::LESS.reversed(), Orderings::GREATER);
        assert_eq!(Orderings::GREATER.reversed(), Orderings::LESS);
        assert_eq!(Orderings::EQUAL.reversed(), Orderings::EQUAL);
        assert_eq!(Orderings::ANY.reversed(), Orderings::ANY);
    }
}

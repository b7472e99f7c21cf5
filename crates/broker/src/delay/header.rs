//! Reading a record's delivery time from its headers, and splitting a produced buffer of a
//! delay-enabled topic into the records due now and the records to hold.
//!
//! Headers (ASCII decimal, digits only, at most 19 of them):
//! - `ringlog-deliver-at`: the delivery time, milliseconds since the Unix epoch;
//! - `ringlog-delay-ms`: milliseconds after the broker received the record.
//!
//! A record with neither, or due at or before the receive time, is due now. A value that is not
//! a number, negative (a sign is not a digit), beyond the maximum delay, a null or repeated
//! header, or both headers on one record refuse the whole batch (INVALID_RECORD with the record's
//! index and the reason).

use bytes::Bytes;

use crate::storage::batch::BatchHeader;
use crate::storage::batch::RECORDS_AT;
use crate::storage::records::{decode_batch_records, read_record, Compression, Record};
use crate::storage::CheckedAppend;

/// Header giving the delivery time in epoch milliseconds.
pub const DELIVER_AT_HEADER: &str = "ringlog-deliver-at";
/// Header giving the delay in milliseconds after the broker received the record.
pub const DELAY_MS_HEADER: &str = "ringlog-delay-ms";
/// Default longest delay: 365 days (RocketMQ 5 defaults to 3 days; a year covers every
/// reminder-style use without letting a typo park a record for centuries).
pub const DELAY_MAX_MS_DEFAULT: i64 = 365 * 24 * 3600 * 1000;
/// Most digits of a header value: 19 digits hold every i64 up to 9.2e18.
const DIGITS_MAX: usize = 19;

/// When one record is due: `Ok(None)` when now (no header, or a time already passed).
pub fn due_of(
    headers: &[(Bytes, Option<Bytes>)],
    received_ms: i64,
    delay_max_ms: i64,
) -> Result<Option<i64>, String> {
    let mut at: Option<i64> = None;
    let mut seen: Option<&str> = None;
    for (key, value) in headers {
        let name = match key.as_ref() {
            k if k == DELIVER_AT_HEADER.as_bytes() => DELIVER_AT_HEADER,
            k if k == DELAY_MS_HEADER.as_bytes() => DELAY_MS_HEADER,
            _ => continue,
        };
        if let Some(first) = seen {
            return Err(if first == name {
                format!("header {name} is given twice")
            } else {
                format!("headers {first} and {name} are both given: give one")
            });
        }
        seen = Some(name);
        let Some(value) = value else {
            return Err(format!(
                "header {name} is null: expected ASCII decimal milliseconds"
            ));
        };
        let n = parse_decimal(value).ok_or_else(|| {
            format!(
                "header {name} is {:?}: expected ASCII decimal milliseconds (digits only, at \
                 most {DIGITS_MAX})",
                String::from_utf8_lossy(&value[..value.len().min(40)])
            )
        })?;
        let due = if name == DELAY_MS_HEADER {
            if n > delay_max_ms {
                return Err(format!(
                    "header {name} is {n} ms, beyond the maximum delay of {delay_max_ms} ms"
                ));
            }
            received_ms.saturating_add(n)
        } else {
            if n.saturating_sub(received_ms) > delay_max_ms {
                return Err(format!(
                    "header {name} is {n}, more than the maximum delay of {delay_max_ms} ms \
                     after the broker's time {received_ms}"
                ));
            }
            n
        };
        at = Some(due);
    }
    Ok(at.filter(|&due| due > received_ms))
}

/// A non-negative ASCII decimal of 1..=19 digits that fits an i64.
fn parse_decimal(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > DIGITS_MAX || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse::<i64>().ok()
}

/// One record taken out of a produced batch, with what is needed to write it again later.
#[derive(Clone, Debug)]
pub struct HeldRecord {
    /// When it is due (epoch ms); the receive time for records due now.
    pub due_ms: i64,
    /// Its timestamp (the batch's base plus its delta): kept on delivery.
    pub timestamp_ms: i64,
    /// The codec of the batch it came in (its delivery batch uses the same).
    pub codec: Compression,
    /// The record; offset and timestamp deltas are rewritten on delivery.
    pub record: Record,
}

/// A produced buffer of a delay-enabled topic that holds at least one delayed record.
#[derive(Debug)]
pub struct HeldBatch {
    /// The headers of the producer's batches (its idempotence is checked against them).
    pub client: Vec<BatchHeader>,
    /// The records due now, in produce order.
    pub now: Vec<HeldRecord>,
    /// The delayed records, in produce order.
    pub delayed: Vec<HeldRecord>,
}

/// Splits a validated buffer: `Ok(None)` when no record names a delivery time (the buffer is
/// appended as it is, byte for byte), else the records due now and the delayed ones (a record
/// whose time has passed is due now, but goes to the timer: if records due before it are still
/// being delivered, it waits behind them). Err: the index of the
/// first bad record of the first bad batch and why.
pub fn split(
    checked: &CheckedAppend,
    received_ms: i64,
    delay_max_ms: i64,
    decompressed_bytes_max: usize,
) -> Result<Option<HeldBatch>, (i32, String)> {
    let records: &Bytes = checked.records();
    if !names_a_time(checked) {
        return Ok(None);
    }
    let mut held = HeldBatch {
        client: Vec::new(),
        now: Vec::new(),
        delayed: Vec::new(),
    };
    let mut timed = false;
    for info in checked.batches() {
        let h = &info.header;
        let at = info.position as usize;
        let batch = records.slice(at..at + h.size_bytes() as usize);
        let codec = Compression::from_attributes(h.attributes)
            .map_err(|e| (0, format!("the batch cannot be read: {e}")))?;
        let decoded = decode_batch_records(&batch, h, decompressed_bytes_max)
            .map_err(|e| (0, format!("the batch cannot be read: {e}")))?;
        for (i, record) in decoded.into_iter().enumerate() {
            let due = due_of(&record.headers, received_ms, delay_max_ms)
                .map_err(|reason| (i as i32, reason))?;
            timed |= due.is_some() || has_delay_header(&record.headers);
            let one = HeldRecord {
                due_ms: due.unwrap_or(received_ms),
                timestamp_ms: h.base_timestamp.saturating_add(record.timestamp_delta),
                codec,
                record,
            };
            if due.is_some() {
                held.delayed.push(one);
            } else {
                held.now.push(one);
            }
        }
        if h.producer_id >= 0 {
            held.client.push(*h);
        }
    }
    Ok(timed.then_some(held))
}

/// False when no record can name a delivery time: every batch is uncompressed and no record
/// has either header (read in place, allocating nothing: the common case of a delay-enabled
/// topic's records that ask for no delay costs one pass over the headers). True when one does,
/// or a batch is compressed (its records are looked at after inflating).
fn names_a_time(checked: &CheckedAppend) -> bool {
    let records = checked.records();
    for info in checked.batches() {
        let h = &info.header;
        if h.compression_bits() != 0 {
            return true;
        }
        let at = info.position as usize;
        let region = &records[at + RECORDS_AT..at + h.size_bytes() as usize];
        let mut pos = 0;
        let mut found = false;
        let mut on_header = |k: &[u8], _: Option<&[u8]>| {
            found |= k == DELIVER_AT_HEADER.as_bytes() || k == DELAY_MS_HEADER.as_bytes();
        };
        for _ in 0..h.records_count {
            // Validated already; a record that does not read is left to the full decode.
            if read_record(region, &mut pos, &mut on_header).is_err() {
                return true;
            }
        }
        if found {
            return true;
        }
    }
    false
}

/// Whether a record names a delivery time (due or not).
fn has_delay_header(headers: &[(Bytes, Option<Bytes>)]) -> bool {
    headers.iter().any(|(k, _)| {
        k.as_ref() == DELIVER_AT_HEADER.as_bytes() || k.as_ref() == DELAY_MS_HEADER.as_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: Option<&str>) -> (Bytes, Option<Bytes>) {
        (
            Bytes::copy_from_slice(k.as_bytes()),
            v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        )
    }

    const NOW: i64 = 1_700_000_000_000;
    const MAX: i64 = DELAY_MAX_MS_DEFAULT;

    fn checked(headers: &[(&str, &str)], codec: Compression) -> CheckedAppend {
        use crate::storage::records::{encode_batch, BatchMeta};
        let records: Vec<Record> = (0..3)
            .map(|i| Record {
                offset_delta: i,
                value: Some(Bytes::from_static(b"v")),
                headers: if i == 2 {
                    headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                Bytes::copy_from_slice(k.as_bytes()),
                                Some(Bytes::copy_from_slice(v.as_bytes())),
                            )
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                ..Record::default()
            })
            .collect();
        let mut buf = Vec::new();
        let meta = BatchMeta {
            base_timestamp: NOW,
            ..BatchMeta::default()
        };
        encode_batch(&meta, &records, codec, &mut buf).unwrap();
        CheckedAppend::check(
            &crate::storage::LogConfig::default(),
            "t",
            0,
            Bytes::from(buf),
            crate::storage::validate::AppendOrigin::Internal,
        )
        .unwrap()
    }

    /// Buffers naming no delivery time keep the byte-for-byte path (found without decoding
    /// when uncompressed); one naming a time, even a passed one, goes to the timer.
    #[test]
    fn only_buffers_that_name_a_time_are_split() {
        let split_of = |headers: &[(&str, &str)], codec| {
            split(&checked(headers, codec), NOW, MAX, 1 << 20)
                .unwrap()
                .map(|h| (h.now.len(), h.delayed.len()))
        };
        for codec in [Compression::None, Compression::Lz4] {
            assert_eq!(split_of(&[], codec), None, "{codec}");
            assert_eq!(split_of(&[("x", "1")], codec), None, "{codec}");
            assert_eq!(
                split_of(&[(DELAY_MS_HEADER, "0")], codec),
                Some((3, 0)),
                "{codec}"
            );
            assert_eq!(
                split_of(&[(DELAY_MS_HEADER, "50")], codec),
                Some((2, 1)),
                "{codec}"
            );
        }
        let bad = split(
            &checked(&[(DELAY_MS_HEADER, "x")], Compression::None),
            NOW,
            MAX,
            1 << 20,
        );
        assert_eq!(bad.unwrap_err().0, 2, "the bad record's index");
    }

    #[test]
    fn both_forms_give_the_due_time_and_past_times_are_due_now() {
        assert_eq!(due_of(&[], NOW, MAX), Ok(None));
        assert_eq!(due_of(&[h("other", Some("5"))], NOW, MAX), Ok(None));
        assert_eq!(
            due_of(&[h(DELAY_MS_HEADER, Some("5000"))], NOW, MAX),
            Ok(Some(NOW + 5000))
        );
        assert_eq!(due_of(&[h(DELAY_MS_HEADER, Some("0"))], NOW, MAX), Ok(None));
        let at = (NOW + 42).to_string();
        assert_eq!(
            due_of(&[h(DELIVER_AT_HEADER, Some(&at))], NOW, MAX),
            Ok(Some(NOW + 42))
        );
        assert_eq!(
            due_of(&[h(DELIVER_AT_HEADER, Some("5"))], NOW, MAX),
            Ok(None),
            "a time in the past is due now"
        );
        assert_eq!(
            due_of(&[h(DELAY_MS_HEADER, Some(&MAX.to_string()))], NOW, MAX),
            Ok(Some(NOW + MAX)),
            "the maximum itself is allowed"
        );
    }

    #[test]
    fn hostile_values_are_refused_with_the_reason() {
        let long = "9".repeat(30);
        let over = (MAX + 1).to_string();
        let far = (NOW + MAX + 1).to_string();
        for (name, value, needle) in [
            (DELAY_MS_HEADER, Some("abc"), "expected ASCII decimal"),
            (DELAY_MS_HEADER, Some("-5"), "expected ASCII decimal"),
            (DELAY_MS_HEADER, Some("+5"), "expected ASCII decimal"),
            (DELAY_MS_HEADER, Some("1e3"), "expected ASCII decimal"),
            (DELAY_MS_HEADER, Some(" 5"), "expected ASCII decimal"),
            (DELAY_MS_HEADER, Some(""), "expected ASCII decimal"),
            (
                DELAY_MS_HEADER,
                Some(long.as_str()),
                "expected ASCII decimal",
            ),
            (
                DELAY_MS_HEADER,
                Some("9999999999999999999"),
                "expected ASCII decimal",
            ),
            (DELAY_MS_HEADER, None, "is null"),
            (DELAY_MS_HEADER, Some(over.as_str()), "beyond the maximum"),
            (
                DELIVER_AT_HEADER,
                Some(far.as_str()),
                "more than the maximum",
            ),
        ] {
            let err = due_of(&[h(name, value)], NOW, MAX).unwrap_err();
            assert!(err.contains(needle), "{name}={value:?}: {err}");
        }
        let err = due_of(
            &[
                h(DELAY_MS_HEADER, Some("5")),
                h(DELIVER_AT_HEADER, Some("5")),
            ],
            NOW,
            MAX,
        )
        .unwrap_err();
        assert!(err.contains("both given"), "{err}");
        let err = due_of(
            &[h(DELAY_MS_HEADER, Some("5")), h(DELAY_MS_HEADER, Some("6"))],
            NOW,
            MAX,
        )
        .unwrap_err();
        assert!(err.contains("twice"), "{err}");
    }
}

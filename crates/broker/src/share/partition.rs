//! One share-partition: the delivery state of one partition for one share group (KIP-932), a
//! pure state machine (no I/O, time passed in), kept on the partition's owner shard.
//!
//! ```text
//!   offsets:  ... spso ........................ end ....................... high watermark
//!                 |<------ runs (in flight) ---->|<-- never delivered: available, count 0 -->
//!   below spso: every record acknowledged or archived (done, never delivered again)
//! ```
//! The in-flight window `[spso, end)` is covered exactly by runs: maximal ranges of offsets
//! with the same state, delivery count and lock or backoff. A record is
//! - *available* (may be acquired once `available_at_ms` has passed: the retry backoff),
//! - *acquired* by one member until its lock deadline (then available again, or archived when
//!   its delivery count reached the limit),
//! - *acknowledged* (ACCEPT) or *archived* (REJECT, the delivery limit, a gap): terminal.
//!
//! Acquiring counts a delivery: the count is kept with the record (durably, see
//! [`SharePartition::encode`]) so a crash never resets it. Whenever the window's head is
//! terminal, `spso` moves past it and those runs are dropped.
//!
//! Records that end archived through REJECT or the delivery limit are also returned to the
//! caller as [`Archived`] ranges, so it can copy them to the group's dead-letter topic.
//!
//! # Invariants
//! - `runs` cover `[spso, end)` exactly, in order, without gaps or overlaps; the first run is
//!   not terminal (after [`SharePartition::advance`]).
//! - `end - spso <= record_locks_max` after an acquisition of new records (the window bound,
//!   Kafka's `group.share.partition.max.record.locks`), so the runs are bounded too.
//! - A record is acquired by at most one member at a time; only its holder may acknowledge it,
//!   and only before its lock deadline.

use std::rc::Rc;

/// Acknowledge types, as the wire carries them (ShareFetch/ShareAcknowledge v1+).
pub const ACK_GAP: i8 = 0;
/// The record was processed.
pub const ACK_ACCEPT: i8 = 1;
/// The record goes back for redelivery.
pub const ACK_RELEASE: i8 = 2;
/// The record cannot be processed: archived (and copied to the dead-letter topic).
pub const ACK_REJECT: i8 = 3;
/// The member keeps the record: its lock is renewed (v2+, KIP-1222).
pub const ACK_RENEW: i8 = 4;

/// The settings a share-partition applies (from the group's configs and the broker's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareSettings {
    /// `share.record.lock.duration.ms`.
    pub lock_ms: i64,
    /// `share.delivery.count.limit`.
    pub delivery_limit: u16,
    /// `group.share.partition.max.record.locks`: the in-flight window.
    pub record_locks_max: i64,
    /// `ringlog.share.retry.backoff.ms`: the delay before redelivery, by delivery count (the
    /// last entry repeats); empty = redeliver at once (Kafka's behaviour).
    pub backoff_ms: Vec<i64>,
    /// `share.renew.acknowledge.enable`: RENEW acknowledgements are accepted.
    pub renew_enabled: bool,
    /// `share.isolation.level=read_committed`: acquire below the last stable offset only, and
    /// archive aborted transactions' records instead of delivering them.
    pub read_committed: bool,
}

impl ShareSettings {
    fn backoff(&self, delivery_count: u16) -> i64 {
        if self.backoff_ms.is_empty() || delivery_count == 0 {
            return 0;
        }
        let i = usize::from(delivery_count - 1).min(self.backoff_ms.len() - 1);
        self.backoff_ms[i]
    }
}

/// A record's delivery state.
#[allow(missing_docs)] // the variants' docs name their fields
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordState {
    /// May be acquired from `available_at_ms` on.
    Available { available_at_ms: i64 },
    /// Held by `member` until `deadline_ms`.
    Acquired { member: Rc<str>, deadline_ms: i64 },
    /// Accepted: done.
    Acknowledged,
    /// Rejected, delivered too often or not a record: done.
    Archived,
}

impl RecordState {
    fn is_terminal(&self) -> bool {
        matches!(self, RecordState::Acknowledged | RecordState::Archived)
    }
}

/// Offsets `first..=last` with one state and delivery count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// First offset.
    pub first: i64,
    /// Last offset, inclusive.
    pub last: i64,
    /// The records' state.
    pub state: RecordState,
    /// Deliveries so far (acquisitions).
    pub delivery_count: u16,
}

impl Run {
    fn len(&self) -> i64 {
        self.last - self.first + 1
    }
}

/// Offsets handed to a member: `first..=last`, delivered `delivery_count` times (this one
/// included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acquired {
    /// First offset.
    pub first: i64,
    /// Last offset, inclusive.
    pub last: i64,
    /// Deliveries so far (acquisitions).
    pub delivery_count: u16,
}

/// Why records were archived (for the dead-letter topic's `__dlq.errors.message`-style context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveReason {
    /// The member rejected them.
    Rejected,
    /// Their delivery count reached the limit.
    DeliveryLimit,
}

/// Offsets archived by REJECT or the delivery limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Archived {
    /// First offset.
    pub first: i64,
    /// Last offset, inclusive.
    pub last: i64,
    /// Deliveries so far (acquisitions).
    pub delivery_count: u16,
    /// Why.
    pub reason: ArchiveReason,
}

/// Archived records waiting to be copied to the group's dead-letter topic, with the place
/// (partition and idempotent sequence) they were given when they were archived, in the same
/// durable write: a copy interrupted by a crash is written again with the same sequence, and
/// the dead-letter partition's producer state tells whether it had landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDlq {
    /// First offset.
    pub first: i64,
    /// Last offset, inclusive.
    pub last: i64,
    /// The delivery count at archiving.
    pub delivery_count: u16,
    /// Why they were archived.
    pub reason: ArchiveReason,
    /// The dead-letter topic.
    pub topic: String,
    /// Its partition (the source partition modulo its partition count, as Kafka does).
    pub partition: i32,
    /// The sequence of the copy's first record.
    pub base_sequence: i32,
    /// Copy the records' keys and values (`errors.deadletterqueue.copy.record.enable` when they
    /// were archived).
    pub copy_record: bool,
}

/// Why an acknowledgement was refused (the partition's `acknowledge_error_code`).
#[allow(missing_docs)] // the variants' docs name their fields
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckError {
    /// Not acquired by this member (any more): INVALID_RECORD_STATE.
    InvalidState { offset: i64 },
    /// A malformed batch (last < first, wrong number of types, unknown type): INVALID_REQUEST.
    Invalid { reason: String },
}

/// One acknowledgement batch, as the wire carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckBatch {
    /// First offset.
    pub first: i64,
    /// Last offset, inclusive.
    pub last: i64,
    /// One type for the whole range, or one per offset.
    pub types: Vec<i8>,
}

/// Counts for describe: records in each state inside the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Available records.
    pub available: i64,
    /// Acquired records.
    pub acquired: i64,
    /// Acknowledged records.
    pub acknowledged: i64,
    /// Archived records.
    pub archived: i64,
}

/// The delivery state of one partition for one share group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharePartition {
    spso: i64,
    end: i64,
    runs: Vec<Run>,
    pending: Vec<PendingDlq>,
}

impl SharePartition {
    /// A share-partition starting at `start` (from `share.auto.offset.reset`).
    pub fn new(start: i64) -> SharePartition {
        SharePartition {
            spso: start,
            end: start,
            runs: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Archived records waiting for their dead-letter copy.
    pub fn pending_dlq(&self) -> &[PendingDlq] {
        &self.pending
    }

    /// Records archived records for their dead-letter copy.
    pub fn add_pending_dlq(&mut self, entries: impl IntoIterator<Item = PendingDlq>) {
        self.pending.extend(entries);
    }

    /// Forgets dead-letter copies that are done (or given up).
    pub fn remove_pending_dlq(&mut self, done: impl Fn(&PendingDlq) -> bool) {
        self.pending.retain(|p| !done(p));
    }

    /// The share-partition start offset.
    pub fn start_offset(&self) -> i64 {
        self.spso
    }

    /// The end of the in-flight window (first offset never delivered).
    pub fn end_offset(&self) -> i64 {
        self.end
    }

    /// The runs of the window (for tests and describe).
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Moves the start to `offset` when the log no longer has records below it (retention):
    /// records below it can never be delivered.
    pub fn truncate_below(&mut self, offset: i64) {
        if offset <= self.spso {
            return;
        }
        if offset >= self.end {
            self.runs.clear();
            self.spso = offset;
            self.end = offset;
            return;
        }
        self.split_at(offset);
        self.runs.retain(|r| r.first >= offset);
        self.spso = offset;
    }

    /// Counts per state in the window.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.runs {
            let n = r.len();
            match r.state {
                RecordState::Available { .. } => c.available += n,
                RecordState::Acquired { .. } => c.acquired += n,
                RecordState::Acknowledged => c.acknowledged += n,
                RecordState::Archived => c.archived += n,
            }
        }
        c
    }

    /// The first offset a read for an acquisition at `now_ms` should start at: the first
    /// available in-flight record whose backoff has passed, else `end`; `None` when the window
    /// is full and nothing in it is available.
    pub fn next_acquirable(&self, now_ms: i64, settings: &ShareSettings) -> Option<i64> {
        for r in &self.runs {
            if let RecordState::Available { available_at_ms } = r.state {
                if available_at_ms <= now_ms {
                    return Some(r.first);
                }
            }
        }
        (self.end - self.spso < settings.record_locks_max).then_some(self.end)
    }

    /// Whether `member` holds acquired records of the window.
    pub fn held_by(&self, member: &str) -> bool {
        self.runs
            .iter()
            .any(|r| matches!(&r.state, RecordState::Acquired { member: m, .. } if &**m == member))
    }

    /// The earliest time something held or backed off becomes available (for the long poll).
    pub fn next_wakeup(&self, now_ms: i64) -> Option<i64> {
        self.runs
            .iter()
            .filter_map(|r| match &r.state {
                RecordState::Available { available_at_ms } if *available_at_ms > now_ms => {
                    Some(*available_at_ms)
                }
                RecordState::Acquired { deadline_ms, .. } => Some(*deadline_ms),
                _ => None,
            })
            .min()
    }

    /// Acquires for `member` the available records in `from..=last` (the records a read
    /// returned), at most `max_records`, and, for offsets at or past `end`, at most up to the
    /// window bound. Returns the acquired ranges, with their new delivery counts.
    pub fn acquire(
        &mut self,
        member: &Rc<str>,
        from: i64,
        last: i64,
        max_records: i64,
        now_ms: i64,
        settings: &ShareSettings,
    ) -> Vec<Acquired> {
        let mut out: Vec<Acquired> = Vec::new();
        let mut budget = max_records.max(1);
        let deadline_ms = now_ms.saturating_add(settings.lock_ms);
        let from = from.max(self.spso);
        // In-flight records first.
        let mut i = self.runs.partition_point(|r| r.last < from);
        while i < self.runs.len() && budget > 0 {
            let r = &self.runs[i];
            if r.first > last {
                break;
            }
            let available = matches!(r.state, RecordState::Available { available_at_ms } if available_at_ms <= now_ms);
            if !available {
                i += 1;
                continue;
            }
            let lo = r.first.max(from);
            let hi = r.last.min(last).min(lo + budget - 1);
            self.split_at(lo);
            self.split_at(hi + 1);
            let j = self.runs.partition_point(|r| r.last < lo);
            let run = &mut self.runs[j];
            debug_assert!(run.first == lo && run.last == hi);
            run.delivery_count = run.delivery_count.saturating_add(1);
            run.state = RecordState::Acquired {
                member: member.clone(),
                deadline_ms,
            };
            push_acquired(
                &mut out,
                Acquired {
                    first: lo,
                    last: hi,
                    delivery_count: run.delivery_count,
                },
            );
            budget -= hi - lo + 1;
            i = j + 1;
        }
        // Then records never delivered, up to the window bound.
        let lo = self.end.max(from);
        let window_end = self.spso.saturating_add(settings.record_locks_max) - 1;
        let hi = last.min(window_end).min(lo.saturating_add(budget) - 1);
        if budget > 0 && lo <= hi && lo == self.end {
            self.runs.push(Run {
                first: lo,
                last: hi,
                state: RecordState::Acquired {
                    member: member.clone(),
                    deadline_ms,
                },
                delivery_count: 1,
            });
            self.end = hi + 1;
            push_acquired(
                &mut out,
                Acquired {
                    first: lo,
                    last: hi,
                    delivery_count: 1,
                },
            );
        }
        self.merge();
        out
    }

    /// Gives back what `member` acquired at `deadline_ms` from `offset` on, as if it had never
    /// been delivered (its delivery count goes back down): the records could not be read to
    /// be sent (a read error, or a byte budget that ended the read before them).
    pub fn unacquire(&mut self, member: &str, deadline_ms: i64, offset: i64) {
        self.split_at(offset);
        for r in &mut self.runs {
            if r.first < offset {
                continue;
            }
            let held = matches!(&r.state, RecordState::Acquired { member: m, deadline_ms: d }
                if &**m == member && *d == deadline_ms);
            if held {
                r.state = RecordState::Available { available_at_ms: 0 };
                r.delivery_count = r.delivery_count.saturating_sub(1);
            }
        }
        self.merge();
    }

    /// Archives, undelivered, what `member` acquired at `deadline_ms` in `first..=last` (the
    /// records of an aborted transaction under read_committed: never delivered, never sent to
    /// the dead-letter topic). Returns how many offsets were archived.
    pub fn archive_acquired(
        &mut self,
        member: &str,
        deadline_ms: i64,
        first: i64,
        last: i64,
    ) -> i64 {
        if first > last {
            return 0;
        }
        self.split_at(first);
        self.split_at(last + 1);
        let mut archived = 0;
        for r in &mut self.runs {
            if r.last < first || r.first > last {
                continue;
            }
            let held = matches!(&r.state, RecordState::Acquired { member: m, deadline_ms: d }
                if &**m == member && *d == deadline_ms);
            if held {
                r.state = RecordState::Archived;
                archived += r.last - r.first + 1;
            }
        }
        self.merge();
        self.advance();
        archived
    }

    /// Applies one member's acknowledgements, all or none: every offset must be in the window
    /// and acquired by `member` with its lock not expired. Returns the archived ranges that
    /// must go to the dead-letter topic.
    pub fn acknowledge(
        &mut self,
        member: &str,
        batches: &[AckBatch],
        now_ms: i64,
        settings: &ShareSettings,
    ) -> Result<Vec<Archived>, AckError> {
        for b in batches {
            validate_batch(b)?;
            if b.types.contains(&ACK_RENEW) && !settings.renew_enabled {
                return Err(AckError::Invalid {
                    reason: "Renew acknowledgements are disabled for this group \
                             (share.renew.acknowledge.enable=false)"
                        .to_string(),
                });
            }
            if b.last >= self.end {
                // Kafka's answer for offsets it never handed out.
                return Err(AckError::Invalid {
                    reason: "Batch record not found. The request batch offsets are not found \
                             in the cache."
                        .to_string(),
                });
            }
            // Offsets below the start are done already: skipped, as Kafka does.
            let mut offset = b.first.max(self.spso);
            while offset <= b.last {
                let Some(r) = self.run_of(offset) else {
                    return Err(AckError::InvalidState { offset });
                };
                match &r.state {
                    RecordState::Acquired {
                        member: holder,
                        deadline_ms,
                    } if &**holder == member && *deadline_ms > now_ms => {}
                    // Acknowledging a record already acknowledged or archived changes nothing
                    // (no error, as in Kafka).
                    RecordState::Acknowledged | RecordState::Archived => {}
                    _ => return Err(AckError::InvalidState { offset }),
                }
                offset = r.last.min(b.last) + 1;
            }
        }
        let mut archived = Vec::new();
        for b in batches {
            if b.types.len() == 1 {
                self.set_range(b.first, b.last, b.types[0], now_ms, settings, &mut archived);
            } else {
                // Runs of equal types.
                let mut lo = b.first;
                while lo <= b.last {
                    let t = type_at(b, lo);
                    let mut hi = lo;
                    while hi < b.last && type_at(b, hi + 1) == t {
                        hi += 1;
                    }
                    self.set_range(lo, hi, t, now_ms, settings, &mut archived);
                    lo = hi + 1;
                }
            }
        }
        self.merge();
        self.advance();
        Ok(archived)
    }

    /// Ends the locks that passed their deadline: records go back to available (after the
    /// backoff) or, at the delivery limit, are archived (returned for the dead-letter topic).
    pub fn expire_locks(&mut self, now_ms: i64, settings: &ShareSettings) -> Vec<Archived> {
        let mut archived = Vec::new();
        let mut changed = false;
        for r in &mut self.runs {
            if let RecordState::Acquired { deadline_ms, .. } = r.state {
                if deadline_ms <= now_ms {
                    release_run(r, now_ms, settings, &mut archived);
                    changed = true;
                }
            }
        }
        if changed {
            self.merge();
            self.advance();
        }
        archived
    }

    /// Releases every record `member` holds (its session closed or it left the group).
    pub fn release_member(
        &mut self,
        member: &str,
        now_ms: i64,
        settings: &ShareSettings,
    ) -> Vec<Archived> {
        let mut archived = Vec::new();
        let mut changed = false;
        for r in &mut self.runs {
            if matches!(&r.state, RecordState::Acquired { member: m, .. } if &**m == member) {
                release_run(r, now_ms, settings, &mut archived);
                changed = true;
            }
        }
        if changed {
            self.merge();
            self.advance();
        }
        archived
    }

    /// Whether anything changed since `other` (the state to persist).
    pub fn differs_from(&self, other: &SharePartition) -> bool {
        self != other
    }

    fn run_of(&self, offset: i64) -> Option<&Run> {
        if offset < self.spso || offset >= self.end {
            return None;
        }
        let i = self.runs.partition_point(|r| r.last < offset);
        self.runs.get(i)
    }

    fn set_range(
        &mut self,
        lo: i64,
        hi: i64,
        ack: i8,
        now_ms: i64,
        settings: &ShareSettings,
        archived: &mut Vec<Archived>,
    ) {
        let lo = lo.max(self.spso);
        let hi = hi.min(self.end - 1);
        if lo > hi {
            return;
        }
        self.split_at(lo);
        self.split_at(hi + 1);
        let start = self.runs.partition_point(|r| r.last < lo);
        for r in &mut self.runs[start..] {
            if r.first > hi {
                break;
            }
            // Only what the member holds changes (validated: the rest is already done).
            if !matches!(r.state, RecordState::Acquired { .. }) {
                continue;
            }
            match ack {
                ACK_GAP => r.state = RecordState::Archived,
                ACK_ACCEPT => r.state = RecordState::Acknowledged,
                ACK_RELEASE => release_run(r, now_ms, settings, archived),
                ACK_REJECT => {
                    r.state = RecordState::Archived;
                    push_archived(
                        archived,
                        Archived {
                            first: r.first,
                            last: r.last,
                            delivery_count: r.delivery_count,
                            reason: ArchiveReason::Rejected,
                        },
                    );
                }
                ACK_RENEW => {
                    if let RecordState::Acquired { deadline_ms, .. } = &mut r.state {
                        *deadline_ms = now_ms.saturating_add(settings.lock_ms);
                    }
                }
                _ => unreachable!("validated"),
            }
        }
    }

    /// Splits the run containing `offset` so a run starts there.
    fn split_at(&mut self, offset: i64) {
        let i = self.runs.partition_point(|r| r.last < offset);
        let Some(r) = self.runs.get(i) else { return };
        if r.first >= offset {
            return;
        }
        let mut tail = r.clone();
        tail.first = offset;
        self.runs[i].last = offset - 1;
        self.runs.insert(i + 1, tail);
    }

    /// Joins neighbouring runs that are alike.
    fn merge(&mut self) {
        let mut out: Vec<Run> = Vec::with_capacity(self.runs.len());
        for r in self.runs.drain(..) {
            if let Some(prev) = out.last_mut() {
                if prev.last + 1 == r.first
                    && prev.state == r.state
                    && (prev.delivery_count == r.delivery_count || prev.state.is_terminal())
                {
                    prev.last = r.last;
                    prev.delivery_count = prev.delivery_count.max(r.delivery_count);
                    continue;
                }
            }
            out.push(r);
        }
        self.runs = out;
    }

    /// Moves `spso` past the terminal head of the window.
    fn advance(&mut self) {
        let done = self
            .runs
            .iter()
            .take_while(|r| r.state.is_terminal())
            .count();
        if done > 0 {
            self.spso = self.runs[done - 1].last + 1;
            self.runs.drain(..done);
        }
        if self.runs.is_empty() {
            self.spso = self.spso.max(self.end);
            self.end = self.spso;
        }
    }

    /// The durable form: acquired records are stored as acquired with their delivery counts,
    /// and read back as held by nobody with a lock that has already ended, so the first
    /// `expire_locks` after a restart treats them as a lock end: available again, or archived
    /// (and copied to the dead-letter topic) when their count reached the limit.
    ///
    /// ```text
    /// version u8=0 | spso i64 | end i64 | runs u32 | per run: first i64, last i64,
    ///   state u8 (0 available, 1 acknowledged, 2 archived, 3 acquired), delivery_count u16,
    ///   available_at_ms i64
    /// pending u32 | per dead-letter copy: first i64, last i64, delivery_count u16,
    ///   reason u8 (0 rejected, 1 delivery limit; | 0x80: copy key and value), topic (len u16
    ///   + UTF-8), partition i32,
    ///   base_sequence i32                                     (all big-endian)
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(21 + self.runs.len() * RUN_BYTES);
        out.push(ENCODING_VERSION);
        out.extend_from_slice(&self.spso.to_be_bytes());
        out.extend_from_slice(&self.end.to_be_bytes());
        out.extend_from_slice(&(self.runs.len() as u32).to_be_bytes());
        for r in &self.runs {
            let (state, at) = match &r.state {
                RecordState::Available { available_at_ms } => (0u8, *available_at_ms),
                RecordState::Acquired { .. } => (3u8, 0),
                RecordState::Acknowledged => (1u8, 0),
                RecordState::Archived => (2u8, 0),
            };
            out.extend_from_slice(&r.first.to_be_bytes());
            out.extend_from_slice(&r.last.to_be_bytes());
            out.push(state);
            out.extend_from_slice(&r.delivery_count.to_be_bytes());
            out.extend_from_slice(&at.to_be_bytes());
        }
        out.extend_from_slice(&(self.pending.len() as u32).to_be_bytes());
        for p in &self.pending {
            out.extend_from_slice(&p.first.to_be_bytes());
            out.extend_from_slice(&p.last.to_be_bytes());
            out.extend_from_slice(&p.delivery_count.to_be_bytes());
            out.push(
                match p.reason {
                    ArchiveReason::Rejected => 0,
                    ArchiveReason::DeliveryLimit => 1,
                } | if p.copy_record { COPY_RECORD_BIT } else { 0 },
            );
            let topic = p.topic.as_bytes();
            out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
            out.extend_from_slice(topic);
            out.extend_from_slice(&p.partition.to_be_bytes());
            out.extend_from_slice(&p.base_sequence.to_be_bytes());
        }
        out
    }

    /// Reads [`SharePartition::encode`]'s form back, checking every invariant.
    pub fn decode(bytes: &[u8]) -> Result<SharePartition, String> {
        let mut r = bytes;
        let version = take::<1>(&mut r)?[0];
        if version != ENCODING_VERSION {
            return Err(format!("share state version {version} is unknown"));
        }
        let spso = i64::from_be_bytes(take::<8>(&mut r)?);
        let end = i64::from_be_bytes(take::<8>(&mut r)?);
        let n = u32::from_be_bytes(take::<4>(&mut r)?) as usize;
        if r.len() < n * RUN_BYTES {
            return Err(format!("share state: {n} runs in {} bytes", r.len()));
        }
        let mut runs = Vec::with_capacity(n);
        let mut expect = spso;
        for _ in 0..n {
            let first = i64::from_be_bytes(take::<8>(&mut r)?);
            let last = i64::from_be_bytes(take::<8>(&mut r)?);
            let state = take::<1>(&mut r)?[0];
            let delivery_count = u16::from_be_bytes(take::<2>(&mut r)?);
            let at = i64::from_be_bytes(take::<8>(&mut r)?);
            if first != expect || last < first {
                return Err(format!(
                    "share state: run {first}..={last} where {expect} was expected"
                ));
            }
            expect = last + 1;
            let state = match state {
                0 => RecordState::Available {
                    available_at_ms: at,
                },
                1 => RecordState::Acknowledged,
                2 => RecordState::Archived,
                // Held when written: after a restart nobody holds them, so their lock has
                // ended (the next `expire_locks` makes them available, or archives them at
                // the delivery limit).
                3 => RecordState::Acquired {
                    member: Rc::from(""),
                    deadline_ms: i64::MIN,
                },
                s => return Err(format!("share state: record state {s} is unknown")),
            };
            runs.push(Run {
                first,
                last,
                state,
                delivery_count,
            });
        }
        if expect != end || spso < 0 {
            return Err(format!(
                "share state: runs end at {expect}, window end {end}"
            ));
        }
        let n = u32::from_be_bytes(take::<4>(&mut r)?) as usize;
        let mut pending = Vec::with_capacity(n.min(r.len() / 8));
        for _ in 0..n {
            let first = i64::from_be_bytes(take::<8>(&mut r)?);
            let last = i64::from_be_bytes(take::<8>(&mut r)?);
            let delivery_count = u16::from_be_bytes(take::<2>(&mut r)?);
            let flags = take::<1>(&mut r)?[0];
            let copy_record = flags & COPY_RECORD_BIT != 0;
            let reason = match flags & !COPY_RECORD_BIT {
                0 => ArchiveReason::Rejected,
                1 => ArchiveReason::DeliveryLimit,
                x => return Err(format!("share state: archive reason {x} is unknown")),
            };
            let len = u16::from_be_bytes(take::<2>(&mut r)?) as usize;
            if r.len() < len {
                return Err("share state is truncated".to_string());
            }
            let topic = std::str::from_utf8(&r[..len])
                .map_err(|_| "share state: a dead-letter topic name is not UTF-8")?
                .to_string();
            r = &r[len..];
            let partition = i32::from_be_bytes(take::<4>(&mut r)?);
            let base_sequence = i32::from_be_bytes(take::<4>(&mut r)?);
            if last < first {
                return Err(format!("share state: dead-letter range {first}..={last}"));
            }
            pending.push(PendingDlq {
                first,
                last,
                delivery_count,
                reason,
                topic,
                partition,
                base_sequence,
                copy_record,
            });
        }
        if !r.is_empty() {
            return Err(format!("share state: {} bytes after the end", r.len()));
        }
        let mut p = SharePartition {
            spso,
            end,
            runs,
            pending,
        };
        p.merge();
        p.advance();
        Ok(p)
    }
}

const ENCODING_VERSION: u8 = 0;
/// In a pending copy's reason byte: copy the records' keys and values.
const COPY_RECORD_BIT: u8 = 0x80;
const RUN_BYTES: usize = 8 + 8 + 1 + 2 + 8;

fn take<const N: usize>(r: &mut &[u8]) -> Result<[u8; N], String> {
    if r.len() < N {
        return Err("share state is truncated".to_string());
    }
    let (head, tail) = r.split_at(N);
    *r = tail;
    Ok(head.try_into().expect("N bytes"))
}

fn validate_batch(b: &AckBatch) -> Result<(), AckError> {
    let invalid = |reason: String| Err(AckError::Invalid { reason });
    if b.first < 0 || b.last < b.first {
        return invalid(format!(
            "acknowledgement batch {}..={} is empty",
            b.first, b.last
        ));
    }
    let len = b.last - b.first + 1;
    if b.types.len() != 1 && b.types.len() as i64 != len {
        return invalid(format!(
            "acknowledgement batch {}..={} has {} types: 1 or {len} expected",
            b.first,
            b.last,
            b.types.len()
        ));
    }
    if let Some(t) = b.types.iter().find(|t| !(ACK_GAP..=ACK_RENEW).contains(*t)) {
        return invalid(format!("acknowledge type {t} is unknown"));
    }
    Ok(())
}

fn type_at(b: &AckBatch, offset: i64) -> i8 {
    if b.types.len() == 1 {
        b.types[0]
    } else {
        b.types[(offset - b.first) as usize]
    }
}

/// A run goes back to available (after the backoff), or is archived at the delivery limit.
fn release_run(r: &mut Run, now_ms: i64, settings: &ShareSettings, archived: &mut Vec<Archived>) {
    if r.delivery_count >= settings.delivery_limit {
        r.state = RecordState::Archived;
        push_archived(
            archived,
            Archived {
                first: r.first,
                last: r.last,
                delivery_count: r.delivery_count,
                reason: ArchiveReason::DeliveryLimit,
            },
        );
    } else {
        r.state = RecordState::Available {
            available_at_ms: now_ms.saturating_add(settings.backoff(r.delivery_count)),
        };
    }
}

fn push_acquired(out: &mut Vec<Acquired>, a: Acquired) {
    if let Some(prev) = out.last_mut() {
        if prev.last + 1 == a.first && prev.delivery_count == a.delivery_count {
            prev.last = a.last;
            return;
        }
    }
    out.push(a);
}

fn push_archived(out: &mut Vec<Archived>, a: Archived) {
    if let Some(prev) = out.last_mut() {
        if prev.last + 1 == a.first
            && prev.delivery_count == a.delivery_count
            && prev.reason == a.reason
        {
            prev.last = a.last;
            return;
        }
    }
    out.push(a);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ShareSettings {
        ShareSettings {
            lock_ms: 30_000,
            delivery_limit: 3,
            record_locks_max: 100,
            backoff_ms: Vec::new(),
            renew_enabled: true,
            read_committed: false,
        }
    }

    fn m(s: &str) -> Rc<str> {
        Rc::from(s)
    }

    fn ack(first: i64, last: i64, t: i8) -> AckBatch {
        AckBatch {
            first,
            last,
            types: vec![t],
        }
    }

    #[test]
    fn archive_acquired_takes_only_the_members_own_acquisition() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 9, 500, 0, &s);
        // Another member's records and another acquisition of the same member are kept.
        assert_eq!(p.archive_acquired("b", s.lock_ms, 0, 9), 0);
        assert_eq!(p.archive_acquired("a", s.lock_ms + 1, 0, 9), 0);
        // An aborted transaction's records in the middle: archived, the start stays.
        assert_eq!(p.archive_acquired("a", s.lock_ms, 3, 5), 3);
        assert_eq!(p.start_offset(), 0);
        let archived: Vec<(i64, i64)> = p
            .runs
            .iter()
            .filter(|r| r.state == RecordState::Archived)
            .map(|r| (r.first, r.last))
            .collect();
        assert_eq!(archived, vec![(3, 5)]);
        // Accepting the rest moves the start past the archived ones.
        assert_eq!(
            p.acknowledge("a", &[ack(0, 2, ACK_ACCEPT), ack(6, 9, ACK_ACCEPT)], 1, &s),
            Ok(vec![])
        );
        assert_eq!((p.start_offset(), p.runs.len()), (10, 0));
        // At the head: the start moves at once.
        p.acquire(&m("a"), 10, 14, 500, 2, &s);
        assert_eq!(p.archive_acquired("a", 2 + s.lock_ms, 10, 11), 2);
        assert_eq!(p.start_offset(), 12);
    }

    #[test]
    fn acquire_accept_moves_the_start() {
        let s = settings();
        let mut p = SharePartition::new(0);
        let a = p.acquire(&m("a"), 0, 9, 500, 0, &s);
        assert_eq!(
            a,
            vec![Acquired {
                first: 0,
                last: 9,
                delivery_count: 1
            }]
        );
        // Nothing left to acquire in 0..=9.
        assert!(p.acquire(&m("b"), 0, 9, 500, 1, &s).is_empty());
        assert_eq!(
            p.acknowledge("a", &[ack(0, 4, ACK_ACCEPT)], 2, &s),
            Ok(vec![])
        );
        assert_eq!(p.start_offset(), 5);
        assert_eq!(p.end_offset(), 10);
    }

    #[test]
    fn only_the_holder_acknowledges_and_only_before_the_deadline() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 9, 500, 0, &s);
        assert_eq!(
            p.acknowledge("b", &[ack(0, 0, ACK_ACCEPT)], 1, &s),
            Err(AckError::InvalidState { offset: 0 })
        );
        assert_eq!(
            p.acknowledge("a", &[ack(0, 0, ACK_ACCEPT)], 30_000, &s),
            Err(AckError::InvalidState { offset: 0 })
        );
        // Past the window end: never handed out (Kafka's INVALID_REQUEST).
        assert!(matches!(
            p.acknowledge("a", &[ack(5, 12, ACK_ACCEPT)], 1, &s),
            Err(AckError::Invalid { .. })
        ));
        // All or none: the failed batches changed nothing.
        assert_eq!(p.counts().acquired, 10);
    }

    #[test]
    fn release_redelivers_with_a_higher_count_and_the_limit_archives() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 4, 500, 0, &s);
        p.acknowledge("a", &[ack(2, 2, ACK_RELEASE)], 1, &s)
            .unwrap();
        assert_eq!(p.next_acquirable(1, &s), Some(2));
        let a = p.acquire(&m("b"), 2, 4, 500, 1, &s);
        assert_eq!(
            a,
            vec![Acquired {
                first: 2,
                last: 2,
                delivery_count: 2
            }]
        );
        p.acknowledge("b", &[ack(2, 2, ACK_RELEASE)], 2, &s)
            .unwrap();
        p.acquire(&m("b"), 2, 2, 500, 2, &s);
        let archived = p
            .acknowledge("b", &[ack(2, 2, ACK_RELEASE)], 3, &s)
            .unwrap();
        assert_eq!(
            archived,
            vec![Archived {
                first: 2,
                last: 2,
                delivery_count: 3,
                reason: ArchiveReason::DeliveryLimit
            }]
        );
        assert!(p.acquire(&m("b"), 2, 2, 500, 3, &s).is_empty());
    }

    #[test]
    fn per_offset_types_and_reject() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 3, 500, 0, &s);
        let archived = p
            .acknowledge(
                "a",
                &[AckBatch {
                    first: 0,
                    last: 3,
                    types: vec![ACK_ACCEPT, ACK_REJECT, ACK_RELEASE, ACK_ACCEPT],
                }],
                1,
                &s,
            )
            .unwrap();
        assert_eq!(
            archived,
            vec![Archived {
                first: 1,
                last: 1,
                delivery_count: 1,
                reason: ArchiveReason::Rejected
            }]
        );
        assert_eq!(p.start_offset(), 2);
        assert_eq!(p.counts().available, 1);
    }

    #[test]
    fn expired_locks_come_back_after_the_backoff() {
        let mut s = settings();
        s.backoff_ms = vec![1_000, 5_000];
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 4, 500, 0, &s);
        assert!(p.expire_locks(29_999, &s).is_empty());
        assert_eq!(p.counts().acquired, 5);
        p.expire_locks(30_000, &s);
        assert_eq!(p.counts().available, 5);
        assert_eq!(p.next_acquirable(30_500, &s), Some(5));
        assert_eq!(p.next_wakeup(30_500), Some(31_000));
        assert!(p.acquire(&m("b"), 0, 4, 500, 30_999, &s).is_empty());
        let a = p.acquire(&m("b"), 0, 4, 500, 31_000, &s);
        assert_eq!(
            a,
            vec![Acquired {
                first: 0,
                last: 4,
                delivery_count: 2
            }]
        );
    }

    #[test]
    fn max_records_and_the_window_bound() {
        let mut s = settings();
        s.record_locks_max = 10;
        let mut p = SharePartition::new(100);
        let a = p.acquire(&m("a"), 100, 199, 4, 0, &s);
        assert_eq!(
            a,
            vec![Acquired {
                first: 100,
                last: 103,
                delivery_count: 1
            }]
        );
        let a = p.acquire(&m("a"), 104, 199, 500, 0, &s);
        assert_eq!(
            a,
            vec![Acquired {
                first: 104,
                last: 109,
                delivery_count: 1
            }]
        );
        assert_eq!(p.next_acquirable(0, &s), None);
        p.acknowledge("a", &[ack(100, 101, ACK_ACCEPT)], 1, &s)
            .unwrap();
        assert_eq!(p.next_acquirable(1, &s), Some(110));
    }

    #[test]
    fn renew_extends_the_lock_and_release_member_frees() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 4, 500, 0, &s);
        p.acknowledge("a", &[ack(0, 4, ACK_RENEW)], 20_000, &s)
            .unwrap();
        assert!(p.expire_locks(30_000, &s).is_empty());
        assert_eq!(p.counts().acquired, 5);
        p.release_member("a", 30_001, &s);
        assert_eq!(p.counts().available, 5);
    }

    #[test]
    fn encode_round_trip_turns_acquired_into_available() {
        let s = settings();
        let mut p = SharePartition::new(7);
        p.acquire(&m("a"), 7, 20, 500, 0, &s);
        p.acknowledge(
            "a",
            &[ack(9, 9, ACK_ACCEPT), ack(11, 12, ACK_REJECT)],
            1,
            &s,
        )
        .unwrap();
        let mut q = SharePartition::decode(&p.encode()).unwrap();
        assert_eq!(q.start_offset(), 7);
        assert_eq!(q.end_offset(), 21);
        assert_eq!(q.counts().acquired, 11, "held, by nobody");
        assert!(q.acknowledge("a", &[ack(7, 7, ACK_ACCEPT)], 2, &s).is_err());
        assert!(q.expire_locks(2, &s).is_empty());
        assert_eq!(q.counts().available, 11);
        assert_eq!(q.counts().acknowledged, 1);
        assert_eq!(q.counts().archived, 2);

        let a = q.acquire(&m("b"), 7, 8, 500, 2, &s);
        assert_eq!(
            a,
            vec![Acquired {
                first: 7,
                last: 8,
                delivery_count: 2
            }]
        );
        p.add_pending_dlq([PendingDlq {
            first: 11,
            last: 12,
            delivery_count: 1,
            reason: ArchiveReason::Rejected,
            topic: "dlq.t".to_string(),
            partition: 0,
            base_sequence: 7,
            copy_record: true,
        }]);
        let r = SharePartition::decode(&p.encode()).unwrap();
        assert_eq!(r.pending_dlq(), p.pending_dlq());
        let mut trailing = p.encode();
        trailing.push(0);
        assert!(SharePartition::decode(&trailing).is_err());
        for bad in [&b""[..], &[1u8][..], &p.encode()[..20]] {
            assert!(SharePartition::decode(bad).is_err());
        }
    }

    #[test]
    fn records_held_at_the_limit_when_written_are_archived_after_a_restart() {
        let mut s = settings();
        s.delivery_limit = 2;
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 1, 500, 0, &s);
        p.acknowledge("a", &[ack(0, 1, ACK_RELEASE)], 1, &s)
            .unwrap();
        let again = p.acquire(&m("a"), 0, 1, 500, 2, &s);
        assert_eq!(again[0].delivery_count, 2);
        let mut q = SharePartition::decode(&p.encode()).unwrap();
        let archived = q.expire_locks(3, &s);
        assert_eq!(
            archived,
            vec![Archived {
                first: 0,
                last: 1,
                delivery_count: 2,
                reason: ArchiveReason::DeliveryLimit
            }]
        );
        assert!(q.acquire(&m("b"), 0, 1, 500, 3, &s).is_empty());
    }

    #[test]
    fn done_records_and_offsets_below_the_start_acknowledge_as_no_ops() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 9, 500, 0, &s);
        p.acknowledge("a", &[ack(0, 4, ACK_ACCEPT)], 1, &s).unwrap();
        // 0..=4 are below the start now; 5 is accepted, then accepted again: no error.
        p.acknowledge("a", &[ack(0, 5, ACK_ACCEPT)], 2, &s).unwrap();
        p.acknowledge("a", &[ack(5, 5, ACK_REJECT)], 3, &s).unwrap();
        assert_eq!(p.start_offset(), 6);
        assert_eq!(p.counts().archived, 0, "a done record stays as it was");
        let mut off = settings();
        off.renew_enabled = false;
        assert!(matches!(
            p.acknowledge("a", &[ack(6, 6, ACK_RENEW)], 4, &off),
            Err(AckError::Invalid { .. })
        ));
    }

    #[test]
    fn unacquired_records_come_back_undelivered() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 9, 500, 0, &s);
        p.unacquire("a", s.lock_ms, 6);
        assert_eq!(p.counts().acquired, 6);
        assert_eq!(p.counts().available, 4);
        let a = p.acquire(&m("b"), 0, 9, 500, 1, &s);
        assert_eq!(
            a,
            vec![Acquired {
                first: 6,
                last: 9,
                delivery_count: 1
            }]
        );
    }

    #[test]
    fn bad_batches_are_invalid() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 4, 500, 0, &s);
        for b in [
            ack(3, 2, ACK_ACCEPT),
            AckBatch {
                first: 0,
                last: 2,
                types: vec![1, 1],
            },
            ack(0, 0, 9),
        ] {
            assert!(matches!(
                p.acknowledge("a", &[b], 1, &s),
                Err(AckError::Invalid { .. })
            ));
        }
    }

    #[test]
    fn truncation_drops_records_below_the_log_start() {
        let s = settings();
        let mut p = SharePartition::new(0);
        p.acquire(&m("a"), 0, 9, 500, 0, &s);
        p.truncate_below(5);
        assert_eq!(p.start_offset(), 5);
        assert_eq!(p.counts().acquired, 5);
        p.truncate_below(50);
        assert_eq!((p.start_offset(), p.end_offset()), (50, 50));
    }
}

//! Acknowledgements of a share consumer (KIP-932): how each acquired offset is acknowledged,
//! kept as sorted runs of offsets so that a poll of thousands of records costs a few runs, and
//! sent as ShareFetch/ShareAcknowledge acknowledgement batches.
//!
//! ```text
//!  add(10, 19, Accept), add(20, 20, Accept), add(21, 22, Gap), add(15, 15, Release)
//!    runs: [10..=14 Accept] [15..=15 Release] [16..=20 Accept] [21..=22 Gap]
//!    batches: {10, 14, [1]} {15, 15, [2]} {16, 20, [1]} {21, 22, [0]}
//! ```
//!
//! Each batch carries one type for its whole range (the wire allows one type per offset too;
//! runs make that unnecessary).
//!
//! # Invariants
//! - Runs are sorted, never overlap, and two runs that touch have different types (adjacent
//!   runs of one type are merged); asserted after every change in debug builds.
//! - Every offset is at least 0 and every run has `first <= last`: a bad range is refused when
//!   it is added, never sent.

use ringlog_protocol::messages::ShareAcknowledgementBatch;

/// How a record is acknowledged (KIP-932's AcknowledgeType, the wire codes of
/// `acknowledge_types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcknowledgeType {
    /// Not a record (a control record or a gap in the log): archived.
    Gap,
    /// Processed: archived, never delivered again.
    Accept,
    /// Not processed: available again for any member (delivery count kept).
    Release,
    /// Unprocessable: archived (and, with a dead-letter topic, copied there).
    Reject,
    /// Still processing: the acquisition lock starts again (ShareFetch/ShareAcknowledge v2).
    Renew,
}

impl AcknowledgeType {
    /// Every type, in wire-code order.
    pub const ALL: [AcknowledgeType; 5] = [
        AcknowledgeType::Gap,
        AcknowledgeType::Accept,
        AcknowledgeType::Release,
        AcknowledgeType::Reject,
        AcknowledgeType::Renew,
    ];

    /// Its wire code: 0 gap, 1 accept, 2 release, 3 reject, 4 renew.
    pub fn code(self) -> i8 {
        match self {
            AcknowledgeType::Gap => 0,
            AcknowledgeType::Accept => 1,
            AcknowledgeType::Release => 2,
            AcknowledgeType::Reject => 3,
            AcknowledgeType::Renew => 4,
        }
    }

    /// The type of a wire code.
    pub fn from_code(code: i8) -> Option<AcknowledgeType> {
        AcknowledgeType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Kafka's name (`ACCEPT`, ...).
    pub fn name(self) -> &'static str {
        match self {
            AcknowledgeType::Gap => "GAP",
            AcknowledgeType::Accept => "ACCEPT",
            AcknowledgeType::Release => "RELEASE",
            AcknowledgeType::Reject => "REJECT",
            AcknowledgeType::Renew => "RENEW",
        }
    }
}

/// Offsets `first..=last`, all acknowledged as `ack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckRun {
    /// First offset.
    pub first: i64,
    /// Last offset, inclusive.
    pub last: i64,
    /// How they are acknowledged.
    pub ack: AcknowledgeType,
}

impl AckRun {
    /// Offsets in the run.
    pub fn len(&self) -> u64 {
        (self.last - self.first) as u64 + 1
    }

    /// Never: a run holds at least one offset.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The acknowledgements of one partition: sorted, non-overlapping runs (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckRanges {
    runs: Vec<AckRun>,
}

impl AckRanges {
    /// Acknowledges `first..=last` as `ack`; a later acknowledgement of an offset replaces an
    /// earlier one. A negative offset or `first > last` is refused (the message says why).
    pub fn add(&mut self, first: i64, last: i64, ack: AcknowledgeType) -> Result<(), String> {
        if first < 0 || last < first {
            return Err(format!(
                "cannot acknowledge offsets {first}..={last} as {}",
                ack.name()
            ));
        }
        let run = AckRun { first, last, ack };
        match self.runs.last_mut() {
            // Records are handed out in offset order: almost every add lands past the end.
            None => self.runs.push(run),
            Some(end) if end.last < first => {
                if end.last + 1 == first && end.ack == ack {
                    end.last = last;
                } else {
                    self.runs.push(run);
                }
            }
            Some(_) => self.insert(run),
        }
        self.check();
        Ok(())
    }

    /// The slow path of [`AckRanges::add`]: cut what `new` overlaps out of the runs, insert it,
    /// merge neighbours of one type.
    fn insert(&mut self, new: AckRun) {
        let mut runs = Vec::with_capacity(self.runs.len() + 2);
        let mut placed = false;
        for r in self.runs.drain(..) {
            if r.last < new.first {
                runs.push(r);
                continue;
            }
            if r.first < new.first {
                runs.push(AckRun {
                    last: new.first - 1,
                    ..r
                });
            }
            if !placed {
                runs.push(new);
                placed = true;
            }
            if r.last > new.last {
                runs.push(AckRun {
                    first: r.first.max(new.last + 1),
                    ..r
                });
            }
        }
        if !placed {
            runs.push(new);
        }
        let mut merged: Vec<AckRun> = Vec::with_capacity(runs.len());
        for r in runs {
            match merged.last_mut() {
                Some(m) if m.last + 1 == r.first && m.ack == r.ack => m.last = r.last,
                _ => merged.push(r),
            }
        }
        self.runs = merged;
    }

    fn check(&self) {
        debug_assert!(
            self.runs.iter().all(|r| r.first >= 0 && r.first <= r.last),
            "{:?}",
            self.runs
        );
        debug_assert!(
            self.runs
                .windows(2)
                .all(|w| w[0].last < w[1].first
                    && (w[0].last + 1 < w[1].first || w[0].ack != w[1].ack)),
            "{:?}",
            self.runs
        );
    }

    /// No acknowledgement held.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs, in offset order.
    pub fn runs(&self) -> &[AckRun] {
        &self.runs
    }

    /// Offsets acknowledged as `ack`.
    pub fn count(&self, ack: AcknowledgeType) -> u64 {
        self.runs
            .iter()
            .filter(|r| r.ack == ack)
            .map(AckRun::len)
            .sum()
    }

    /// Offsets acknowledged, of any type.
    pub fn len(&self) -> u64 {
        self.runs.iter().map(AckRun::len).sum()
    }

    /// The acknowledgement batches of a request: one per run, one type each.
    pub fn batches(&self) -> Vec<ShareAcknowledgementBatch> {
        self.runs
            .iter()
            .map(|r| ShareAcknowledgementBatch {
                first_offset: r.first,
                last_offset: r.last,
                acknowledge_types: vec![r.ack.code()],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use AcknowledgeType::*;

    fn runs(a: &AckRanges) -> Vec<(i64, i64, AcknowledgeType)> {
        a.runs().iter().map(|r| (r.first, r.last, r.ack)).collect()
    }

    #[test]
    fn types_have_kafkas_codes_and_names() {
        let codes: Vec<i8> = AcknowledgeType::ALL.iter().map(|t| t.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4]);
        for t in AcknowledgeType::ALL {
            assert_eq!(AcknowledgeType::from_code(t.code()), Some(t));
        }
        assert_eq!(AcknowledgeType::from_code(5), None);
        assert_eq!(AcknowledgeType::from_code(-1), None);
        assert_eq!(Reject.name(), "REJECT");
    }

    #[test]
    fn the_module_docs_example() {
        let mut a = AckRanges::default();
        a.add(10, 19, Accept).unwrap();
        a.add(20, 20, Accept).unwrap();
        a.add(21, 22, Gap).unwrap();
        a.add(15, 15, Release).unwrap();
        assert_eq!(
            runs(&a),
            [
                (10, 14, Accept),
                (15, 15, Release),
                (16, 20, Accept),
                (21, 22, Gap)
            ]
        );
        let b = a.batches();
        assert_eq!(b.len(), 4);
        assert_eq!(
            (
                b[1].first_offset,
                b[1].last_offset,
                &b[1].acknowledge_types[..]
            ),
            (15, 15, &[2][..])
        );
        assert_eq!((a.len(), a.count(Accept), a.count(Gap)), (13, 10, 2));
    }

    #[test]
    fn bad_ranges_are_refused_and_change_nothing() {
        let mut a = AckRanges::default();
        a.add(5, 5, Accept).unwrap();
        assert!(a.add(-1, 3, Accept).is_err());
        let e = a.add(9, 8, Reject).unwrap_err();
        assert!(e.contains("9..=8 as REJECT"), "{e}");
        assert_eq!(runs(&a), [(5, 5, Accept)]);
    }

    #[test]
    fn replacing_covers_merges_and_splits() {
        let mut a = AckRanges::default();
        a.add(0, 9, Accept).unwrap();
        a.add(20, 29, Accept).unwrap();
        // Covers the gap and parts of both: one run of a new type.
        a.add(5, 24, Reject).unwrap();
        assert_eq!(
            runs(&a),
            [(0, 4, Accept), (5, 24, Reject), (25, 29, Accept)]
        );
        // Back to Accept: everything merges into one run.
        a.add(5, 24, Accept).unwrap();
        assert_eq!(runs(&a), [(0, 29, Accept)]);
        // Before the first run, touching it with the same type: merged.
        a.add(0, 0, Release).unwrap();
        a.add(0, 0, Accept).unwrap();
        assert_eq!(runs(&a), [(0, 29, Accept)]);
        // Covering everything.
        a.add(0, 100, Gap).unwrap();
        assert_eq!(runs(&a), [(0, 100, Gap)]);
    }

    /// Random adds against a plain per-offset model.
    #[test]
    fn matches_a_per_offset_model() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _case in 0..200 {
            let mut a = AckRanges::default();
            let mut model: BTreeMap<i64, AcknowledgeType> = BTreeMap::new();
            for _ in 0..30 {
                let first = next(60) as i64;
                let last = first + next(8) as i64;
                let ack = AcknowledgeType::ALL[next(3) as usize];
                a.add(first, last, ack).unwrap();
                for o in first..=last {
                    model.insert(o, ack);
                }
                let mut expanded = BTreeMap::new();
                for r in a.runs() {
                    for o in r.first..=r.last {
                        expanded.insert(o, r.ack);
                    }
                }
                assert_eq!(expanded, model);
                // Merged as far as possible: no two touching runs share a type.
                let fewest = model
                    .iter()
                    .zip(model.iter().skip(1))
                    .filter(|((o1, t1), (o2, t2))| **o1 + 1 != **o2 || t1 != t2)
                    .count()
                    + 1;
                assert_eq!(a.runs().len(), fewest);
            }
        }
    }
}

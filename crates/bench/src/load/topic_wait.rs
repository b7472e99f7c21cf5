//! Waiting for the topic a run just created to be usable: listed in Metadata, every partition
//! with a leader, and every leader serving it.
//!
//! Kafka (KRaft) answers CreateTopics once the controller has committed the topic; brokers learn
//! it from the metadata log afterwards, so a Metadata request right after the CreateTopics
//! answer may still get UNKNOWN_TOPIC_OR_PARTITION, or LEADER_NOT_AVAILABLE for a partition
//! (seen against Kafka 4.4: the bench used to fail there). Even once Metadata names a leader,
//! that broker may not have opened the partition yet and answers NOT_LEADER_OR_FOLLOWER (seen
//! too: 2 of 5 runs failed their first Produce), so the wait ends with a ListOffsets of every
//! partition, which the leader answers only once it serves the partition. ringlog broadcasts
//! its catalog before it answers CreateTopics, so against ringlog the first attempt succeeds.
//!
//! # Invariants
//! - Bounded: at most [`TOPIC_VISIBLE_WAIT_MS_MAX`] of waiting, then an error naming the topic,
//!   the attempts and the last answer.
//! - Only retriable answers are retried; any other error code is returned at once.

use std::time::{Duration, Instant};

use super::LoadError;
use ringlog_client::api::TopicInfo;
use ringlog_client::{ClientError, Connection};
use ringlog_protocol::error;

/// Longest wait for a just-created topic to show up with leaders: Kafka propagates a new topic
/// to its brokers in milliseconds; 10 s covers a loaded machine and still fails a run quickly.
pub const TOPIC_VISIBLE_WAIT_MS_MAX: u64 = 10_000;
/// First pause between Metadata attempts (doubled each time up to the next bound): short, since
/// the usual wait is a few milliseconds.
const TOPIC_VISIBLE_BACKOFF_MS_FIRST: u64 = 10;
/// Longest pause between Metadata attempts.
const TOPIC_VISIBLE_BACKOFF_MS_MAX: u64 = 500;

/// Where a topic's metadata comes from: a broker connection, or a fake in the tests.
pub(crate) trait TopicMetadata {
    /// Metadata of `topic` without auto-creating it; a topic missing from the answer comes
    /// back as UNKNOWN_TOPIC_OR_PARTITION.
    async fn describe(&mut self, topic: &str) -> Result<TopicInfo, ClientError>;
    /// Ask the leaders of partitions `0..partitions` something only a serving leader answers
    /// (the log end offset).
    async fn probe_leaders(&mut self, topic: &str, partitions: i32) -> Result<(), ClientError>;
}

impl TopicMetadata for Connection {
    async fn describe(&mut self, topic: &str) -> Result<TopicInfo, ClientError> {
        let found = self
            .metadata(&[topic], false)
            .await?
            .into_iter()
            .find(|t| t.name == topic);
        Ok(found.unwrap_or_else(|| TopicInfo {
            name: topic.to_string(),
            error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
            partitions: Vec::new(),
        }))
    }

    async fn probe_leaders(&mut self, topic: &str, partitions: i32) -> Result<(), ClientError> {
        let all: Vec<i32> = (0..partitions).collect();
        self.list_offsets(topic, &all, ringlog_client::api::LATEST_TIMESTAMP)
            .await
            .map(|_| ())
    }
}

/// What one Metadata answer says about the topic.
enum Answer {
    /// Usable: this many partitions, each with a leader.
    Ready(i32),
    /// Not yet (a retriable code, no partitions, or a partition without a leader): why.
    NotYet(String),
}

fn read_answer(topic: &str, info: &TopicInfo) -> Result<Answer, ClientError> {
    let op = || format!("metadata for {topic}");
    if info.error_code != error::NONE {
        if error::is_retriable(info.error_code) {
            return Ok(Answer::NotYet(format!(
                "topic error code {}",
                info.error_code
            )));
        }
        ClientError::check(info.error_code, None, op)?;
    }
    if info.partitions.is_empty() {
        return Ok(Answer::NotYet("no partitions listed".into()));
    }
    for p in &info.partitions {
        if p.error_code != error::NONE && !error::is_retriable(p.error_code) {
            ClientError::check(p.error_code, None, op)?;
        }
        if p.error_code != error::NONE || p.leader_id < 0 {
            return Ok(Answer::NotYet(format!(
                "partition {} has no leader (error code {})",
                p.partition, p.error_code
            )));
        }
    }
    let n = i32::try_from(info.partitions.len()).unwrap_or(i32::MAX);
    Ok(Answer::Ready(n))
}

/// Ask for `topic`'s metadata until every partition has a leader that answers a ListOffsets,
/// pausing 10, 20, 40 ... up to 500 ms between attempts, for at most `wait_max`. Returns the
/// partition count.
pub(crate) async fn wait_until_visible(
    source: &mut impl TopicMetadata,
    topic: &str,
    wait_max: Duration,
) -> Result<i32, LoadError> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(TOPIC_VISIBLE_BACKOFF_MS_FIRST);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let info = source.describe(topic).await?;
        let why = match read_answer(topic, &info)? {
            Answer::Ready(partitions) => match source.probe_leaders(topic, partitions).await {
                Ok(()) => return Ok(partitions),
                Err(e) if e.is_retriable() => format!("a leader is not serving yet: {e}"),
                Err(e) => return Err(e.into()),
            },
            Answer::NotYet(why) => why,
        };
        let waited = started.elapsed();
        if waited >= wait_max {
            return Err(LoadError(format!(
                "topic {topic} is not usable {waited:?} after it was created \
                 ({attempts} Metadata requests; the last: {why})"
            )));
        }
        ringlog_runtime::time::sleep(backoff.min(wait_max - waited)).await;
        backoff = (backoff * 2).min(Duration::from_millis(TOPIC_VISIBLE_BACKOFF_MS_MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_client::api::PartitionInfo;
    use ringlog_runtime::{IoKind, RuntimeConfig};

    /// Metadata answers from a list (the last one repeats), then ListOffsets error codes from
    /// a list (then none); counts the requests.
    struct Scripted {
        answers: Vec<TopicInfo>,
        probe_errors: Vec<i16>,
        asked: usize,
        probed: usize,
    }

    impl TopicMetadata for Scripted {
        async fn describe(&mut self, _topic: &str) -> Result<TopicInfo, ClientError> {
            let i = self.asked.min(self.answers.len() - 1);
            self.asked += 1;
            Ok(self.answers[i].clone())
        }

        async fn probe_leaders(&mut self, topic: &str, _: i32) -> Result<(), ClientError> {
            let code = self.probe_errors.get(self.probed).copied().unwrap_or(0);
            self.probed += 1;
            ClientError::check(code, None, || format!("list offsets of {topic}"))
        }
    }

    fn topic(code: i16, leaders: &[i32]) -> TopicInfo {
        TopicInfo {
            name: "t".into(),
            error_code: code,
            partitions: leaders
                .iter()
                .enumerate()
                .map(|(i, &leader_id)| PartitionInfo {
                    partition: i as i32,
                    leader_id,
                    error_code: if leader_id < 0 {
                        error::LEADER_NOT_AVAILABLE
                    } else {
                        error::NONE
                    },
                })
                .collect(),
        }
    }

    fn wait(answers: Vec<TopicInfo>, wait_max: Duration) -> (Result<i32, LoadError>, usize) {
        let (r, source) = wait_probing(answers, vec![], wait_max);
        (r, source.asked)
    }

    fn wait_probing(
        answers: Vec<TopicInfo>,
        probe_errors: Vec<i16>,
        wait_max: Duration,
    ) -> (Result<i32, LoadError>, Scripted) {
        let mut source = Scripted {
            answers,
            probe_errors,
            asked: 0,
            probed: 0,
        };
        let result = ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async {
            wait_until_visible(&mut source, "t", wait_max).await
        })
        .expect("runtime starts");
        (result, source)
    }

    #[test]
    fn a_topic_kafka_has_not_propagated_yet_is_asked_for_again() {
        let unknown = topic(error::UNKNOWN_TOPIC_OR_PARTITION, &[]);
        let (r, asked) = wait(
            vec![
                unknown.clone(),
                unknown,
                topic(0, &[-1, 1]),
                topic(0, &[1, 1]),
            ],
            Duration::from_secs(5),
        );
        assert_eq!(r.unwrap(), 2);
        assert_eq!(asked, 4);
    }

    #[test]
    fn a_topic_that_never_shows_up_fails_within_the_bound_and_says_why() {
        let started = Instant::now();
        let (r, asked) = wait(
            vec![topic(error::UNKNOWN_TOPIC_OR_PARTITION, &[])],
            Duration::from_millis(200),
        );
        let e = r.unwrap_err().0;
        assert!(e.contains("topic t is not usable"), "{e}");
        assert!(e.contains("error code 3"), "{e}");
        assert!(asked >= 2, "{asked}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_leader_not_serving_the_partition_yet_is_asked_again() {
        let (r, source) = wait_probing(
            vec![topic(0, &[1, 1, 1])],
            vec![error::NOT_LEADER_OR_FOLLOWER, error::NOT_LEADER_OR_FOLLOWER],
            Duration::from_secs(5),
        );
        assert_eq!(r.unwrap(), 3);
        assert_eq!((source.asked, source.probed), (3, 3));
        let (r, source) = wait_probing(
            vec![topic(0, &[1])],
            vec![error::TOPIC_AUTHORIZATION_FAILED],
            Duration::from_secs(5),
        );
        assert!(r.is_err());
        assert_eq!(source.probed, 1, "a non-retriable answer is final");
    }

    #[test]
    fn a_non_retriable_error_is_returned_at_once() {
        let (r, asked) = wait(
            vec![topic(error::TOPIC_AUTHORIZATION_FAILED, &[])],
            Duration::from_secs(5),
        );
        assert!(r.is_err());
        assert_eq!(asked, 1);
    }
}

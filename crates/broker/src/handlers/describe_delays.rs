//! DescribeDelays (key 32000, ringlog-private, never advertised): per topic, the records the
//! broker holds for scheduled delivery (issue #15), for `ringlog delays`. The numbers come from
//! [`crate::delay::describe`]; this file checks the request and shapes the response.
//!
//! The response has one error code, not one per topic (the command asks about a few topics and
//! wants all or nothing): a topic asked for whose name is invalid answers
//! INVALID_TOPIC_EXCEPTION, one not in the catalog UNKNOWN_TOPIC_OR_PARTITION (as Kafka's describe
//! commands refuse a missing topic), and the list is then empty. A topic named twice is described
//! once. Topics come back sorted by name.

use std::rc::Rc;

use crate::delay::{self, TopicDelays};
use crate::error::BrokerError;
use crate::protocol::error as code;
use crate::protocol::messages::{
    DescribeDelaysRequest, DescribeDelaysResponse, DescribedTopicDelays,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a DescribeDelays request.
pub async fn handle(shard: &Rc<ShardState>, req: DescribeDelaysRequest) -> DescribeDelaysResponse {
    let asked = match req.topics {
        None => None,
        Some(names) => {
            let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            names.sort_unstable();
            names.dedup();
            if let Err(e) = check_topics(shard, &names) {
                return DescribeDelaysResponse {
                    error_code: e.kafka_code(),
                    ..Default::default()
                };
            }
            Some(names)
        }
    };
    let mut topics = delay::describe(shard, asked).await;
    topics.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
    DescribeDelaysResponse {
        throttle_time_ms: 0,
        error_code: code::NONE,
        topics: topics.into_iter().map(wire_topic).collect(),
    }
}

/// Every name is a valid topic name and in this shard's catalog.
fn check_topics(shard: &ShardState, names: &[String]) -> Result<(), BrokerError> {
    let catalog = shard.catalog.borrow();
    for name in names {
        crate::storage::names::validate_topic(name)?;
        if catalog.get(name).is_none() {
            return Err(BrokerError::UnknownTopic {
                topic: name.clone(),
            });
        }
    }
    Ok(())
}

/// One topic on the wire: counts as i64 (saturating: no count this large can exist), no next due
/// time as -1.
fn wire_topic(t: TopicDelays) -> DescribedTopicDelays {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    DescribedTopicDelays {
        name: Str::from(t.topic),
        pending: count(t.pending),
        next_due_ms: t.next_due_ms.unwrap_or(-1),
        oldest_overdue_lag_ms: count(t.oldest_overdue_lag_ms),
        delivered: count(t.delivered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_topic_maps_none_to_minus_one_and_saturates() {
        let t = wire_topic(TopicDelays {
            topic: "orders".into(),
            pending: u64::MAX,
            next_due_ms: None,
            oldest_overdue_lag_ms: 7,
            delivered: 3,
        });
        assert_eq!(&*t.name, "orders");
        assert_eq!(
            (
                t.pending,
                t.next_due_ms,
                t.oldest_overdue_lag_ms,
                t.delivered
            ),
            (i64::MAX, -1, 7, 3)
        );
        let t = wire_topic(TopicDelays {
            topic: "t".into(),
            pending: 1,
            next_due_ms: Some(1_700_000_000_000),
            oldest_overdue_lag_ms: 0,
            delivered: 0,
        });
        assert_eq!((t.pending, t.next_due_ms), (1, 1_700_000_000_000));
    }
}

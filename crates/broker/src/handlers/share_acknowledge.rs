//! ShareAcknowledge (key 79, KIP-932): a member acknowledges records it acquired, in its share
//! session, without fetching (`share::serve` without fetch limits).

use std::rc::Rc;

use crate::error::code_of;
use crate::protocol::messages::{
    ShareAcknowledgePartitionData, ShareAcknowledgeRequest, ShareAcknowledgeResponse,
    ShareAcknowledgeTopicResponse, ShareLeaderIdAndEpoch,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;
use crate::share::group::codes;
use crate::share::{self, Wanted};

/// Answer a ShareAcknowledge request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: ShareAcknowledgeRequest,
) -> ShareAcknowledgeResponse {
    let (Some(group), Some(member)) = (req.group_id.as_ref(), req.member_id.as_ref()) else {
        return refused(codes::INVALID_REQUEST, "GroupId and MemberId must be set");
    };
    let wanted: Vec<Wanted> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                Wanted::new(t.topic_id, p.partition_index, &p.acknowledgement_batches)
            })
        })
        .collect();
    let named: Vec<(uuid::Uuid, i32)> = wanted.iter().map(|w| (w.topic_id, w.partition)).collect();
    let served = share::serve(
        shard,
        group.to_string(),
        member.to_string(),
        req.share_session_epoch,
        wanted,
        Vec::new(),
        None,
    )
    .await;
    let served = match served {
        Ok(s) => s,
        Err(r) => return refused(r.code, &r.message),
    };
    let mut responses: Vec<ShareAcknowledgeTopicResponse> = Vec::new();
    for (topic_id, partition, outcome) in served.parts {
        // Partitions of a closing session that the request did not name were only released:
        // the client expects answers for the partitions it named.
        if !named.contains(&(topic_id, partition)) {
            continue;
        }
        let (error_code, error_message) = match &outcome {
            Err(e) => (code_of(Some(e)), Some(Str::from(e.to_string()))),
            Ok(o) => match &o.ack_error {
                Some((code, message)) => (*code, Some(Str::from(message.as_str()))),
                None => (0, None),
            },
        };
        let data = ShareAcknowledgePartitionData {
            partition_index: partition,
            error_code,
            error_message,
            current_leader: ShareLeaderIdAndEpoch {
                leader_id: 0,
                leader_epoch: 0,
            },
        };
        match responses.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(t) => t.partitions.push(data),
            None => responses.push(ShareAcknowledgeTopicResponse {
                topic_id,
                partitions: vec![data],
            }),
        }
    }
    ShareAcknowledgeResponse {
        acquisition_lock_timeout_ms: served.lock_ms as i32,
        responses,
        ..Default::default()
    }
}

fn refused(code: i16, message: &str) -> ShareAcknowledgeResponse {
    ShareAcknowledgeResponse {
        error_code: code,
        error_message: Some(Str::from(message)),
        ..Default::default()
    }
}

//! Every Kafka request and response ringlog serves or sends, defined once, declaratively (one
//! file per API, field lists from the Kafka protocol guide and message schemas), and the
//! [`Request`]/[`Response`] enums that dispatch on the api key.
//!
//! To add an API: write its file with [`crate::api_message!`] and [`crate::wire_struct!`], add a
//! line to the `apis!` list below, a row to [`super::versions::SUPPORTED_APIS`] if the broker
//! serves it, and a line to the differential tests' table. A ringlog-private API (a key from
//! [`super::api_key::RINGLOG_PRIVATE_KEY_MIN`] up, unknown to Kafka and so to the differential
//! tests' oracle) gets a row in [`super::versions::PRIVATE_APIS`] instead, and byte vectors of its
//! own in the round-trip tests.
//!
//! An API may be defined ahead of its handler: listed in `unserved_apis!` (at the end) it gets
//! [`ApiRequest`] and the header versions, so a client can send it, but no [`Request`] variant,
//! so the broker's dispatch and ApiVersions are unchanged. Serving it means moving it into
//! `apis!`, adding its [`super::versions::SUPPORTED_APIS`] row, and its rows in the round-trip
//! tests' tables (`first_flexible_version`, `with_request_type!`).
//!
//! # Invariants
//! - Each definition covers at least every version the broker advertises (tested).
//! - Handlers see these types only; which field exists at which version is decided here.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_share_group_offsets;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_share_group_offsets;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_delays;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_share_group_offsets;
pub mod describe_share_state;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod describe_views;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
pub mod sync_group;
pub mod txn_offset_commit;

pub use add_offsets_to_txn::*;
pub use add_partitions_to_txn::*;
pub use alter_client_quotas::*;
pub use alter_configs::*;
pub use alter_share_group_offsets::*;
pub use alter_user_scram_credentials::*;
pub use api_versions::*;
pub use consumer_group_describe::*;
pub use consumer_group_heartbeat::*;
pub use create_acls::*;
pub use create_partitions::*;
pub use create_topics::*;
pub use delete_acls::*;
pub use delete_groups::*;
pub use delete_records::*;
pub use delete_share_group_offsets::*;
pub use delete_topics::*;
pub use describe_acls::*;
pub use describe_client_quotas::*;
pub use describe_cluster::*;
pub use describe_configs::*;
pub use describe_delays::*;
pub use describe_groups::*;
pub use describe_log_dirs::*;
pub use describe_producers::*;
pub use describe_share_group_offsets::*;
pub use describe_share_state::*;
pub use describe_topic_partitions::*;
pub use describe_transactions::*;
pub use describe_user_scram_credentials::*;
pub use describe_views::*;
pub use end_txn::*;
pub use fetch::*;
pub use find_coordinator::*;
pub use heartbeat::*;
pub use incremental_alter_configs::*;
pub use init_producer_id::*;
pub use join_group::*;
pub use leave_group::*;
pub use list_groups::*;
pub use list_offsets::*;
pub use list_transactions::*;
pub use metadata::*;
pub use offset_commit::*;
pub use offset_delete::*;
pub use offset_fetch::*;
pub use produce::*;
pub use sasl_authenticate::*;
pub use sasl_handshake::*;
pub use share_acknowledge::*;
pub use share_fetch::*;
pub use share_group_describe::*;
pub use share_group_heartbeat::*;
pub use sync_group::*;
pub use txn_offset_commit::*;

use bytes::BytesMut;

use super::api_key::ApiKey;
use super::wire::{Reader, Wire, WireError};
use super::Message;

/// A request body, tied to its api key and the body type that answers it (the client's
/// `request::<R>() -> R::Response`).
pub trait ApiRequest: Message {
    const KEY: ApiKey;
    type Response: Message;
}

/// The type of a [`Request`] variant: the message, or `Box` of it for the `[boxed]` ones.
#[doc(hidden)]
#[macro_export]
macro_rules! __request_variant {
    ($request:ident) => {
        $request
    };
    ($request:ident, boxed) => {
        Box<$request>
    };
}

/// Wraps a decoded message into its [`Request`] variant's type.
#[doc(hidden)]
#[macro_export]
macro_rules! __request_wrap {
    ($value:expr) => {
        $value
    };
    ($value:expr, boxed) => {
        Box::new($value)
    };
}

/// Generates the request and response enums and their dispatch from one list of APIs.
macro_rules! apis {
    ($($api:ident => $request:ident $([$boxed:ident])?, $response:ident;)*) => {
        /// A decoded request body of one of the defined APIs.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $( $api($crate::__request_variant!($request $(, $boxed)?)), )*
        }

        /// A response body of one of the defined APIs.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response {
            $( $api($response), )*
        }

        impl Request {
            pub fn api_key(&self) -> ApiKey {
                match self { $( Request::$api(_) => ApiKey::$api, )* }
            }

            /// Decodes a request body of `api_key` at `version` (which the caller has checked
            /// against the definition's versions).
            #[inline]
            pub fn decode(api_key: ApiKey, version: i16, r: &mut Reader)
                -> Result<Option<Request>, WireError>
            {
                Ok(Some(match api_key {
                    $( ApiKey::$api => Request::$api($crate::__request_wrap!(
                        <$request>::read(r, <$request>::cx(version))? $(, $boxed)?
                    )), )*
                    #[allow(unreachable_patterns)]
                    _ => return Ok(None),
                }))
            }

            /// Appends the body at `version`.
            pub fn encode(&self, w: &mut BytesMut, version: i16) {
                match self { $( Request::$api(m) => m.write(w, <$request>::cx(version)), )* }
            }
        }

        impl Response {
            pub fn api_key(&self) -> ApiKey {
                match self { $( Response::$api(_) => ApiKey::$api, )* }
            }

            /// Decodes a response body of `api_key` at `version`.
            pub fn decode(api_key: ApiKey, version: i16, r: &mut Reader)
                -> Result<Option<Response>, WireError>
            {
                Ok(Some(match api_key {
                    $( ApiKey::$api => Response::$api(<$response>::read(r, <$response>::cx(version))?), )*
                    #[allow(unreachable_patterns)]
                    _ => return Ok(None),
                }))
            }

            /// Appends the body at `version`.
            pub fn encode(&self, w: &mut BytesMut, version: i16) {
                match self { $( Response::$api(m) => m.write(w, <$response>::cx(version)), )* }
            }
        }

        /// Whether requests of `api_key` at `version` are flexible (request header v2), or
        /// `None` for an API without a definition here.
        pub fn request_is_flexible(api_key: ApiKey, version: i16) -> Option<bool> {
            match api_key {
                $( ApiKey::$api => Some(<$request>::FLEXIBLE.contains(version)), )*
                #[allow(unreachable_patterns)]
                _ => unserved_definition(api_key).map(|(_, flexible)| flexible.contains(version)),
            }
        }

        /// The versions the definition of `api_key` covers (requests and responses alike), or
        /// `None` for an API without a definition here.
        pub fn defined_versions(api_key: ApiKey) -> Option<super::wire::VersionRange> {
            match api_key {
                $( ApiKey::$api => Some(<$request>::VERSIONS), )*
                #[allow(unreachable_patterns)]
                _ => unserved_definition(api_key).map(|(versions, _)| versions),
            }
        }

        $(
            impl ApiRequest for $request {
                const KEY: ApiKey = ApiKey::$api;
                type Response = $response;
            }

            impl From<$request> for Request {
                fn from(m: $request) -> Request {
                    Request::$api($crate::__request_wrap!(m $(, $boxed)?))
                }
            }
            impl From<$response> for Response {
                fn from(m: $response) -> Response { Response::$api(m) }
            }
        )*
    };
}

// Requests larger than a Produce request are boxed (`[boxed]`), so `Request` stays 72 bytes:
// every decoded request is moved a few times on its way to a handler, and the Produce hot path
// should not pay for the size of a JoinGroup (192 bytes). The boxed ones cost one allocation
// per request, negligible next to what they do.
apis! {
    Produce => ProduceRequest, ProduceResponse;
    Fetch => FetchRequest [boxed], FetchResponse;
    ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
    Metadata => MetadataRequest, MetadataResponse;
    ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
    CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
    DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
    InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
    OffsetCommit => OffsetCommitRequest [boxed], OffsetCommitResponse;
    OffsetFetch => OffsetFetchRequest [boxed], OffsetFetchResponse;
    FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
    JoinGroup => JoinGroupRequest [boxed], JoinGroupResponse;
    Heartbeat => HeartbeatRequest [boxed], HeartbeatResponse;
    LeaveGroup => LeaveGroupRequest [boxed], LeaveGroupResponse;
    SyncGroup => SyncGroupRequest [boxed], SyncGroupResponse;
    DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
    ListGroups => ListGroupsRequest, ListGroupsResponse;
    DeleteGroups => DeleteGroupsRequest, DeleteGroupsResponse;
    OffsetDelete => OffsetDeleteRequest, OffsetDeleteResponse;
    ShareGroupHeartbeat => ShareGroupHeartbeatRequest [boxed], ShareGroupHeartbeatResponse;
    ShareGroupDescribe => ShareGroupDescribeRequest, ShareGroupDescribeResponse;
    ShareFetch => ShareFetchRequest [boxed], ShareFetchResponse;
    ShareAcknowledge => ShareAcknowledgeRequest [boxed], ShareAcknowledgeResponse;
    DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
    AlterConfigs => AlterConfigsRequest, AlterConfigsResponse;
    CreatePartitions => CreatePartitionsRequest, CreatePartitionsResponse;
    DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse;
    AlterShareGroupOffsets => AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse;
    DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse;
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest [boxed], ConsumerGroupHeartbeatResponse;
    ConsumerGroupDescribe => ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse;
    AddPartitionsToTxn => AddPartitionsToTxnRequest [boxed], AddPartitionsToTxnResponse;
    AddOffsetsToTxn => AddOffsetsToTxnRequest [boxed], AddOffsetsToTxnResponse;
    EndTxn => EndTxnRequest, EndTxnResponse;
    TxnOffsetCommit => TxnOffsetCommitRequest [boxed], TxnOffsetCommitResponse;
    DescribeCluster => DescribeClusterRequest, DescribeClusterResponse;
    DescribeProducers => DescribeProducersRequest, DescribeProducersResponse;
    DescribeTransactions => DescribeTransactionsRequest, DescribeTransactionsResponse;
    ListTransactions => ListTransactionsRequest, ListTransactionsResponse;
    DeleteRecords => DeleteRecordsRequest, DeleteRecordsResponse;
    DescribeLogDirs => DescribeLogDirsRequest, DescribeLogDirsResponse;
    DescribeTopicPartitions => DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse;
    DescribeAcls => DescribeAclsRequest, DescribeAclsResponse;
    CreateAcls => CreateAclsRequest, CreateAclsResponse;
    DeleteAcls => DeleteAclsRequest, DeleteAclsResponse;
    SaslHandshake => SaslHandshakeRequest, SaslHandshakeResponse;
    SaslAuthenticate => SaslAuthenticateRequest, SaslAuthenticateResponse;
    DescribeUserScramCredentials => DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse;
    AlterUserScramCredentials => AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse;
    // Client quotas (issue #20).
    DescribeClientQuotas => DescribeClientQuotasRequest, DescribeClientQuotasResponse;
    AlterClientQuotas => AlterClientQuotasRequest, AlterClientQuotasResponse;
    // ringlog-private, never advertised (versions::PRIVATE_APIS).
    DescribeDelays => DescribeDelaysRequest, DescribeDelaysResponse;
    DescribeShareState => DescribeShareStateRequest, DescribeShareStateResponse;
    DescribeViews => DescribeViewsRequest, DescribeViewsResponse;
}

/// Generates [`ApiRequest`] and the header-version facts for APIs defined here but not served:
/// no [`Request`]/[`Response`] variant, so the broker's dispatch and the versions tables do not
/// see them, while a client (or a test) can already encode and decode them with the right
/// request and response header versions.
macro_rules! unserved_apis {
    ($($api:ident => $request:ident, $response:ident;)*) => {
        /// The versions and flexible versions of an API defined but not served.
        fn unserved_definition(
            api_key: ApiKey,
        ) -> Option<(super::wire::VersionRange, super::wire::VersionRange)> {
            match api_key {
                $( ApiKey::$api => Some((<$request>::VERSIONS, <$request>::FLEXIBLE)), )*
                _ => None,
            }
        }

        $(
            impl ApiRequest for $request {
                const KEY: ApiKey = ApiKey::$api;
                type Response = $response;
            }
        )*
    };
}

// Defined ahead of their handlers (issue #18, transactions).
unserved_apis! {}

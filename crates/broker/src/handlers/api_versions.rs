//! ApiVersions (key 18): the versions ringlog advertises, exactly those the tests cover.
//! Unknown versions get the v0 reply with UNSUPPORTED_VERSION (handled in `connection.rs`, since
//! the request cannot be decoded at that version).

use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::{error as code, versions};

/// Answer an ApiVersions request.
pub fn handle(_req: &ApiVersionsRequest) -> ApiVersionsResponse {
    versions::api_versions_response(code::NONE)
}

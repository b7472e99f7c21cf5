//! CreateAcls (key 30): adds ACLs (`kafka-acls.sh --add`, `Admin.createAcls`). Defined at
//! v1-3, Kafka 4.4's versions (v0 was removed in Kafka 4.0; v1 added the pattern type, v2 is
//! the first flexible one). Codes as in [`super::DescribeAclsRequest`].

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The ACLs to add.
    pub struct CreateAclsRequest: key 30, versions "1-3", flexible "2+" {
        creations: Vec<AclCreation> => "0+";
    }
}

wire_struct! {
    /// One ACL.
    pub struct AclCreation {
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
        resource_pattern_type: i8 => "1+", default 3;
        principal: Str => "0+";
        host: Str => "0+";
        operation: i8 => "0+";
        permission_type: i8 => "0+";
    }
}

api_message! {
    /// One result per creation, in request order.
    pub struct CreateAclsResponse: key 30, versions "1-3", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        results: Vec<AclCreationResult> => "0+";
    }
}

wire_struct! {
    /// 0 (created, or it existed already), or the reason it was not.
    pub struct AclCreationResult {
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
    }
}

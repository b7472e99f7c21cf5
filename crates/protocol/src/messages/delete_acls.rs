//! DeleteAcls (key 31): removes the ACLs matching each filter (`kafka-acls.sh --remove`,
//! `Admin.deleteAcls`). Defined at v1-3, Kafka 4.4's versions (v0 was removed in Kafka 4.0;
//! v1 added the pattern type, v2 is the first flexible one). Codes as in
//! [`super::DescribeAclsRequest`].

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The filters; every ACL matching one of them goes.
    pub struct DeleteAclsRequest: key 31, versions "1-3", flexible "2+" {
        filters: Vec<DeleteAclsFilter> => "0+";
    }
}

wire_struct! {
    /// One filter over every field of an ACL (null strings match any value).
    pub struct DeleteAclsFilter {
        resource_type_filter: i8 => "0+";
        resource_name_filter: Option<Str> => "0+", nullable "0+";
        pattern_type_filter: i8 => "1+", default 3;
        principal_filter: Option<Str> => "0+", nullable "0+";
        host_filter: Option<Str> => "0+", nullable "0+";
        operation: i8 => "0+";
        permission_type: i8 => "0+";
    }
}

api_message! {
    /// One result per filter, in request order.
    pub struct DeleteAclsResponse: key 31, versions "1-3", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        filter_results: Vec<DeleteAclsFilterResult> => "0+";
    }
}

wire_struct! {
    /// A filter's error (then no ACLs), or the ACLs it deleted.
    pub struct DeleteAclsFilterResult {
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        matching_acls: Vec<DeleteAclsMatchingAcl> => "0+";
    }
}

wire_struct! {
    /// One deleted ACL.
    pub struct DeleteAclsMatchingAcl {
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
        pattern_type: i8 => "1+", default 3;
        principal: Str => "0+";
        host: Str => "0+";
        operation: i8 => "0+";
        permission_type: i8 => "0+";
    }
}

//! DescribeAcls (key 29): the ACLs that match a filter (`kafka-acls.sh --list`,
//! `Admin.describeAcls`). Defined at v1-3, Kafka 4.4's versions (v0 was removed in Kafka 4.0;
//! v1 added the pattern type, v2 is the first flexible one).
//!
//! The codes below are Kafka's (`ResourceType`, `PatternType`, `AclOperation`,
//! `AclPermissionType`); they are shared with [`super::CreateAclsRequest`] and
//! [`super::DeleteAclsRequest`].

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// One filter over every field of an ACL.
    pub struct DescribeAclsRequest: key 29, versions "1-3", flexible "2+" {
        resource_type_filter: i8 => "0+";
        /// The resource name, or null for any name.
        resource_name_filter: Option<Str> => "0+", nullable "0+";
        pattern_type_filter: i8 => "1+", default 3;
        /// The principal, or null for any principal.
        principal_filter: Option<Str> => "0+", nullable "0+";
        /// The host, or null for any host.
        host_filter: Option<Str> => "0+", nullable "0+";
        operation: i8 => "0+";
        permission_type: i8 => "0+";
    }
}

api_message! {
    /// An error (then no resources), or the matching ACLs grouped by resource pattern.
    pub struct DescribeAclsResponse: key 29, versions "1-3", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        resources: Vec<DescribeAclsResource> => "0+";
    }
}

wire_struct! {
    /// One resource pattern and its ACLs.
    pub struct DescribeAclsResource {
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
        pattern_type: i8 => "1+", default 3;
        acls: Vec<AclDescription> => "0+";
    }
}

wire_struct! {
    /// One ACL of a resource pattern.
    pub struct AclDescription {
        principal: Str => "0+";
        host: Str => "0+";
        operation: i8 => "0+";
        permission_type: i8 => "0+";
    }
}

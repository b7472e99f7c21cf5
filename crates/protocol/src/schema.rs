//! The two macros that turn a message definition into its Rust type and its bounded
//! encoder/decoder. A definition reads like Kafka's JSON message schema, one line per field:
//!
//! ```text
//! api_message! {
//!     /// Metadata request.
//!     pub struct MetadataRequest: key 3, versions "0-12", flexible "9+" {
//!         /// The topics to fetch metadata for; null = all topics.
//!         topics: Option<Vec<MetadataRequestTopic>> => "0+", nullable "1+";
//!         allow_auto_topic_creation: bool => "4+", default true;
//!     }
//! }
//! wire_struct! {
//!     pub struct MetadataRequestTopic {
//!         topic_id: Uuid => "10+";
//!         name: Option<Str> => "0+", nullable "10+";
//!     }
//! }
//! ```
//!
//! Per field, in this order: the versions that carry it; `nullable "R"` where Kafka lets it be
//! null (the type is then an `Option`); `tag N` for a tagged field (flexible versions only,
//! written only when it differs from its default); `default EXPR` where Kafka's default is not
//! the type's zero value. Structs nested in a message take the message's version.
//!
//! The generated code:
//! - a struct with public fields and a `Default` that applies every field's default;
//! - `impl Wire`: fields present at the version in declaration order, then (flexible versions)
//!   the tagged-field section; unknown tags are skipped; a field absent at the version decodes
//!   as its default and is not encoded, whatever its value (handlers never check versions);
//! - `carries(field, version)`, for the few handler decisions that depend on which fields a
//!   version has;
//! - for messages, `impl Message` (api key, versions, flexible versions);
//! - under `cfg(test)`, `impl Random`, which builds valid random values for the differential
//!   tests against the `kafka-protocol` crate.
//!
//! A field whose type is a nullable struct (Kafka's `"type": "SomeStruct", "nullableVersions"`)
//! is declared as `Option<SomeStruct>` with `nullable`, and the struct gets
//! `nullable_struct!(SomeStruct)` beside its definition for the one-byte marker encoding.
//!
//! # Invariants
//! - Tagged fields are declared in ascending tag order (asserted by the differential tests,
//!   which check our bytes against Kafka's ordering), so they are written in ascending order.
//! - The generated decoder allocates only through [`super::wire`]'s checked primitives.

/// The default of one field: its `default EXPR`, or the type's `Default`.
#[doc(hidden)]
#[macro_export]
macro_rules! __wire_default {
    () => {
        ::core::default::Default::default()
    };
    ($def:expr) => {
        $def
    };
}

/// Whether a field is nullable at `version`: never, or within its `nullable` range.
#[doc(hidden)]
#[macro_export]
macro_rules! __wire_nullable {
    ($version:expr,) => {
        false
    };
    ($version:expr, $range:literal) => {
        const { $crate::wire::VersionRange::parse($range) }.contains($version)
    };
}

/// `Some(tag)` for a tagged field, `None` for a positional one.
#[doc(hidden)]
#[macro_export]
macro_rules! __wire_tag {
    () => {
        ::core::option::Option::<u32>::None
    };
    ($tag:literal) => {
        ::core::option::Option::<u32>::Some($tag)
    };
}

/// Defines a struct of Kafka fields (a message body or a struct nested in one). See the module
/// doc for the syntax.
#[macro_export]
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty => $versions:literal
                    $(, nullable $nullable:literal)?
                    $(, tag $tag:literal)?
                    $(, default $default:expr)?
                ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: $crate::__wire_default!($($default)?), )* }
            }
        }

        impl $crate::wire::Wire for $name {
            #[allow(unused_variables, unused_mut)]
            #[inline]
            fn read(
                r: &mut $crate::wire::Reader,
                cx: $crate::wire::Cx,
            ) -> ::core::result::Result<Self, $crate::wire::WireError> {
                use $crate::wire::{VersionRange, Wire};
                // Each field is read straight into a local (no default built and dropped first:
                // that costs a vtable call per string or bytes field on the Produce hot path).
                $(
                    let mut $field: $ty = if $crate::__wire_tag!($($tag)?).is_none()
                        && const { VersionRange::parse($versions) }.contains(cx.version)
                    {
                        let fcx = cx.field($crate::__wire_nullable!(cx.version, $($nullable)?));
                        Wire::read(r, fcx)?
                    } else {
                        $crate::__wire_default!($($default)?)
                    };
                )*
                if cx.flexible {
                    let count = $crate::wire::read_tag_count(r)?;
                    for _ in 0..count {
                        let (tag, mut body) = $crate::wire::read_tagged_field(r)?;
                        $(
                            if $crate::__wire_tag!($($tag)?) == Some(tag)
                                && const { VersionRange::parse($versions) }.contains(cx.version)
                            {
                                let fcx =
                                    cx.field($crate::__wire_nullable!(cx.version, $($nullable)?));
                                $field = Wire::read(&mut body, fcx)?;
                            }
                        )*
                        // Unknown tags are skipped: `body` held exactly their bytes.
                        let _ = &mut body;
                    }
                }
                Ok($name { $($field),* })
            }

            #[allow(unused_variables)]
            fn write(&self, w: &mut ::bytes::BytesMut, cx: $crate::wire::Cx) {
                use $crate::wire::VersionRange;
                $(
                    if $crate::__wire_tag!($($tag)?).is_none()
                        && const { VersionRange::parse($versions) }.contains(cx.version)
                    {
                        let fcx = cx.field($crate::__wire_nullable!(cx.version, $($nullable)?));
                        $crate::wire::Wire::write(&self.$field, w, fcx);
                    }
                )*
                if cx.flexible {
                    let mut count: u32 = 0;
                    $(
                        if $crate::__wire_tag!($($tag)?).is_some()
                            && const { VersionRange::parse($versions) }.contains(cx.version)
                            && !$crate::wire::is_default(
                                &self.$field,
                                $crate::__wire_default!($($default)?),
                            )
                        {
                            count += 1;
                        }
                    )*
                    $crate::wire::put_uvarint(w, count);
                    $(
                        if let Some(tag) = $crate::__wire_tag!($($tag)?) {
                            if const { VersionRange::parse($versions) }.contains(cx.version)
                                && !$crate::wire::is_default(
                                    &self.$field,
                                    $crate::__wire_default!($($default)?),
                                )
                            {
                                let fcx = cx
                                    .field($crate::__wire_nullable!(cx.version, $($nullable)?));
                                $crate::wire::put_tagged_field(w, tag, &self.$field, fcx);
                            }
                        }
                    )*
                }
            }
        }

        #[cfg(test)]
        impl $crate::random::Random for $name {
            #[allow(unused_variables, unused_mut)]
            fn random(g: &mut $crate::random::Rng, cx: $crate::wire::Cx) -> Self {
                use $crate::wire::VersionRange;
                let mut out = Self::default();
                $(
                    if const { VersionRange::parse($versions) }.contains(cx.version) {
                        let fcx = cx.field($crate::__wire_nullable!(cx.version, $($nullable)?));
                        out.$field = $crate::random::Random::random(g, fcx);
                    }
                )*
                out
            }
        }

        impl $name {
            /// The tags of this struct's tagged fields, in declaration order (tests check order).
            #[allow(dead_code)]
            pub const TAGS: &'static [Option<u32>] = &[ $( $crate::__wire_tag!($($tag)?), )* ];

            /// Whether messages at `version` carry `field` (a field name of this struct). For the
            /// few handler decisions that depend on which fields a client could send (a Fetch by
            /// topic id, a batched FindCoordinator); an unknown name is a bug (debug-asserted).
            #[allow(dead_code)]
            pub fn carries(field: &str, version: i16) -> bool {
                use $crate::wire::VersionRange;
                $(
                    if field == stringify!($field) {
                        return const { VersionRange::parse($versions) }.contains(version);
                    }
                )*
                debug_assert!(false, "{} has no field {field}", stringify!($name));
                false
            }
        }
    };
}

/// Defines a top-level request or response body: a [`wire_struct!`] plus its api key, the
/// versions the definition covers, and the versions that are flexible.
#[macro_export]
macro_rules! api_message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident : key $key:literal, versions $versions:literal,
            flexible $flexible:literal {
            $($body:tt)*
        }
    ) => {
        $crate::wire_struct! {
            $(#[$meta])*
            pub struct $name { $($body)* }
        }

        impl $crate::Message for $name {
            const API_KEY: i16 = $key;
            const VERSIONS: $crate::wire::VersionRange =
                $crate::wire::VersionRange::parse($versions);
            const FLEXIBLE: $crate::wire::VersionRange =
                $crate::wire::VersionRange::parse($flexible);
        }
    };
}

/// Kafka's encoding of a nullable struct field, for `Option<$ty>`: an i8 marker, -1 for null or
/// 1 for a struct that follows. Any other marker is malformed: stricter than Kafka's generated
/// readers (any negative is null) and the kafka-protocol crate (anything but 1 is null), which
/// never write anything but -1 and 1 either. Where the field is not nullable at the version the
/// struct is written without a marker (and `None` as the struct's default).
#[macro_export]
macro_rules! nullable_struct {
    ($ty:ty) => {
        impl $crate::wire::Wire for ::core::option::Option<$ty> {
            fn read(
                r: &mut $crate::wire::Reader,
                cx: $crate::wire::Cx,
            ) -> ::core::result::Result<Self, $crate::wire::WireError> {
                if !cx.nullable {
                    return Ok(Some(<$ty as $crate::wire::Wire>::read(r, cx)?));
                }
                match r.i8()? {
                    $crate::wire::NULL_STRUCT_MARKER => Ok(None),
                    $crate::wire::PRESENT_STRUCT_MARKER => {
                        Ok(Some(<$ty as $crate::wire::Wire>::read(r, cx)?))
                    }
                    _ => Err(r.error("nullable struct marker is neither -1 nor 1")),
                }
            }

            fn write(&self, w: &mut ::bytes::BytesMut, cx: $crate::wire::Cx) {
                use ::bytes::BufMut;
                match (self, cx.nullable) {
                    (None, true) => w.put_i8($crate::wire::NULL_STRUCT_MARKER),
                    (None, false) => $crate::wire::Wire::write(
                        &<$ty as ::core::default::Default>::default(),
                        w,
                        cx,
                    ),
                    (Some(value), nullable) => {
                        if nullable {
                            w.put_i8($crate::wire::PRESENT_STRUCT_MARKER);
                        }
                        $crate::wire::Wire::write(value, w, cx);
                    }
                }
            }
        }
    };
}

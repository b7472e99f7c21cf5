//! DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51), as Kafka 4.4
//! answers them (its `ScramControlManager` rules and messages), on the broker's credential
//! store ([`crate::auth::credentials`]).
//!
//! The order of the results differs on purpose: Kafka's is a Java hash map's iteration order
//! (and in AlterUserScramCredentials successful deletions, then successful upsertions, then
//! errors), which its protocol does not promise and its clients do not use (they key results by
//! user). ringlog answers in request order (each user where it first appears; every user: by
//! name).
//!
//! Authorization: the connection checks CLUSTER DESCRIBE (describe) and CLUSTER ALTER (alter)
//! before calling [`describe`] and [`alter`], and answers with the refusals otherwise, as Kafka.

use std::collections::HashMap;
use std::rc::Rc;

use crate::auth::scram::{check_iterations, ScramCredential, ScramMechanism};
use crate::auth::{credentials::check_user_name, Principal};
use crate::protocol::error;
use crate::protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResult, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse, DescribeUserScramCredentialsResult, ScramCredentialInfo,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answers DescribeUserScramCredentials: every user (no names, or an empty list) or the users
/// named; an unknown name RESOURCE_NOT_FOUND, a name asked twice DUPLICATE_RESOURCE.
pub fn describe(
    shard: &Rc<ShardState>,
    _principal: &Principal,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let credentials = shard.credentials.current();
    let infos = |by_mechanism: &std::collections::BTreeMap<ScramMechanism, ScramCredential>| {
        by_mechanism
            .iter()
            .map(|(m, c)| ScramCredentialInfo {
                mechanism: m.wire_type(),
                iterations: c.iterations,
            })
            .collect()
    };
    // Kafka answers success with empty messages, not null ones.
    let no_message = || Some(Str::from_static(""));
    let mut results = Vec::new();
    match req.users.filter(|u| !u.is_empty()) {
        None => {
            for (user, by_mechanism) in credentials.users() {
                results.push(DescribeUserScramCredentialsResult {
                    user: Str::from(user),
                    error_message: no_message(),
                    credential_infos: infos(by_mechanism),
                    ..Default::default()
                });
            }
        }
        Some(users) => {
            let mut times: HashMap<&str, usize> = HashMap::new();
            for u in &users {
                *times.entry(&u.name).or_default() += 1;
            }
            let mut answered = std::collections::HashSet::new();
            for u in &users {
                let name: &str = &u.name;
                if !answered.insert(name) {
                    continue;
                }
                let result = if times[name] > 1 {
                    DescribeUserScramCredentialsResult {
                        user: u.name.clone(),
                        error_code: error::DUPLICATE_RESOURCE,
                        error_message: Some(Str::from(
                            format!(
                                "Cannot describe SCRAM credentials for the same user twice in a \
                                 single request: {name}"
                            )
                            .as_str(),
                        )),
                        ..Default::default()
                    }
                } else {
                    match credentials.user(name) {
                        Some(by_mechanism) => DescribeUserScramCredentialsResult {
                            user: u.name.clone(),
                            error_message: no_message(),
                            credential_infos: infos(by_mechanism),
                            ..Default::default()
                        },
                        None => DescribeUserScramCredentialsResult {
                            user: u.name.clone(),
                            error_code: error::RESOURCE_NOT_FOUND,
                            error_message: Some(Str::from(
                                format!(
                                    "Attempt to describe a user credential that does not exist: \
                                     {name}"
                                )
                                .as_str(),
                            )),
                            ..Default::default()
                        },
                    }
                };
                results.push(result);
            }
        }
    }
    DescribeUserScramCredentialsResponse {
        error_message: no_message(),
        results,
        ..Default::default()
    }
}

/// One user's accepted change.
enum Change {
    Delete(ScramMechanism),
    Upsert(ScramMechanism, ScramCredential),
}

/// Answers AlterUserScramCredentials: each user named once gets its deletion or upsertion
/// (stored durably before the answer), or the first error Kafka would give it; a user named
/// more than once in the request gets DUPLICATE_RESOURCE and no change.
pub fn alter(
    shard: &Rc<ShardState>,
    _principal: &Principal,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let current = shard.credentials.current();
    // Request order of first appearance, for the answer.
    let mut order: Vec<Str> = Vec::new();
    let mut errors: HashMap<Str, (i16, String)> = HashMap::new();
    let mut changes: HashMap<Str, Change> = HashMap::new();
    let duplicate = || {
        (
            error::DUPLICATE_RESOURCE,
            "A user credential cannot be altered twice in the same request".to_string(),
        )
    };
    let seen = |name: &Str, order: &mut Vec<Str>| {
        if !order.contains(name) {
            order.push(name.clone());
        }
    };
    for d in &req.deletions {
        seen(&d.name, &mut order);
        if errors.contains_key(&d.name) {
            continue;
        }
        if changes.remove(&d.name).is_some() {
            errors.insert(d.name.clone(), duplicate());
            continue;
        }
        let outcome = check_user_name(&d.name)
            .map_err(|e| (error::UNACCEPTABLE_CREDENTIAL, e))
            .and_then(|()| mechanism(d.mechanism))
            .and_then(|m| match current.get(&d.name, m) {
                Some(_) => Ok(Change::Delete(m)),
                None => Err((
                    error::RESOURCE_NOT_FOUND,
                    "Attempt to delete a user credential that does not exist".to_string(),
                )),
            });
        match outcome {
            Ok(c) => {
                changes.insert(d.name.clone(), c);
            }
            Err(e) => {
                errors.insert(d.name.clone(), e);
            }
        }
    }
    for u in &req.upsertions {
        seen(&u.name, &mut order);
        if errors.contains_key(&u.name) {
            continue;
        }
        if changes.remove(&u.name).is_some() {
            errors.insert(u.name.clone(), duplicate());
            continue;
        }
        let outcome = check_user_name(&u.name)
            .map_err(|e| (error::UNACCEPTABLE_CREDENTIAL, e))
            .and_then(|()| mechanism(u.mechanism))
            .and_then(|m| {
                check_iterations(u.iterations)
                    .and_then(|()| {
                        ScramCredential::from_salted_password(
                            m,
                            u.salt.to_vec(),
                            u.iterations,
                            &u.salted_password,
                        )
                    })
                    .map(|c| Change::Upsert(m, c))
                    .map_err(|e| (error::UNACCEPTABLE_CREDENTIAL, e.to_string()))
            });
        match outcome {
            Ok(c) => {
                changes.insert(u.name.clone(), c);
            }
            Err(e) => {
                errors.insert(u.name.clone(), e);
            }
        }
    }
    let stored = if changes.is_empty() {
        Ok(Ok(()))
    } else {
        shard.credentials.alter(|set| {
            let mut result = Ok(());
            for (user, change) in &changes {
                match change {
                    Change::Delete(m) => {
                        set.delete(user, *m);
                    }
                    Change::Upsert(m, c) => {
                        if let Err(e) = set.set(user, *m, c.clone()) {
                            result = Err(e);
                        }
                    }
                }
            }
            let write = result.is_ok();
            (result, write)
        })
    };
    let store_error = match stored {
        Ok(Ok(())) => None,
        Ok(Err(refused)) => Some((error::UNACCEPTABLE_CREDENTIAL, refused)),
        Err(e) => {
            tracing::error!("storing SCRAM credentials failed: {e}");
            Some((
                error::UNKNOWN_SERVER_ERROR,
                format!("storing the credentials failed: {e}"),
            ))
        }
    };
    let results = order
        .into_iter()
        .map(|user| {
            let failure = errors.get(&user).cloned().or_else(|| {
                changes
                    .contains_key(&user)
                    .then(|| store_error.clone())
                    .flatten()
            });
            let (error_code, error_message) = match failure {
                Some((code, message)) => (code, Some(Str::from(message.as_str()))),
                None => (error::NONE, None),
            };
            AlterUserScramCredentialsResult {
                user,
                error_code,
                error_message,
            }
        })
        .collect();
    AlterUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}

/// The mechanism of a wire type byte, or Kafka's UNSUPPORTED_SASL_MECHANISM.
fn mechanism(t: i8) -> Result<ScramMechanism, (i16, String)> {
    ScramMechanism::from_wire_type(t).ok_or_else(|| {
        (
            error::UNSUPPORTED_SASL_MECHANISM,
            "Unknown SCRAM mechanism".to_string(),
        )
    })
}

/// The answer to a caller who may not DESCRIBE the CLUSTER (Kafka's top-level error).
pub fn describe_refused() -> DescribeUserScramCredentialsResponse {
    DescribeUserScramCredentialsResponse {
        error_code: error::CLUSTER_AUTHORIZATION_FAILED,
        error_message: Some(Str::from_static(crate::acl::CLUSTER_AUTHORIZATION_MESSAGE)),
        ..Default::default()
    }
}

/// The answer to a caller who may not ALTER the CLUSTER: every user named refused, nothing
/// changed.
pub fn alter_refused(req: &AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    let mut users: Vec<Str> = Vec::new();
    for name in req
        .deletions
        .iter()
        .map(|d| &d.name)
        .chain(req.upsertions.iter().map(|u| &u.name))
    {
        if !users.contains(name) {
            users.push(name.clone());
        }
    }
    AlterUserScramCredentialsResponse {
        results: users
            .into_iter()
            .map(|user| AlterUserScramCredentialsResult {
                user,
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: Some(Str::from_static(crate::acl::CLUSTER_AUTHORIZATION_MESSAGE)),
            })
            .collect(),
        ..Default::default()
    }
}

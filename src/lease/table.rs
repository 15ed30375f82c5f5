//! The lease table in DynamoDB: its items and the conditional writes of the protocol.
//!
//! One partition per controller id (`pk`), so one strongly consistent `Query` reads every
//! lease and member of a controller's replicas. Sort keys:
//! - `lease#<shard>`: `replica` and `process` of the holder (both empty once released), the
//!   record `version` (a new one on every write), the fencing `token` (incremented on every
//!   acquisition and never reset: the item is never deleted), `lease_ms` and `written_at` (wall
//!   clock, for people reading the table; the protocol never compares wall clocks).
//! - `member#<replica>`: the replica's `process` and a `version` rewritten on every heartbeat;
//!   replicas read each other's liveness from versions changing, on their own clocks.
//!
//! A shard's shared facts (see [`super::SharedFacts`]) live in a partition of their own,
//! `<controller id>#facts`, so the lease `Query` never reads them: `facts#<shard>` holds the
//! JSON and its digest, and the lease record carries the digest its holder last wrote.
//!
//! Every write but a heartbeat is conditional on the version last seen (the DynamoDB Lock
//! Client's record version number), and asks for the item as it was when the condition
//! fails, so a renewal whose response was lost but whose write landed is recognised by its
//! own version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;

/// Who this process is in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// `--replica-id` (default: the hostname).
    pub replica: String,
    /// Unique to this process: a restarted replica is a new holder.
    pub process: String,
}

impl Me {
    /// `<replica>/<process>`, as audit records and `/status` name a holder.
    pub fn holder(&self) -> String {
        format!("{}/{}", self.replica, self.process)
    }
}

/// A shard's lease record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub replica: String,
    pub process: String,
    pub version: String,
    pub token: u64,
    /// The digest of the shard's shared facts the holder last wrote (empty: none yet).
    pub facts_digest: String,
}

impl LeaseRecord {
    /// Released (or never held): nobody holds it.
    pub fn is_free(&self) -> bool {
        self.replica.is_empty()
    }

    pub fn held_by(&self, me: &Me) -> bool {
        self.replica == me.replica && self.process == me.process
    }

    pub fn holder(&self) -> String {
        format!("{}/{}", self.replica, self.process)
    }
}

/// A replica's membership record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub process: String,
    pub version: String,
    /// The shards it competes for (its tree and selection): it is assigned no other.
    pub shards: BTreeSet<String>,
}

/// Everything of one controller in the table.
#[derive(Debug, Clone, Default)]
pub struct TableSnapshot {
    /// By shard (`<alias>/<region>`).
    pub leases: BTreeMap<String, LeaseRecord>,
    /// By replica id.
    pub members: BTreeMap<String, MemberRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("the lease table `{table}` does not exist in {region}: create it with `converge lease-table create --table {table}`")]
    Missing { table: String, region: String },
    /// The condition failed: someone else wrote the record (here as it now is).
    #[error("the lease record changed")]
    Conflict(Option<LeaseRecord>),
    #[error("{operation} on the lease table: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
}

/// What a renewal found.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewed {
    /// The write landed now.
    Landed,
    /// An earlier attempt of this same write had landed (its response was lost).
    LandedBefore,
}

/// The table of one controller's replicas.
#[derive(Clone)]
pub struct LeaseTable {
    client: Client,
    table: String,
    region: String,
    namespace: String,
}

const PK: &str = "pk";
const SK: &str = "sk";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn number(item: &HashMap<String, AttributeValue>, key: &str) -> u64 {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn lease_of(item: &HashMap<String, AttributeValue>) -> LeaseRecord {
    LeaseRecord {
        replica: text(item, "replica"),
        process: text(item, "process"),
        version: text(item, "version"),
        token: number(item, "token"),
        facts_digest: text(item, "facts_digest"),
    }
}

/// `#name` → `name` for every attribute an expression names (several, such as `token`, are
/// DynamoDB reserved words).
fn names(attrs: &[&str]) -> HashMap<String, String> {
    attrs
        .iter()
        .map(|a| (format!("#{a}"), a.to_string()))
        .collect()
}

fn now_text() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn aws_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
    e: &SdkError<E, R>,
) -> TableError {
    let message = match e {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("Unknown"),
            se.err().message().unwrap_or("")
        ),
        SdkError::TimeoutError(_) => "timed out".to_string(),
        other => {
            let mut parts = vec![other.to_string()];
            let mut cur = std::error::Error::source(other);
            while let Some(c) = cur {
                parts.push(c.to_string());
                cur = c.source();
            }
            parts.join(": ")
        }
    };
    TableError::Aws { operation, message }
}

impl LeaseTable {
    /// The leases of controller `namespace` (its `--controller-id`) in `table`.
    pub fn new(client: Client, table: &str, region: &str, namespace: &str) -> LeaseTable {
        LeaseTable {
            client,
            table: table.to_string(),
            region: region.to_string(),
            namespace: namespace.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.table
    }

    fn key(&self, sk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), s(&self.namespace)),
            (SK.to_string(), s(sk)),
        ])
    }

    fn missing(&self) -> TableError {
        TableError::Missing {
            table: self.table.clone(),
            region: self.region.clone(),
        }
    }

    /// Checks that the table exists (and is usable).
    pub async fn check(&self) -> Result<(), TableError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Err(self.missing())
            }
            Err(e) => Err(aws_error("DescribeTable", &e)),
        }
    }

    /// Creates the table (on-demand billing) and waits until it is active; `Ok(false)` when
    /// it already existed.
    pub async fn create(&self) -> Result<bool, TableError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let (Ok(pk), Ok(sk), Ok(hash), Ok(range)) = (
            attr(PK),
            attr(SK),
            key(PK, KeyType::Hash),
            key(SK, KeyType::Range),
        ) else {
            return Err(TableError::Aws {
                operation: "CreateTable",
                message: "cannot build the key schema".into(),
            });
        };
        let created = match self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(pk)
            .attribute_definitions(sk)
            .key_schema(hash)
            .key_schema(range)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                false
            }
            Err(e) => return Err(aws_error("CreateTable", &e)),
        };
        for _ in 0..120 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| aws_error("DescribeTable", &e))?;
            if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(created);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(TableError::Aws {
            operation: "DescribeTable",
            message: "the table did not become ACTIVE within 60 s".into(),
        })
    }

    /// Every lease and member of this controller (strongly consistent).
    pub async fn read(&self) -> Result<TableSnapshot, TableError> {
        let mut out = TableSnapshot::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(&self.namespace))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(se) if se.is_resource_not_found_exception() => self.missing(),
                    _ => aws_error("Query", &e),
                })?;
            for item in page.items() {
                let sk = text(item, SK);
                if let Some(shard) = sk.strip_prefix("lease#") {
                    out.leases.insert(shard.to_string(), lease_of(item));
                } else if let Some(replica) = sk.strip_prefix("member#") {
                    out.members.insert(
                        replica.to_string(),
                        MemberRecord {
                            process: text(item, "process"),
                            version: text(item, "version"),
                            shards: item
                                .get("shards")
                                .and_then(|v| v.as_l().ok())
                                .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                                .unwrap_or_default(),
                        },
                    );
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Takes `shard`: a new record (`seen` = `None`, token 1) or the record last seen at
    /// `seen`'s version (token + 1). Returns the record written.
    pub async fn acquire(
        &self,
        shard: &str,
        seen: Option<&LeaseRecord>,
        me: &Me,
        version: &str,
        lease: Duration,
    ) -> Result<LeaseRecord, TableError> {
        let lease_ms = n(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let Some(seen) = seen else {
            let mut item = self.key(format!("lease#{shard}"));
            item.insert("replica".into(), s(&me.replica));
            item.insert("process".into(), s(&me.process));
            item.insert("version".into(), s(version));
            item.insert("token".into(), n(1));
            item.insert("facts_digest".into(), s(""));
            item.insert("lease_ms".into(), lease_ms);
            item.insert("written_at".into(), s(now_text()));
            return match self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#sk)")
                .expression_attribute_names("#sk", SK)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await
            {
                Ok(_) => Ok(LeaseRecord {
                    replica: me.replica.clone(),
                    process: me.process.clone(),
                    version: version.to_string(),
                    token: 1,
                    facts_digest: String::new(),
                }),
                Err(e) => Err(match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                        TableError::Conflict(c.item().map(lease_of))
                    }
                    _ => aws_error("PutItem", &e),
                }),
            };
        };
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(format!("lease#{shard}"))))
            .update_expression(
                "SET #replica = :r, #process = :p, #version = :v, #token = #token + :one, #lease_ms = :l, #written_at = :w, #facts_digest = :empty",
            )
            .condition_expression("#version = :seen")
            .set_expression_attribute_names(Some(names(&[
                "replica",
                "process",
                "version",
                "token",
                "lease_ms",
                "written_at",
                "facts_digest",
            ])))
            .expression_attribute_values(":empty", s(""))
            .expression_attribute_values(":r", s(&me.replica))
            .expression_attribute_values(":p", s(&me.process))
            .expression_attribute_values(":v", s(version))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":l", lease_ms)
            .expression_attribute_values(":w", s(now_text()))
            .expression_attribute_values(":seen", s(&seen.version))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.attributes().map(lease_of).unwrap_or(LeaseRecord {
                replica: me.replica.clone(),
                process: me.process.clone(),
                version: version.to_string(),
                token: seen.token + 1,
                facts_digest: String::new(),
            })),
            Err(e) => Err(self.update_error(e)),
        }
    }

    fn update_error<R: std::fmt::Debug>(
        &self,
        e: SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
    ) -> TableError {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                TableError::Conflict(c.item().map(lease_of))
            }
            Some(se) if se.is_resource_not_found_exception() => self.missing(),
            _ => aws_error("UpdateItem", &e),
        }
    }

    /// Renews `held` (the version this process wrote last) to `version`. A condition failure
    /// whose record already carries `version` and this process is a write that landed
    /// before (its response was lost).
    pub async fn renew(
        &self,
        shard: &str,
        held: &str,
        version: &str,
        me: &Me,
        facts_digest: &str,
    ) -> Result<Renewed, TableError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(format!("lease#{shard}"))))
            .update_expression("SET #version = :v, #written_at = :w, #facts_digest = :fd")
            .condition_expression("#version = :seen AND #process = :p")
            .set_expression_attribute_names(Some(names(&[
                "version",
                "written_at",
                "process",
                "facts_digest",
            ])))
            .expression_attribute_values(":fd", s(facts_digest))
            .expression_attribute_values(":v", s(version))
            .expression_attribute_values(":w", s(now_text()))
            .expression_attribute_values(":seen", s(held))
            .expression_attribute_values(":p", s(&me.process))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(_) => Ok(Renewed::Landed),
            Err(e) => match self.update_error(e) {
                TableError::Conflict(Some(now)) if now.version == version && now.held_by(me) => {
                    Ok(Renewed::LandedBefore)
                }
                other => Err(other),
            },
        }
    }

    /// Gives `shard` up (holder emptied, token kept) if this process still holds it at `held`,
    /// or at `pending` (a renewal whose outcome it does not know).
    pub async fn release(
        &self,
        shard: &str,
        held: &str,
        pending: Option<&str>,
        version: &str,
        me: &Me,
    ) -> Result<(), TableError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(format!("lease#{shard}"))))
            .update_expression(
                "SET #replica = :empty, #process = :empty, #version = :v, #written_at = :w",
            )
            .condition_expression("#version IN (:seen, :pending) AND #process = :p")
            .set_expression_attribute_names(Some(names(&[
                "replica",
                "process",
                "version",
                "written_at",
            ])))
            .expression_attribute_values(":empty", s(""))
            .expression_attribute_values(":v", s(version))
            .expression_attribute_values(":w", s(now_text()))
            .expression_attribute_values(":seen", s(held))
            .expression_attribute_values(":pending", s(pending.unwrap_or(held)))
            .expression_attribute_values(":p", s(&me.process))
            .send()
            .await;
        out.map(|_| ()).map_err(|e| self.update_error(e))
    }

    fn facts_key(&self, shard: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), s(format!("{}#facts", self.namespace))),
            (SK.to_string(), s(format!("facts#{shard}"))),
        ])
    }

    /// Writes the shared facts of `shard`, held by this process under fencing `token`; never
    /// over facts written under a later token (a paused ex-holder cannot overwrite the new
    /// holder's).
    pub async fn put_facts(
        &self,
        shard: &str,
        json: &str,
        digest: &str,
        token: u64,
    ) -> Result<(), TableError> {
        let mut item = self.facts_key(shard);
        item.insert("facts".into(), s(json));
        item.insert("digest".into(), s(digest));
        item.insert("token".into(), n(token));
        item.insert("written_at".into(), s(now_text()));
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk) OR #token <= :mine")
            .set_expression_attribute_names(Some(names(&["sk", "token"])))
            .expression_attribute_values(":mine", n(token))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(TableError::Conflict(None))
            }
            Err(e) => Err(aws_error("PutItem", &e)),
        }
    }

    /// The shared facts of `shard` and their digest, if written.
    pub async fn get_facts(&self, shard: &str) -> Result<Option<(String, String)>, TableError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.facts_key(shard)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("GetItem", &e))?;
        Ok(out.item().map(|i| (text(i, "digest"), text(i, "facts"))))
    }

    /// Records that this replica is alive (a new `version` each time) and which shards it
    /// competes for.
    pub async fn heartbeat(
        &self,
        me: &Me,
        version: &str,
        shards: &BTreeSet<String>,
    ) -> Result<(), TableError> {
        let mut item = self.key(format!("member#{}", me.replica));
        item.insert("process".into(), s(&me.process));
        item.insert("version".into(), s(version));
        item.insert(
            "shards".into(),
            AttributeValue::L(shards.iter().map(s).collect()),
        );
        item.insert("written_at".into(), s(now_text()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("PutItem", &e))
    }

    /// Removes this replica's membership (if it is still this process's).
    pub async fn leave(&self, me: &Me) -> Result<(), TableError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(format!("member#{}", me.replica))))
            .condition_expression("#process = :p")
            .expression_attribute_names("#process", "process")
            .expression_attribute_values(":p", s(&me.process))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error("DeleteItem", &e)),
        }
    }
}

//! How kinds refer to each other: every kind's manifest name and the facts it publishes,
//! declared once. The producing kind publishes with these constants and consumers look up with
//! them, so neither side can misspell a key. They live here rather than in the producing
//! kind's module because no kind imports another.

use crate::core::{Fact, FactFamily};

/// `kind: Queue`.
pub mod queue {
    use super::*;
    pub const KIND: &str = "Queue";
    pub const URL: Fact = Fact::new(KIND, "url");
    pub const ARN: Fact = Fact::new(KIND, "arn");
}

/// `kind: SecurityGroup`.
pub mod security_group {
    use super::*;
    use crate::core::Reference;

    pub const KIND: &str = "SecurityGroup";

    /// The groups named (not by id) in `field` (`security_groups` of a load balancer or a
    /// launch configuration), as references.
    pub fn by_name<'a, I>(groups: I, field: &'static str) -> impl Iterator<Item = Reference> + 'a
    where
        I: IntoIterator<Item = &'a String>,
        I::IntoIter: 'a,
    {
        groups
            .into_iter()
            .filter(|g| !g.starts_with("sg-"))
            .map(move |g| Reference {
                kind: KIND,
                name: g.clone(),
                region: None,
                field,
            })
    }
    pub const ID: Fact = Fact::new(KIND, "id");
    pub const OWNER_ID: Fact = Fact::new(KIND, "owner_id");
    pub const VPC_ID: Fact = Fact::new(KIND, "vpc_id");
}

/// `kind: IamRole`.
pub mod iam_role {
    use super::*;
    pub const KIND: &str = "IamRole";
    pub const ARN: Fact = Fact::new(KIND, "arn");
    pub const INSTANCE_PROFILE_ARN: Fact = Fact::new(KIND, "instance_profile_arn");
    pub const INSTANCE_PROFILE_NAME: Fact = Fact::new(KIND, "instance_profile_name");
}

/// `kind: LoadBalancer`.
pub mod load_balancer {
    use super::*;
    pub const KIND: &str = "LoadBalancer";
    pub const DNS_NAME: Fact = Fact::new(KIND, "dns_name");
    pub const HOSTED_ZONE_ID: Fact = Fact::new(KIND, "hosted_zone_id");
}

/// `kind: DnsRecord` (publishes no facts).
pub mod dns_record {
    pub const KIND: &str = "DnsRecord";
}

/// `kind: AutoScalingGroup`.
pub mod auto_scaling_group {
    use super::*;
    pub const KIND: &str = "AutoScalingGroup";
    pub const ARN: Fact = Fact::new(KIND, "arn");
    /// The name of the launch configuration the group uses.
    pub const LAUNCH_CONFIGURATION: Fact = Fact::new(KIND, "launch_configuration");
    /// One ARN per scaling policy, by policy name (`policy:<name>`).
    pub const POLICY_ARN: FactFamily = FactFamily::new(KIND, "policy");
}

/// `kind: MetricAlarm`.
pub mod metric_alarm {
    use super::*;
    pub const KIND: &str = "MetricAlarm";
    pub const ARN: Fact = Fact::new(KIND, "arn");
}

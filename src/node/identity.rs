//! Who a node is when neither its flags nor its hostname say: on first boot an instance's
//! hostname does not follow the naming convention yet, but its Auto Scaling group's name does.
//! The instance id comes from the instance metadata service (IMDSv2), and the group from the
//! instance's `aws:autoscaling:groupName` tag (`ec2:DescribeTags`, the one EC2 permission the
//! reference role grants).

use super::NodeError;

/// The tag Auto Scaling puts on every instance it launches.
pub const GROUP_TAG: &str = "aws:autoscaling:groupName";

/// This instance's id, from the instance metadata service (`endpoint`: the SDK's default,
/// `http://169.254.169.254`, unless given).
pub async fn instance_id(endpoint: Option<&str>) -> Result<String, NodeError> {
    let mut builder = aws_config::imds::Client::builder();
    if let Some(e) = endpoint {
        builder = builder
            .endpoint(e)
            .map_err(|err| NodeError::Identity(format!("--imds-endpoint {e}: {err}")))?;
    }
    let id = builder
        .build()
        .get("/latest/meta-data/instance-id")
        .await
        .map_err(|e| {
            NodeError::Identity(format!(
                "cannot read the instance id from the instance metadata service: {e}"
            ))
        })?;
    let id = id.as_ref().trim().to_string();
    if !id.starts_with("i-") {
        return Err(NodeError::Identity(format!(
            "the instance metadata service gave `{id}` as the instance id"
        )));
    }
    Ok(id)
}

/// The Auto Scaling group `instance` belongs to, from its tags.
pub async fn group_name(ec2: &aws_sdk_ec2::Client, instance: &str) -> Result<String, NodeError> {
    let filter = |name: &str, value: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name(name)
            .values(value)
            .build()
    };
    let out = ec2
        .describe_tags()
        .filters(filter("resource-id", instance))
        .filters(filter("key", GROUP_TAG))
        .send()
        .await
        .map_err(|e| {
            NodeError::Identity(format!(
                "DescribeTags of {instance}: {}",
                aws_sdk_ec2::error::DisplayErrorContext(e)
            ))
        })?;
    out.tags()
        .iter()
        .find(|t| t.key() == Some(GROUP_TAG))
        .and_then(|t| t.value())
        .map(str::to_string)
        .ok_or_else(|| {
            NodeError::Identity(format!(
                "instance {instance} has no {GROUP_TAG} tag (not launched by an Auto Scaling group?): give --service, or --grains NAME"
            ))
        })
}

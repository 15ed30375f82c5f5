//! User data: `user_data` as written, or `cloud_init` rendered to multi-part MIME like Salt's
//! `get_cloud_init_mime`, deterministically (parts sorted by name, a fixed boundary), so the
//! same spec always gives the same bytes and the same content hash.

use serde_json::Value;

use super::spec::{CloudInit, InstanceSpec};

/// The fixed MIME boundary of rendered `cloud_init` user data.
pub const MIME_BOUNDARY: &str = "===============converge-cloud-init==";
/// AWS's limit on user data before base64 encoding.
pub const MAX: usize = 16 * 1024;

/// The raw user data of an instance spec.
pub fn of(inst: &InstanceSpec) -> Option<String> {
    match (&inst.user_data, &inst.cloud_init) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(ci)) => Some(render_cloud_init(ci)),
        (None, None) => None,
    }
}

/// User data is never shown, only its size.
pub fn summarise(u: &str) -> String {
    format!("<user data, {} bytes>", u.len())
}

/// Base64, as AWS takes user data.
pub fn b64(s: &str) -> String {
    aws_smithy_types::base64::encode(s.as_bytes())
}

/// One MIME part as Python's `email.mime.text.MIMEText(text, subtype).as_string()` writes it:
/// ASCII as 7bit, anything else as base64 UTF-8 (76-character lines).
fn mime_part(subtype: &str, text: &str) -> String {
    if text.is_ascii() {
        return format!(
            "Content-Type: text/{subtype}; charset=\"us-ascii\"\nMIME-Version: 1.0\n\
             Content-Transfer-Encoding: 7bit\n\n{text}"
        );
    }
    let encoded = b64(text);
    let mut body = String::with_capacity(encoded.len() + encoded.len() / 76 + 1);
    for chunk in encoded.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        body.push('\n');
    }
    format!(
        "Content-Type: text/{subtype}; charset=\"utf-8\"\nMIME-Version: 1.0\n\
         Content-Transfer-Encoding: base64\n\n{body}"
    )
}

/// The cloud-config part: a string as written, a mapping as YAML.
fn cloud_config_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_saphyr::to_string(other).unwrap_or_else(|_| other.to_string()),
    }
}

/// Renders `cloud_init` to multi-part MIME user data like Salt's `get_cloud_init_mime`
/// (boothooks, scripts, then cloud-config), deterministically: parts sorted by name within each
/// group and a fixed boundary (suffixed with a number in the unlikely case a part contains it).
pub fn render_cloud_init(ci: &CloudInit) -> String {
    let parts: Vec<(&str, String)> = (ci.boothooks.values().map(|s| ("cloud-boothook", s.clone())))
        .chain(ci.scripts.values().map(|s| ("x-shellscript", s.clone())))
        .chain(
            ci.cloud_config
                .iter()
                .map(|cc| ("cloud-config", cloud_config_text(cc))),
        )
        .collect();
    let mut boundary = MIME_BOUNDARY.to_string();
    let mut n = 0;
    while parts.iter().any(|(_, t)| t.contains(&boundary)) {
        n += 1;
        boundary = format!("{MIME_BOUNDARY}{n}");
    }
    let mut out =
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n");
    for (subtype, text) in parts {
        out.push_str(&format!("--{boundary}\n{}\n", mime_part(subtype, &text)));
    }
    out.push_str(&format!("--{boundary}--\n"));
    out
}

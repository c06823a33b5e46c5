//! Request and response bodies of the local API.

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SayRequest {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// `text` (default) or `voice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderstandRequest {
    pub text: String,
    #[serde(default)]
    pub area: Option<String>,
}

/// A direct device command: `{"device_id":"light.kitchen","action":{"action":"turn_on"}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    pub device_id: String,
    pub action: firmware_bridge::Action,
    /// Wait for the device's echo up to this many milliseconds (default 0: don't wait).
    #[serde(default)]
    pub wait_ms: u64,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct DeviceDto {
    pub id: String,
    pub name: String,
    pub kind: firmware_bridge::DeviceKind,
    pub area: Option<String>,
    pub state: Option<firmware_bridge::DeviceState>,
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub mqtt_connected: bool,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
}

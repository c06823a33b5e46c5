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

/// `POST /api/login`: the bearer token, exchanged for the session cookie.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub token: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").finish_non_exhaustive()
    }
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
    /// The area's floor, if any.
    pub floor: Option<String>,
    /// What the device accepts beyond on/off (dimmable, color, color_temp, position).
    pub features: firmware_bridge::Features,
    /// Read-only entities (sensors, persons) take no commands.
    pub commandable: bool,
    pub state: Option<firmware_bridge::DeviceState>,
}

/// A command to the device named in the path (`POST /api/devices/<id>/command`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCommandRequest {
    pub action: firmware_bridge::Action,
    /// Wait for the device's echo up to this many milliseconds (default 0: don't wait).
    #[serde(default)]
    pub wait_ms: u64,
}

/// `GET /api/layout`: the home's floors and areas.
#[derive(Debug, Serialize)]
pub struct Layout {
    pub floors: Vec<hub_skills::registry::Floor>,
    pub areas: Vec<hub_skills::registry::Area>,
}

/// Paging and filters of `GET /api/history/*`: newest first, `before` an id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub before: Option<i64>,
    /// Text search (turns).
    #[serde(default)]
    pub q: Option<String>,
    /// Device id (commands).
    #[serde(default)]
    pub device: Option<String>,
    /// Command status (commands).
    #[serde(default)]
    pub status: Option<String>,
    /// Event kind (events).
    #[serde(default)]
    pub kind: Option<String>,
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

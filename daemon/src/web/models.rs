//! Request and response bodies of the local API.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnderstandRequest {
    pub text: String,
    #[serde(default)]
    pub area: Option<String>,
}

/// A direct device command: `{"device_id":"light.kitchen","action":{"action":"turn_on"}}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    pub device_id: String,
    /// `{"action":"turn_on"}`, `{"action":"brightness","percent":40}`, `{"action":"color_temp","kelvin":2700}`, ...
    #[schema(value_type = Object)]
    pub action: firmware_bridge::Action,
    /// Wait for the device's echo up to this many milliseconds (default 0: don't wait).
    #[serde(default)]
    pub wait_ms: u64,
}

/// `POST /api/login`: the bearer token, exchanged for the session cookie.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub token: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDto {
    pub id: String,
    pub name: String,
    /// Home Assistant domain: light, switch, fan, climate, cover, lock, sensor, ...
    #[schema(value_type = String)]
    pub kind: firmware_bridge::DeviceKind,
    pub area: Option<String>,
    /// The area's floor, if any.
    pub floor: Option<String>,
    /// What the device accepts beyond on/off (dimmable, color, color_temp, position).
    #[schema(value_type = Object)]
    pub features: firmware_bridge::Features,
    /// Read-only entities (sensors, persons) take no commands.
    pub commandable: bool,
    #[schema(value_type = Option<Object>)]
    pub state: Option<firmware_bridge::DeviceState>,
    /// Where the device came from: `config`, or the discovery source it was
    /// imported from (`zigbee2mqtt`, `homeassistant`, `tasmota`).
    #[schema(value_type = String)]
    pub origin: hub_skills::registry::Origin,
    /// The firmware dialect (`zigbee2mqtt`, `tasmota`, `ha_mqtt`, ...), if commandable.
    pub dialect: Option<String>,
}

/// A command to the device named in the path (`POST /api/devices/<id>/command`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceCommandRequest {
    /// `{"action":"turn_on"}`, `{"action":"brightness","percent":40}`, ...
    #[schema(value_type = Object)]
    pub action: firmware_bridge::Action,
    /// Wait for the device's echo up to this many milliseconds (default 0: don't wait).
    #[serde(default)]
    pub wait_ms: u64,
}

/// `GET /api/layout`: the home's floors and areas.
#[derive(Debug, Serialize, ToSchema)]
pub struct Layout {
    /// `{"id","name","aliases","level"}`
    #[schema(value_type = Vec<Object>)]
    pub floors: Vec<hub_skills::registry::Floor>,
    /// `{"id","name","floor","aliases"}`
    #[schema(value_type = Vec<Object>)]
    pub areas: Vec<hub_skills::registry::Area>,
}

/// Paging and filters of `GET /api/history/*`: newest first, `before` an id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub mqtt_connected: bool,
    pub version: &'static str,
}

/// Every error: `{"error":{"code","message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
}

/// `POST /api/listen`: what Whisper heard and what the pipeline did with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListenReply {
    pub transcript: String,
    /// Seconds of audio received.
    pub duration_s: f64,
    /// Milliseconds from upload to transcript (decoding and recognition).
    pub asr_ms: f64,
    pub warnings: Vec<String>,
    /// Absent when nothing was recognised.
    pub outcome: Option<crate::pipeline::Outcome>,
}

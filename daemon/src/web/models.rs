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

/// `GET /api/devices?q=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeviceQuery {
    /// Only devices about this: whose id, name, an alias or area contains
    /// it, and with `[store] semantic_search` those whose names are close
    /// in meaning; best first.
    #[serde(default)]
    pub q: Option<String>,
    /// With `q`: at most this many (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A device found by `GET /api/devices?q=`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FoundDevice {
    #[serde(flatten)]
    pub device: DeviceDto,
    /// Best cosine similarity of the device's names to the query (absent
    /// without `[store] semantic_search`).
    pub score: Option<f32>,
    /// `text` or `meaning`.
    #[serde(rename = "match")]
    pub matched: &'static str,
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
    /// Search (turns): by words, and by meaning with `[store]
    /// semantic_search` (then the best `limit` turns come ranked, not paged).
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

/// `GET /api/status`: what `hubd status` prints.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDto {
    pub version: &'static str,
    pub uptime_s: u64,
    pub mqtt_connected: bool,
    /// Devices in the registry (configured and imported).
    pub devices: usize,
    pub outbox: OutboxCounters,
    pub events: EventCounters,
    /// The audio branch's gate: frames seen, speech frames, utterances.
    pub audio: crate::audio::AudioMetricsSnapshot,
    pub llm: crate::llm::LlmCounters,
    pub cameras: Vec<crate::camera::board::CameraStatus>,
    /// The model branches with their devices and gate counters.
    pub models: Vec<crate::services::Branch>,
    /// The intent and slot heads (`[nlu] heads`): state (`training`,
    /// `ready`, …), what they were trained on and the requests they answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub heads: Option<crate::heads::HeadsStatus>,
    /// Percentiles of the last 1,024 requests per path, by path.
    #[schema(value_type = std::collections::HashMap<String, crate::latency::Summary>)]
    pub latency: std::collections::BTreeMap<&'static str, crate::latency::Summary>,
}

/// Outbox counters since the daemon started.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxCounters {
    pub enqueued: u64,
    pub published: u64,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub expired: u64,
    pub superseded: u64,
    pub bad_state_payloads: u64,
}

/// The event bus: events published, events lost by slow subscribers, subscribers now.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventCounters {
    pub published: u64,
    pub lagged: u64,
    pub subscribers: usize,
}

/// An outbox row (`GET /api/commands`, `GET /api/history/commands`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandDto {
    pub id: i64,
    pub device_id: String,
    pub topic: String,
    /// The MQTT payload as text (`<N bytes>` when it is not UTF-8).
    pub payload: String,
    /// The command as built (`{"action": "turn_on", ...}`).
    #[schema(value_type = Object)]
    pub action: serde_json::Value,
    /// pending, sent, acked, failed, expired or superseded.
    #[schema(value_type = String)]
    pub status: crate::store::CommandStatus,
    pub attempts: u32,
    /// Unix milliseconds.
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub acked_at: Option<i64>,
    pub error: Option<String>,
    pub correlation: Option<String>,
}

impl From<&crate::store::CommandRow> for CommandDto {
    fn from(r: &crate::store::CommandRow) -> CommandDto {
        let payload = match std::str::from_utf8(&r.payload) {
            Ok(s) => s.to_string(),
            Err(_) => format!("<{} bytes>", r.payload.len()),
        };
        CommandDto {
            id: r.id,
            device_id: r.device_id.clone(),
            topic: r.topic.clone(),
            payload,
            action: r.action.clone(),
            status: r.status,
            attempts: r.attempts,
            created_at: r.created_at,
            sent_at: r.sent_at,
            acked_at: r.acked_at,
            error: r.error.clone(),
            correlation: r.correlation.clone(),
        }
    }
}

/// `202` of `POST /api/commands` and `POST /api/devices/ID/command`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnqueuedDto {
    pub device_id: String,
    pub commands: Vec<EnqueuedCommand>,
}

/// One command the request enqueued, with its status after `wait_ms`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnqueuedCommand {
    pub id: i64,
    pub topic: String,
    #[schema(value_type = String)]
    pub status: crate::store::CommandStatus,
}

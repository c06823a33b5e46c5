//! Media players: `HassMediaPause`, `HassMediaUnpause`, `HassMediaNext`,
//! `HassMediaPrevious`, `HassSetVolume`, `HassSetVolumeRelative`,
//! `HassMediaPlayerMute` and `HassMediaPlayerUnmute`; and
//! `HassMediaSearchAndPlay` over the home's media library
//! ([`crate::media_library`]).
//!
//! A name means that player. Otherwise, as Home Assistant does for "pause"
//! or "next track", the request means the players that are playing (the
//! paused ones for "resume"): in the area or floor said (or the satellite's),
//! else anywhere in the home. A home or place with a single player means it
//! whatever it is doing.
use firmware_bridge::{Action, DeviceKind};

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{Plan, SkillError};
use crate::intent::Intent;
use crate::registry::{Device, Registry};
use crate::reply::{cap, count_noun, the};
use crate::targets::{Targets, everywhere, targets};

/// "Play jazz radio in the kitchen": the library item that best matches
/// `search_query` (of `media_class` when said) on the player named, or the
/// players of the area said (or the satellite's), or the only player. Not
/// found is an answer, not an error: no commands, and `answer.media` null
/// (Home Assistant's "Media not found").
pub(crate) fn search_and_play(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let query = u
        .slots
        .extra_text("search_query")
        .ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "search_query" })?;
    let class = u.slots.extra_text("media_class");
    let t = if u.slots.has_target() || !u.entities.is_empty() {
        targets(u, reg, PLAYERS)?
    } else {
        let home = everywhere(reg, PLAYERS);
        match home.devices.len() {
            1 => home,
            0 => return Err(SkillError::NoMatch { what: "media players".into(), place: String::new() }),
            _ => return Err(SkillError::MissingSlot { intent: u.intent.clone(), slot: "name" }),
        }
    };
    let Some(item) = crate::media_library::search(&reg.media, &query, class.as_deref()) else {
        let what = class.map_or_else(|| query.clone(), |c| format!("{} {query}", c.replace('_', " ")));
        return Ok(Plan {
            commands: Vec::new(),
            reply: format!("Sorry, I couldn't find {what} in the media library."),
            answer: Some(serde_json::json!({ "media": null, "query": query })),
            op: None,
        });
    };
    let mut commands = Vec::new();
    for d in &t.devices {
        let action = Action::PlayMedia { id: item.id.clone(), class: item.class.clone() };
        commands.push(command::for_device(d, action, state)?);
    }
    let on = if t.devices.len() == 1 {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    let answer = serde_json::json!({ "media": { "name": item.name, "class": item.class, "id": item.id } });
    Ok(Plan { commands, reply: format!("Playing {} on {on}.", item.name), answer: Some(answer), op: None })
}

/// Step of "turn it up" / "turn it down", percent.
pub const VOLUME_STEP: i32 = 10;

const PLAYERS: &[DeviceKind] = &[DeviceKind::MediaPlayer];

pub(crate) fn media(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let wanted = if u.intent == Intent::HassMediaUnpause { "paused" } else { "playing" };
    let t = media_targets(u, reg, state, wanted)?;
    let target = if t.devices.len() == 1 {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    let mut commands = Vec::new();
    let mut volume = None;
    for d in &t.devices {
        let action = match &u.intent {
            Intent::HassMediaPause => Action::Pause,
            Intent::HassMediaUnpause => Action::Play,
            Intent::HassMediaNext => Action::NextTrack,
            Intent::HassMediaPrevious => Action::PreviousTrack,
            Intent::HassMediaPlayerMute => Action::Mute { muted: true },
            Intent::HassMediaPlayerUnmute => Action::Mute { muted: false },
            Intent::HassSetVolume => Action::Volume { percent: volume_level(u)? },
            Intent::HassSetVolumeRelative => Action::Volume { percent: relative_volume(u, d, state)? },
            other => return Err(SkillError::UnknownIntent(other.to_string())),
        };
        if let Action::Volume { percent } = action {
            volume = Some(percent);
        }
        commands.push(command::for_device(d, action, state)?);
    }
    let reply = match (&u.intent, volume) {
        (Intent::HassMediaPause, _) => format!("Paused {target}."),
        (Intent::HassMediaUnpause, _) => format!("Resumed {target}."),
        (Intent::HassMediaNext, _) => format!("Playing the next item on {target}."),
        (Intent::HassMediaPrevious, _) => format!("Playing the previous item on {target}."),
        (Intent::HassMediaPlayerMute, _) => format!("Muted {target}."),
        (Intent::HassMediaPlayerUnmute, _) => format!("Unmuted {target}."),
        (_, Some(p)) if t.devices.len() == 1 => format!("{} volume set to {p}%.", cap(&possessive(&target))),
        _ => format!("Set the volume of {target}."),
    };
    Ok(Plan { commands, reply, answer: None, op: None })
}

fn possessive(target: &str) -> String {
    if target.ends_with('s') { format!("{target}'") } else { format!("{target}'s") }
}

/// The players a media request means (see the module comment).
fn media_targets<'r>(
    u: &Understanding,
    reg: &'r Registry,
    state: StateLookup,
    wanted: &str,
) -> Result<Targets<'r>, SkillError> {
    let doing = |d: &&Device| state(&d.id).and_then(|s| s.activity).as_deref() == Some(wanted);
    if !u.entities.is_empty() || u.slots.name_text().is_some() {
        return targets(u, reg, PLAYERS);
    }
    let home = everywhere(reg, PLAYERS);
    // The place said (or the satellite's); a place without players is no error yet.
    let here = if u.slots.has_target() {
        match targets(u, reg, PLAYERS) {
            Ok(t) => Some(t),
            Err(SkillError::NoMatch { .. }) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let active = |t: &Targets<'r>| -> Option<Targets<'r>> {
        let devices: Vec<&Device> = t.devices.iter().copied().filter(doing).collect();
        (!devices.is_empty()).then(|| Targets { devices, place: t.place.clone(), named: false })
    };
    let single = |t: &Targets<'r>| {
        (t.devices.len() == 1).then(|| Targets { devices: t.devices.clone(), place: t.place.clone(), named: false })
    };
    // Playing here, playing anywhere, the only player here, the only one at all.
    here.as_ref()
        .and_then(active)
        .or_else(|| active(&home))
        .or_else(|| here.as_ref().and_then(single))
        .or_else(|| single(&home))
        .ok_or_else(|| SkillError::NoMatch {
            what: format!("media players {wanted}"),
            place: here.map_or_else(|| place_said(u, reg), |t| t.place),
        })
}

/// " in the garden" for a place that has no players (so no targets).
fn place_said(u: &Understanding, reg: &Registry) -> String {
    let area = u.slots.area_text().and_then(|a| crate::lookup::find_area(reg, &a));
    let floor = u.slots.floor_text().and_then(|f| crate::lookup::find_floor(reg, &f));
    crate::reply::place_of(area, floor)
}

fn volume_level(u: &Understanding) -> Result<u8, SkillError> {
    u.slots
        .extra_percent("volume_level")?
        .ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "volume_level" })
}

/// `volume_step`: "up", "down" or a signed percentage, from the player's
/// known volume.
fn relative_volume(u: &Understanding, d: &Device, state: StateLookup) -> Result<u8, SkillError> {
    let step = match u.slots.extra_text("volume_step").as_deref() {
        Some("up") => VOLUME_STEP,
        Some("down") => -VOLUME_STEP,
        _ => match u.slots.extra_number("volume_step")? {
            Some(n) if (-100.0..=100.0).contains(&n) => n.round() as i32,
            Some(n) => {
                return Err(SkillError::BadSlot {
                    slot: "volume_step",
                    value: n.to_string(),
                    reason: "must be up, down or -100 to 100".into(),
                });
            }
            None => return Err(SkillError::MissingSlot { intent: u.intent.clone(), slot: "volume_step" }),
        },
    };
    let now = state(&d.id).and_then(|s| s.volume_pct).ok_or_else(|| SkillError::UnknownState(d.name.clone()))?;
    Ok((i32::from(now) + step).clamp(0, 100) as u8)
}

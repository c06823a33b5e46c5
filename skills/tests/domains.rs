//! Every domain and device intent against the extended demo home
//! (`tests/homes/every-domain.toml`), through Home Assistant's own English
//! and German sentence templates: the intent and its slots, the device
//! commands the skills plan, and the language's own response.

mod common;

use std::sync::Arc;

use firmware_bridge::{Action, DeviceState};
use hub_skills::intent::NluContext;
use hub_skills::templates::TemplateNlu;
use hub_skills::{Assistant, HubOp, Registry, ReplyStyle};
use serde_json::json;

fn assistant(reg: &Registry, lang: &str) -> Option<Assistant> {
    let Some(venv) = common::venv() else {
        eprintln!("SKIPPED: no .venv with home_assistant_intents (run scripts/setup)");
        return None;
    };
    let nlu = TemplateNlu::from_language_json_named(&format!("{lang}.json"), &common::intents_json(&venv, lang), reg)
        .expect("language loads");
    Some(Assistant::new(Arc::new(reg.clone()), Some(nlu), ReplyStyle::Language))
}

/// The TV plays at 40 %, the kitchen speaker is paused, it is sunny.
fn states(id: &str) -> Option<DeviceState> {
    let mut s = DeviceState::default();
    match id {
        "media_player.living_room_tv" => {
            s.activity = Some("playing".into());
            s.volume_pct = Some(40);
        }
        "media_player.kitchen_speaker" => s.activity = Some("paused".into()),
        "weather.home" => {
            s.value = Some(json!({"condition": "sunny", "temperature": 21.5}));
            s.current_temperature = Some(21.5);
        }
        "vacuum.rover" => s.activity = Some("docked".into()),
        _ => return None,
    }
    Some(s)
}

/// `PlayMedia` of a library item.
fn media(id: &str, class: &str) -> Action {
    Action::PlayMedia { id: id.into(), class: class.into() }
}

struct Case {
    area: &'static str,
    text: &'static str,
    intent: &'static str,
    commands: Vec<(&'static str, Action)>,
    reply: &'static str,
}

fn case(
    area: &'static str,
    text: &'static str,
    intent: &'static str,
    commands: Vec<(&'static str, Action)>,
    reply: &'static str,
) -> Case {
    Case { area, text, intent, commands, reply }
}

fn run(lang: &str, cases: Vec<Case>) {
    let reg = common::registry_from("tests/homes/every-domain.toml");
    let Some(a) = assistant(&reg, lang) else { return };
    let mut failures = Vec::new();
    for c in cases {
        let ctx = NluContext { area: (!c.area.is_empty()).then(|| c.area.to_string()) };
        let Some(u) = a.understand(c.text, &ctx) else {
            failures.push(format!("{lang} {:?}: not understood", c.text));
            continue;
        };
        let plan = match a.plan(&u, &states) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{lang} {:?} ({}): {e}", c.text, u.intent));
                continue;
            }
        };
        let got: Vec<(&str, Action)> = plan.commands.iter().map(|c| (c.device_id.as_str(), c.action.clone())).collect();
        let reply = a.reply(&u, &plan, &states);
        if u.intent != c.intent || got != c.commands || reply != c.reply {
            failures.push(format!(
                "{lang} {:?}: got {} {got:?} {reply:?}, want {} {:?} {:?}",
                c.text, u.intent, c.intent, c.commands, c.reply
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn english_domains_and_responses() {
    use Action::*;
    run(
        "en",
        vec![
            case("", "pause the TV", "HassMediaPause", vec![("media_player.living_room_tv", Pause)], "Paused"),
            // "pause" at a satellite: the player that is playing, here or elsewhere.
            case("living_room", "pause", "HassMediaPause", vec![("media_player.living_room_tv", Pause)], "Paused"),
            case("kitchen", "pause", "HassMediaPause", vec![("media_player.living_room_tv", Pause)], "Paused"),
            case("garden", "pause", "HassMediaPause", vec![("media_player.living_room_tv", Pause)], "Paused"),
            case("kitchen", "resume", "HassMediaUnpause", vec![("media_player.kitchen_speaker", Play)], "Resumed"),
            case(
                "",
                "skip to the next track on the kitchen speaker",
                "HassMediaNext",
                vec![("media_player.kitchen_speaker", NextTrack)],
                "Playing next",
            ),
            case(
                "",
                "previous track on the TV",
                "HassMediaPrevious",
                vec![("media_player.living_room_tv", PreviousTrack)],
                "Playing previous",
            ),
            case(
                "",
                "set the TV volume to 30%",
                "HassSetVolume",
                vec![("media_player.living_room_tv", Volume { percent: 30 })],
                "Volume set",
            ),
            case(
                "living_room",
                "turn up the volume",
                "HassSetVolumeRelative",
                vec![("media_player.living_room_tv", Volume { percent: 50 })],
                "Volume set",
            ),
            case(
                "living_room",
                "turn the volume down by 20",
                "HassSetVolumeRelative",
                vec![("media_player.living_room_tv", Volume { percent: 20 })],
                "Volume set",
            ),
            case(
                "",
                "mute the TV",
                "HassMediaPlayerMute",
                vec![("media_player.living_room_tv", Mute { muted: true })],
                "Muted",
            ),
            case(
                "",
                "unmute the TV",
                "HassMediaPlayerUnmute",
                vec![("media_player.living_room_tv", Mute { muted: false })],
                "Unmuted",
            ),
            // The media library of `[[media]]`: the satellite's player, a
            // player named, a class said, and nothing found.
            case(
                "kitchen",
                "play smooth jazz",
                "HassMediaSearchAndPlay",
                vec![("media_player.kitchen_speaker", media("http://radio.local/jazz.mp3", "channel"))],
                "Playing media",
            ),
            case(
                "",
                "play dinner party on the TV",
                "HassMediaSearchAndPlay",
                vec![(
                    "media_player.living_room_tv",
                    media("http://media.local/playlists/dinner-party.m3u", "playlist"),
                )],
                "Playing media",
            ),
            case(
                "",
                "play the artist the beatles in the living room",
                "HassMediaSearchAndPlay",
                vec![("media_player.living_room_tv", media("http://media.local/artists/the-beatles.m3u", "artist"))],
                "Playing media",
            ),
            case("kitchen", "play the album dinner party", "HassMediaSearchAndPlay", vec![], "Media not found"),
            case("kitchen", "play heavy metal", "HassMediaSearchAndPlay", vec![], "Media not found"),
            case("", "start rover", "HassVacuumStart", vec![("vacuum.rover", Start)], "Started"),
            case("", "return rover to base", "HassVacuumReturnToBase", vec![("vacuum.rover", Dock)], "Returning"),
            case(
                "",
                "vacuum the kitchen",
                "HassVacuumCleanArea",
                vec![("vacuum.rover", CleanSegments { segments: vec!["20".into()] })],
                "Cleaning Kitchen",
            ),
            case(
                "living_room",
                "vacuum in here",
                "HassVacuumCleanArea",
                vec![("vacuum.rover", CleanSegments { segments: vec!["18".into(), "19".into()] })],
                "Cleaning Living Room",
            ),
            case("", "start mowing", "HassLawnMowerStartMowing", vec![("lawn_mower.clippy", Start)], "Started"),
            case("", "stop mowing", "HassLawnMowerDock", vec![("lawn_mower.clippy", Dock)], "Docking"),
            case(
                "",
                "set the ceiling fan speed to 50%",
                "HassFanSetSpeed",
                vec![("fan.ceiling_fan", FanSpeed { percent: 50 })],
                "Speed set",
            ),
            case(
                "living_room",
                "set fans to 20%",
                "HassFanSetSpeed",
                vec![("fan.ceiling_fan", FanSpeed { percent: 20 })],
                "Speed set",
            ),
            case(
                "living_room",
                "set the fan mode to low",
                "HassClimateSetFanMode",
                vec![("climate.thermostat", FanMode { mode: "low".into() })],
                "Fan mode set to low",
            ),
            case("", "what is the weather", "HassGetWeather", vec![], "21.5 °C and sunny"),
            case("", "open the garden water", "HassTurnOn", vec![("valve.garden_water", Open)], "Opening"),
            case("", "close the sprinkler", "HassTurnOff", vec![("valve.garden_water", Close)], "Closing"),
            case(
                "",
                "set garden water to 50%",
                "HassSetPosition",
                vec![("valve.garden_water", Position { percent: 50 })],
                "Position set",
            ),
            case(
                "",
                "activate movie night",
                "HassTurnOn",
                vec![
                    ("cover.blinds", Close),
                    ("light.kitchen", TurnOff),
                    ("media_player.living_room_tv", TurnOn),
                    ("media_player.living_room_tv", Volume { percent: 30 }),
                ],
                "Activated",
            ),
            case("", "run goodnight", "HassTurnOn", vec![], "Started"),
            case("", "press the chime", "HassTurnOn", vec![("button.chime", Press)], "Pressed"),
            case(
                "",
                "turn on guest mode",
                "HassTurnOn",
                vec![("input_boolean.guest_mode", TurnOn)],
                "Turned on the switch",
            ),
        ],
    );
}

#[test]
fn german_domains_and_responses() {
    use Action::*;
    run(
        "de",
        vec![
            case("living_room", "pause", "HassMediaPause", vec![("media_player.living_room_tv", Pause)], "Pausiert"),
            case("kitchen", "weiter", "HassMediaUnpause", vec![("media_player.kitchen_speaker", Play)], "Fortgesetzt"),
            case(
                "living_room",
                "nächster Song",
                "HassMediaNext",
                vec![("media_player.living_room_tv", NextTrack)],
                "Nächstes",
            ),
            case(
                "living_room",
                "vorheriger Song",
                "HassMediaPrevious",
                vec![("media_player.living_room_tv", PreviousTrack)],
                "Spiele vorheriges",
            ),
            case(
                "living_room",
                "stelle die Lautstärke auf 30 Prozent ein",
                "HassSetVolume",
                vec![("media_player.living_room_tv", Volume { percent: 30 })],
                "Lautstärke festgelegt",
            ),
            case(
                "living_room",
                "lauter",
                "HassSetVolumeRelative",
                vec![("media_player.living_room_tv", Volume { percent: 50 })],
                "Lautstärke festgelegt",
            ),
            case(
                "",
                "schalte TV stumm",
                "HassMediaPlayerMute",
                vec![("media_player.living_room_tv", Mute { muted: true })],
                "Stumm geschaltet",
            ),
            case(
                "kitchen",
                "spiele Jazz Radio",
                "HassMediaSearchAndPlay",
                vec![("media_player.kitchen_speaker", media("http://radio.local/jazz.mp3", "channel"))],
                "Wiedergabe wird gestartet",
            ),
            case(
                "",
                "spiele Dinner Party auf dem TV",
                "HassMediaSearchAndPlay",
                vec![(
                    "media_player.living_room_tv",
                    media("http://media.local/playlists/dinner-party.m3u", "playlist"),
                )],
                "Wiedergabe wird gestartet",
            ),
            case("kitchen", "spiele Heavy Metal", "HassMediaSearchAndPlay", vec![], "Keine passenden Inhalte gefunden"),
            case("", "starte Rover", "HassVacuumStart", vec![("vacuum.rover", Start)], "Gestartet"),
            case(
                "",
                "schicke Rover zurück zur Basis",
                "HassVacuumReturnToBase",
                vec![("vacuum.rover", Dock)],
                "Kehrt zurück",
            ),
            case(
                "",
                "Kitchen saugen",
                "HassVacuumCleanArea",
                vec![("vacuum.rover", CleanSegments { segments: vec!["20".into()] })],
                "Kitchen wird gereinigt",
            ),
            case(
                "",
                "starte den Rasenmäher",
                "HassLawnMowerStartMowing",
                vec![("lawn_mower.clippy", Start)],
                "Gestartet",
            ),
            case("", "beende den Mähvorgang", "HassLawnMowerDock", vec![("lawn_mower.clippy", Dock)], "Kehrt zurück"),
            case(
                "living_room",
                "setze die Geschwindigkeit des Ventilators auf 50 Prozent",
                "HassFanSetSpeed",
                vec![("fan.ceiling_fan", FanSpeed { percent: 50 })],
                "Geschwindigkeit eingestellt",
            ),
            case("", "wie ist das Wetter", "HassGetWeather", vec![], "21,5 Grad und sonnig"),
            case("", "öffne Garden Water", "HassTurnOn", vec![("valve.garden_water", Open)], "geöffnet"),
            case(
                "",
                "aktiviere Movie Night",
                "HassTurnOn",
                vec![
                    ("cover.blinds", Close),
                    ("light.kitchen", TurnOff),
                    ("media_player.living_room_tv", TurnOn),
                    ("media_player.living_room_tv", Volume { percent: 30 }),
                ],
                "Movie Night aktiviert",
            ),
            case(
                "",
                "schalte Guest Mode ein",
                "HassTurnOn",
                vec![("input_boolean.guest_mode", TurnOn)],
                "Guest Mode eingeschaltet",
            ),
        ],
    );
}

#[test]
fn scripts_run_in_the_hub_and_errors_are_clear() {
    let reg = common::registry_from("tests/homes/every-domain.toml");
    let Some(a) = assistant(&reg, "en") else { return };
    let ctx = NluContext::default();
    let u = a.understand("run goodnight", &ctx).expect("understood");
    let plan = a.plan(&u, &states).expect("plan");
    assert_eq!(plan.op, Some(HubOp::Script("script.goodnight".into())));
    // A to-do list named in the home takes items by its name.
    let u = a.understand("add milk to my groceries list", &ctx).expect("understood");
    let plan = a.plan(&u, &states).expect("plan");
    let add = hub_skills::lists::ListOp::Add { list: "Groceries".into(), item: "milk".into() };
    assert_eq!(plan.op, Some(HubOp::List(add)));
    // Nothing plays anywhere and the home has two players: no guess.
    let u = a.understand("next track", &NluContext { area: Some("garden".into()) }).expect("understood");
    let e = a.plan(&u, &|_| None).unwrap_err();
    assert_eq!(e.reply(), "Sorry, there are no media players playing in the garden.");
    // A vacuum with no segment for the area says so.
    let u = a.understand("vacuum the garden", &ctx).expect("understood");
    let e = a.plan(&u, &states).unwrap_err().to_string();
    assert!(e.contains("`features.segments` has no `garden`"), "{e}");
    // A fan mode the thermostat does not list is refused by the bridge.
    let u = a.understand("set the thermostat fan mode to medium", &ctx).expect("understood");
    let e = a.plan(&u, &states).unwrap_err();
    assert_eq!(e.reply(), "Sorry, the thermostat can't do fan mode `medium`.");
    // A scene is activated, not turned off.
    let u = a.understand("turn off movie night", &ctx).expect("understood");
    assert_eq!(a.plan(&u, &states).unwrap_err().reply(), "Sorry, the movie night can't be turned off.");
}

//! Requests the running hub answers (timers, lists, the clock, broadcasts)
//! get the language's own response outside English: Home Assistant's
//! German templates rendered with the request's slots and what the hub
//! did (`canceled`, `timers`, `time`, `date`).

mod common;

use std::sync::Arc;

use hub_skills::automation::Now;
use hub_skills::intent::NluContext;
use hub_skills::templates::TemplateNlu;
use hub_skills::timers::{TimerOp, Timers, response_slots};
use hub_skills::{Assistant, HubOp, ReplyStyle, Understanding};

fn assistant(lang: &str) -> Option<Assistant> {
    let Some(venv) = common::venv() else {
        eprintln!("SKIPPED: no .venv with home_assistant_intents (run scripts/setup)");
        return None;
    };
    let reg = common::demo_registry();
    let nlu = TemplateNlu::from_language_json_named(&format!("{lang}.json"), &common::intents_json(&venv, lang), &reg)
        .expect("language loads");
    Some(Assistant::new(Arc::new(reg), Some(nlu), ReplyStyle::Language))
}

fn understand(a: &Assistant, text: &str) -> Understanding {
    a.understand(text, &NluContext { area: Some("kitchen".into()) }).unwrap_or_else(|| panic!("{text}: not understood"))
}

/// Run a timer request on `timers` at `now_ms` and render the reply.
fn timer(a: &Assistant, timers: &mut Timers, text: &str, now_ms: i64) -> Option<String> {
    let u = understand(a, text);
    let plan = a.plan(&u, &|_| None).unwrap_or_else(|e| panic!("{text}: {e}"));
    let op: TimerOp = match plan.op {
        Some(HubOp::Timer(op)) => op,
        other => panic!("{text}: {other:?}"),
    };
    let applied = timers.apply(&op, now_ms).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    a.language_reply_with(&u, response_slots(&u.intent, &applied.answer))
}

#[test]
fn german_timers_lists_clock_and_broadcasts() {
    let Some(a) = assistant("de") else { return };
    let mut t = Timers::new([]);
    assert_eq!(
        timer(&a, &mut t, "stelle einen Timer für 5 Minuten", 0).as_deref(),
        Some("Timer für 5 Minuten gestartet")
    );
    assert_eq!(timer(&a, &mut t, "pausiere den Timer", 60_000).as_deref(), Some("Timer pausiert"));
    assert_eq!(timer(&a, &mut t, "setze den Timer fort", 70_000).as_deref(), Some("Timer fortgesetzt"));
    let status = timer(&a, &mut t, "Restzeit des Timers", 70_000).expect("status");
    assert!(status.contains("4 Minuten"), "{status}");
    timer(&a, &mut t, "stelle einen Timer für 10 Minuten", 70_000);
    assert_eq!(timer(&a, &mut t, "stoppe alle Timer", 80_000).as_deref(), Some("2 Timer gestoppt."));

    let u = understand(&a, "füge Milch zur Einkaufsliste hinzu");
    assert!(matches!(a.plan(&u, &|_| None).map(|p| p.op), Ok(Some(HubOp::List(_)))), "{u:?}");
    assert_eq!(a.language_reply_with(&u, Default::default()).as_deref(), Some("Milch hinzugefügt"));

    // Saturday 2026-12-05 15:05 at UTC+1.
    let now = Now::at(1_796_479_500_000, 3600);
    let u = understand(&a, "wie spät ist es");
    let q = match a.plan(&u, &|_| None).map(|p| p.op) {
        Ok(Some(HubOp::Clock(q))) => q,
        other => panic!("{other:?}"),
    };
    assert_eq!(a.language_reply_with(&u, q.response_slots(&now)).as_deref(), Some("Es ist 15:05"));
    let u = understand(&a, "welcher Tag ist heute");
    let q = match a.plan(&u, &|_| None).map(|p| p.op) {
        Ok(Some(HubOp::Clock(q))) => q,
        other => panic!("{other:?}"),
    };
    let date = a.language_reply_with(&u, q.response_slots(&now));
    assert_eq!(date.as_deref(), Some("Es ist Samstag der 5. Dezember 2026"));

    let u = understand(&a, "sag überall Bescheid Essen ist fertig");
    assert!(matches!(a.plan(&u, &|_| None).map(|p| p.op), Ok(Some(HubOp::Broadcast(_)))), "{u:?}");
    assert_eq!(a.language_reply_with(&u, Default::default()).as_deref(), Some("Nachricht wurde gesendet"));
}

#[test]
fn english_timers_lists_clock_and_broadcasts() {
    let Some(a) = assistant("en") else { return };
    let mut t = Timers::new([]);
    let got = [
        timer(&a, &mut t, "set a timer for 5 minutes", 0),
        timer(&a, &mut t, "pause the timer", 60_000),
        timer(&a, &mut t, "resume the timer", 70_000),
        timer(&a, &mut t, "add 2 minutes to the timer", 70_000),
        timer(&a, &mut t, "how much time is left on the timer", 70_000),
        timer(&a, &mut t, "cancel all timers", 80_000),
        timer(&a, &mut t, "turn off the kitchen light in 1 second", 90_000),
    ];
    let want = [
        "Timer set for 5 minutes",
        "Timer paused",
        "Timer resumed",
        "2 minutes added to timer",
        "6 minutes left.",
        "Canceled 1 timer.",
        "Command will be executed in 1 second",
    ];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.as_deref(), Some(w), "{got:?}");
    }
    let u = understand(&a, "add milk to the shopping list");
    assert_eq!(a.language_reply_with(&u, Default::default()).as_deref(), Some("Added milk"));
    let u = understand(&a, "what time is it");
    let Ok(Some(HubOp::Clock(q))) = a.plan(&u, &|_| None).map(|p| p.op) else { panic!("{u:?}") };
    // 15:05 at UTC+1.
    let now = Now::at(1_796_479_500_000, 3600);
    assert_eq!(a.language_reply_with(&u, q.response_slots(&now)).as_deref(), Some("3:05 PM"));
    let u = understand(&a, "broadcast that dinner is ready");
    assert_eq!(a.language_reply_with(&u, Default::default()).as_deref(), Some("Done"));
}

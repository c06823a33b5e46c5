use super::*;

fn start(secs: u64, name: Option<&str>, area: Option<&str>) -> TimerOp {
    TimerOp::Start { secs, name: name.map(Into::into), area: area.map(Into::into), command: None }
}

fn named(n: &str) -> Selector {
    Selector { name: Some(n.into()), ..Selector::default() }
}

#[test]
fn a_timer_runs_pauses_resumes_and_finishes() {
    let mut t = Timers::new([]);
    let a = t.apply(&start(120, None, None), 1_000).unwrap();
    assert_eq!(a.reply, "Timer set for 2 minutes.");
    assert!(matches!(&a.changes[..], [Change::Saved(x)] if x.ends_at_ms == Some(121_000)));
    assert_eq!(t.next_deadline(), Some(121_000));
    // Paused with 90 s left; resumed 1 000 s later, it ends 90 s after that.
    assert_eq!(t.apply(&TimerOp::Pause(Selector::default()), 31_000).unwrap().reply, "Timer paused.");
    assert_eq!(t.next_deadline(), None);
    assert!(t.take_due(1_000_000).is_empty(), "a paused timer never ends");
    assert_eq!(t.apply(&TimerOp::Pause(Selector::default()), 32_000), Err(TimerError::NotFound));
    t.apply(&TimerOp::Unpause(Selector::default()), 1_031_000).unwrap();
    assert_eq!(t.next_deadline(), Some(1_121_000));
    assert!(t.take_due(1_120_999).is_empty());
    let done = t.take_due(1_121_000);
    assert_eq!(done.len(), 1);
    assert!(t.is_empty());
}

#[test]
fn which_timer_follows_name_area_length_then_origin() {
    let mut t = Timers::new([]);
    t.apply(&start(300, Some("pasta"), Some("kitchen")), 0).unwrap();
    t.apply(&start(600, Some("eggs"), Some("kitchen")), 0).unwrap();
    t.apply(&start(300, None, Some("office")), 0).unwrap();
    // Three timers and no filter: which one?
    assert_eq!(t.apply(&TimerOp::Cancel(Selector::default()), 1), Err(TimerError::Multiple(3)));
    // By name, case folded.
    let a = t.apply(&TimerOp::Cancel(named("Eggs")), 1).unwrap();
    assert_eq!(a.changes, vec![Change::Removed(2)]);
    // "the 5 minute timer": two left; the request from the office picks its own.
    let five = Selector { start: (None, Some(5), None), ..Selector::default() };
    assert_eq!(t.apply(&TimerOp::Pause(five.clone()), 2), Err(TimerError::Multiple(2)));
    let here = Selector { origin_area: Some("office".into()), ..five };
    let a = t.apply(&TimerOp::Pause(here), 2).unwrap();
    assert!(matches!(&a.changes[..], [Change::Saved(x)] if x.id == 3 && !x.is_active()));
    // By area.
    let kitchen = Selector { area: Some("Kitchen".into()), ..Selector::default() };
    assert_eq!(t.apply(&TimerOp::Cancel(kitchen), 3).unwrap().changes, vec![Change::Removed(1)]);
    assert_eq!(t.apply(&TimerOp::Cancel(named("rice")), 3), Err(TimerError::NotFound));
}

#[test]
fn lengthen_shorten_and_shorten_to_nothing() {
    let mut t = Timers::new([]);
    t.apply(&start(60, None, None), 0).unwrap();
    assert_eq!(t.apply(&TimerOp::Add(Selector::default(), 300), 10_000).unwrap().reply, "5 minutes added to timer.");
    assert_eq!(t.next_deadline(), Some(360_000));
    let a = t.apply(&TimerOp::Add(Selector::default(), -90), 10_000).unwrap();
    assert_eq!(a.reply, "1 minute and 30 seconds removed from timer.");
    assert_eq!(t.next_deadline(), Some(270_000));
    // Removing more than is left finishes it now.
    let a = t.apply(&TimerOp::Add(Selector::default(), -3600), 20_000).unwrap();
    assert_eq!(a.changes, vec![], "the caller finishes the row (mark, run its sentence, delete)");
    assert_eq!(a.finished.len(), 1);
    assert!(a.timers.is_empty());
    assert!(t.is_empty());
    t.apply(&start(60, None, None), 0).unwrap();
    assert_eq!(t.apply(&TimerOp::Add(Selector::default(), 25 * 3600), 0), Err(TimerError::BadLength(90_060)));
}

#[test]
fn cancel_all_counts_and_filters_by_area() {
    let mut t = Timers::new([]);
    assert_eq!(t.apply(&TimerOp::CancelAll { area: None }, 0).unwrap().reply, "No timers were canceled.");
    t.apply(&start(60, None, Some("Kitchen")), 0).unwrap();
    t.apply(&start(60, None, Some("Kitchen")), 0).unwrap();
    t.apply(&start(60, None, Some("Office")), 0).unwrap();
    let a = t.apply(&TimerOp::CancelAll { area: Some("kitchen".into()) }, 0).unwrap();
    assert_eq!(a.reply, "Canceled 2 timers in kitchen.");
    assert_eq!(t.len(), 1);
    assert_eq!(t.apply(&TimerOp::CancelAll { area: None }, 0).unwrap().reply, "Canceled 1 timer.");
}

#[test]
fn status_answers_like_home_assistant() {
    let mut t = Timers::new([]);
    let status = |t: &mut Timers, now| t.apply(&TimerOp::Status(Selector::default()), now).unwrap().reply;
    assert_eq!(status(&mut t, 0), "No timers.");
    t.apply(&start(300, None, None), 0).unwrap();
    assert_eq!(status(&mut t, 30_000), "4 minutes and 30 seconds left.");
    t.apply(&start(7200, Some("roast"), None), 0).unwrap();
    assert_eq!(status(&mut t, 30_000), "2 running timers. 4 minutes and 30 seconds left on the 5 minute timer.");
    t.apply(&TimerOp::Pause(Selector { start: (None, Some(5), None), ..Selector::default() }), 60_000).unwrap();
    assert_eq!(status(&mut t, 90_000), "1 paused timer. 1 hour and 58 minutes left on the 2 hour roast timer.");
    let one = t.apply(&TimerOp::Status(named("roast")), 90_000).unwrap();
    assert_eq!(one.answer["timers"].as_array().map(Vec::len), Some(1));
}

#[test]
fn stored_timers_keep_their_ids_and_limits_hold() {
    let mut t = Timers::new([]);
    t.apply(&start(60, None, None), 0).unwrap();
    t.apply(&start(60, None, None), 0).unwrap();
    let stored: Vec<Timer> = t.views(0).into_iter().map(|v| v.timer).collect();
    let mut again = Timers::new(stored);
    let a = again.apply(&start(5, None, None), 0).unwrap();
    assert!(matches!(&a.changes[..], [Change::Saved(x)] if x.id == 3));
    assert_eq!(again.apply(&start(0, None, None), 0), Err(TimerError::BadLength(0)));
    assert_eq!(again.apply(&start(MAX_SECS + 1, None, None), 0), Err(TimerError::BadLength(86_401)));
    for _ in again.len()..MAX_TIMERS {
        again.apply(&start(60, None, None), 0).unwrap();
    }
    assert_eq!(again.apply(&start(60, None, None), 0), Err(TimerError::TooMany(MAX_TIMERS)));
}

#[test]
fn a_command_timer_says_when_it_runs() {
    let mut t = Timers::new([]);
    let op = TimerOp::Start { secs: 1, name: None, area: None, command: Some("turn off the oven".into()) };
    assert_eq!(t.apply(&op, 0).unwrap().reply, "Command will be executed in 1 second.");
    assert_eq!(t.take_due(1_000)[0].command.as_deref(), Some("turn off the oven"));
}

#[test]
fn a_finished_timer_is_announced_by_name_or_length_unless_it_runs_a_sentence() {
    let t = |name: Option<&str>, secs, command: Option<&str>| Timer {
        id: 1,
        name: name.map(String::from),
        area: None,
        start_secs: secs,
        ends_at_ms: Some(0),
        paused_left_ms: 0,
        command: command.map(String::from),
        created_ms: 0,
    };
    assert_eq!(finished_text(&t(Some("Pasta"), 120, None)).as_deref(), Some("The pasta timer is done."));
    assert_eq!(finished_text(&t(None, 300, None)).as_deref(), Some("Your 5 minute timer is done."));
    assert_eq!(finished_text(&t(None, 5430, None)).as_deref(), Some("Your 1 hour 30 minute 30 second timer is done."));
    assert_eq!(finished_text(&t(None, 60, Some("turn off the oven"))), None);
}

//! The outbox state machine with plain vectors: inputs in, effects out, time
//! passed in as values (no sleeps, no I/O).

use std::time::{Duration, Instant};

use firmware_bridge::{Action, DeviceKind, Dialect};

use super::state::*;
use crate::store::CommandStatus;

const LIGHT: &str = "light.hallway";
const STATE_TOPIC: &str = "zigbee2mqtt/Hallway";
const SET_TOPIC: &str = "zigbee2mqtt/Hallway/set";

struct Clock {
    start: Instant,
    ms: u64,
}

impl Clock {
    fn new() -> Clock {
        Clock { start: Instant::now(), ms: 0 }
    }
    fn now(&self) -> Now {
        Now { at: self.start + Duration::from_millis(self.ms), wall_ms: 1_000_000 + self.ms as i64 }
    }
    fn advance(&mut self, ms: u64) -> Now {
        self.ms += ms;
        self.now()
    }
}

fn rules() -> Rules {
    Rules { ack_timeout: Duration::from_millis(1000), max_attempts: 3, resume_settle: Duration::from_millis(300) }
}

fn machine() -> OutboxState {
    let dev = DeviceInfo {
        id: LIGHT.into(),
        kind: DeviceKind::Light,
        dialect: Dialect::Zigbee2mqtt { friendly_name: "Hallway".into(), base_topic: "zigbee2mqtt".into() },
    };
    OutboxState::new(rules(), vec![dev], Default::default())
}

fn row(id: RowId, action: Action) -> RowSpec {
    let payload = match &action {
        Action::TurnOn => br#"{"state":"ON"}"#.to_vec(),
        Action::TurnOff => br#"{"state":"OFF"}"#.to_vec(),
        Action::Brightness { percent } => format!(r#"{{"brightness":{}}}"#, *percent as u32 * 254 / 100).into_bytes(),
        _ => b"{}".to_vec(),
    };
    RowSpec {
        id,
        device_id: LIGHT.into(),
        topic: SET_TOPIC.into(),
        payload,
        retain: false,
        action,
        attempts: 0,
        expires_at: Some(1_000_000 + 60_000),
    }
}

fn echo(state: &str) -> Input {
    Input::Message { topic: STATE_TOPIC.into(), payload: format!(r#"{{"state":"{state}"}}"#).into_bytes() }
}

fn published(effects: &[Effect]) -> Vec<RowId> {
    effects.iter().filter_map(|e| if let Effect::Publish { id, .. } = e { Some(*id) } else { None }).collect()
}

fn statuses(effects: &[Effect]) -> Vec<(RowId, CommandStatus)> {
    effects
        .iter()
        .filter_map(|e| if let Effect::Status { id, status, .. } = e { Some((*id, *status)) } else { None })
        .collect()
}

#[test]
fn happy_path_publish_puback_echo() {
    let c = Clock::new();
    let mut m = machine();
    assert!(m.handle(Input::LinkUp, c.now()).is_empty());
    let e = m.handle(Input::Enqueued(vec![row(1, Action::TurnOn)]), c.now());
    assert_eq!(
        e,
        vec![Effect::Publish { id: 1, topic: SET_TOPIC.into(), payload: br#"{"state":"ON"}"#.to_vec(), retain: false }]
    );
    let e = m.handle(Input::PubAck(1), c.now());
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Sent)]);
    let e = m.handle(echo("ON"), c.now());
    assert!(matches!(&e[0], Effect::State { device_id, old: None, new } if device_id == LIGHT && new.on == Some(true)));
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Acked)]);
    assert_eq!(m.open_rows(), 0);
}

#[test]
fn nothing_is_published_while_the_link_is_down() {
    let mut c = Clock::new();
    let mut m = machine();
    let e = m.handle(Input::Enqueued(vec![row(1, Action::TurnOn)]), c.now());
    assert!(e.is_empty());
    let e = m.handle(Input::Tick, c.advance(5000));
    assert!(e.is_empty(), "no timeout for an unpublished row: {e:?}");
    let e = m.handle(Input::LinkUp, c.advance(1));
    assert_eq!(published(&e), vec![1], "a new row is not held by the settle");
}

#[test]
fn lost_puback_is_republished_after_reconnect() {
    let mut c = Clock::new();
    let mut m = machine();
    m.handle(Input::LinkUp, c.now());
    assert_eq!(published(&m.handle(Input::Enqueued(vec![row(1, Action::TurnOn)]), c.now())), vec![1]);
    // Broker goes away before the PUBACK.
    assert!(m.handle(Input::LinkDown { unacked: vec![1] }, c.advance(10)).is_empty());
    // Back: the resend waits for the settle, then goes out once.
    assert!(m.handle(Input::LinkUp, c.advance(10)).is_empty());
    assert!(published(&m.handle(Input::Tick, c.advance(100))).is_empty());
    assert_eq!(published(&m.handle(Input::Tick, c.advance(250))), vec![1]);
    let e = m.handle(echo("ON"), c.advance(5));
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Sent), (1, CommandStatus::Acked)], "the echo beat the PUBACK");
    assert!(m.handle(Input::PubAck(1), c.advance(1)).is_empty(), "a late PUBACK changes nothing");
}

#[test]
fn echo_mismatch_retries_then_fails() {
    let mut c = Clock::new();
    let mut m = machine();
    m.handle(Input::LinkUp, c.now());
    m.handle(Input::Enqueued(vec![row(1, Action::TurnOn)]), c.now());
    m.handle(Input::PubAck(1), c.advance(5));
    // The device reports OFF: not our echo.
    let e = m.handle(echo("OFF"), c.advance(5));
    assert!(statuses(&e).is_empty());
    // No echo within the timeout: republished, attempts 2 and 3.
    assert_eq!(published(&m.handle(Input::Tick, c.advance(1001))), vec![1]);
    m.handle(Input::PubAck(1), c.advance(1));
    assert_eq!(published(&m.handle(Input::Tick, c.advance(1001))), vec![1]);
    m.handle(Input::PubAck(1), c.advance(1));
    let e = m.handle(Input::Tick, c.advance(1001));
    assert!(published(&e).is_empty());
    match &e[..] {
        [Effect::Status { id: 1, status: CommandStatus::Failed, attempts: 3, reason: Some(r), .. }] => {
            assert!(r.contains("no matching state echo") && r.contains("ACL denies the topic"), "{r}")
        }
        other => panic!("expected failed after 3 attempts, got {other:?}"),
    }
}

#[test]
fn a_row_never_published_expires() {
    let mut c = Clock::new();
    let mut m = machine();
    m.handle(Input::Enqueued(vec![row(1, Action::TurnOn)]), c.now());
    assert!(m.handle(Input::Tick, c.advance(59_000)).is_empty());
    let e = m.handle(Input::Tick, c.advance(2_000));
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Expired)]);
}

fn light_machine(cached: Option<bool>) -> OutboxState {
    let dev = DeviceInfo {
        id: LIGHT.into(),
        kind: DeviceKind::Light,
        dialect: Dialect::Zigbee2mqtt { friendly_name: "Hallway".into(), base_topic: "zigbee2mqtt".into() },
    };
    let known = cached
        .map(|on| [(LIGHT.to_string(), firmware_bridge::DeviceState { on: Some(on), ..Default::default() })].into())
        .unwrap_or_default();
    OutboxState::new(rules(), vec![dev], known)
}

/// Open rows on/off/on/off/on/off/on + a brightness, as a stop leaves them.
fn open_rows_at_restart() -> Vec<RowSpec> {
    (1..=7)
        .map(|i| {
            let mut r = row(i, if i % 2 == 1 { Action::TurnOn } else { Action::TurnOff });
            r.attempts = 1;
            r
        })
        .chain([row(8, Action::Brightness { percent: 40 })])
        .collect()
}

/// The restart defect: only the newest command per device attribute is
/// sent; the older ones are superseded; the cached state ("off", from the
/// database) is never taken as an acknowledgement.
#[test]
fn resume_sends_only_the_newest_command_per_attribute() {
    let mut c = Clock::new();
    let mut m = light_machine(Some(false));
    let e = m.handle(Input::Resumed(open_rows_at_restart()), c.now());
    let sup: Vec<RowId> =
        statuses(&e).into_iter().filter(|(_, s)| *s == CommandStatus::Superseded).map(|(id, _)| id).collect();
    assert_eq!(sup, vec![1, 2, 3, 4, 5, 6], "older power commands are superseded at once");
    assert!(published(&e).is_empty(), "nothing before the link is up");
    assert!(m.handle(Input::LinkUp, c.advance(1)).is_empty(), "resends wait for the settle");
    let e = m.handle(Input::Tick, c.advance(300));
    assert_eq!(published(&e), vec![7, 8], "the newest power command and the brightness, in id order");
    let e = m.handle(echo("ON"), c.advance(10));
    assert_eq!(statuses(&e), vec![(7, CommandStatus::Sent), (7, CommandStatus::Acked)]);
}

/// A resumed command the device already shows (its retained state after the
/// reconnect) is acked without being sent again; one it does not show is sent.
#[test]
fn resume_skips_what_the_device_reports_after_reconnect() {
    let mut c = Clock::new();
    let mut m = light_machine(None);
    let mut rows = open_rows_at_restart();
    rows.truncate(6); // newest power command: 6, "off"
    m.handle(Input::Resumed(rows), c.now());
    m.handle(Input::LinkUp, c.advance(1));
    let e = m.handle(echo("OFF"), c.advance(20));
    assert!(statuses(&e).is_empty(), "a state during the settle acks nothing by itself: {e:?}");
    let e = m.handle(Input::Tick, c.advance(300));
    assert_eq!(statuses(&e), vec![(6, CommandStatus::Acked)]);
    assert!(published(&e).is_empty());

    let mut m = light_machine(None);
    let mut rows = open_rows_at_restart();
    rows.truncate(6);
    m.handle(Input::Resumed(rows), c.now());
    m.handle(Input::LinkUp, c.advance(1));
    m.handle(echo("ON"), c.advance(20));
    let e = m.handle(Input::Tick, c.advance(300));
    assert_eq!(published(&e), vec![6], "the device shows ON: the newest (off) is sent");
}

/// Commands queued during a broker outage are all delivered, in order.
#[test]
fn commands_queued_during_an_outage_all_go_out_in_order() {
    let c = Clock::new();
    let mut m = machine();
    m.handle(Input::Enqueued(vec![row(1, Action::TurnOn), row(2, Action::TurnOff)]), c.now());
    m.handle(Input::Enqueued(vec![row(3, Action::TurnOn)]), c.now());
    let e = m.handle(Input::LinkUp, c.now());
    assert_eq!(published(&e), vec![1, 2, 3]);
}

/// An older row whose echo never came is not re-sent after a newer command
/// to the same device went out (that would reorder the device's commands);
/// and when the newer one is echoed, the older one it overwrote is superseded.
#[test]
fn no_resend_after_a_newer_command_and_no_ack_without_own_echo() {
    let mut c = Clock::new();
    let mut m = machine();
    m.handle(Input::LinkUp, c.now());
    m.handle(Input::Enqueued(vec![row(1, Action::Brightness { percent: 40 })]), c.now());
    m.handle(Input::PubAck(1), c.advance(1));
    m.handle(Input::Enqueued(vec![row(2, Action::TurnOff)]), c.advance(100));
    m.handle(Input::PubAck(2), c.advance(1));
    // Timeout of row 1 first: it would be resent after row 2, so it is superseded instead.
    let e = m.handle(Input::Tick, c.advance(950));
    assert!(published(&e).is_empty(), "{e:?}");
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Superseded)]);
    let e = m.handle(echo("OFF"), c.advance(5));
    assert_eq!(statuses(&e), vec![(2, CommandStatus::Acked)]);

    // Same attribute, both published; the newer one's echo supersedes the older.
    let mut m = machine();
    m.handle(Input::LinkUp, c.now());
    m.handle(Input::Enqueued(vec![row(11, Action::TurnOn)]), c.now());
    m.handle(Input::Enqueued(vec![row(12, Action::TurnOff)]), c.now());
    let e = m.handle(echo("OFF"), c.advance(5));
    assert_eq!(
        statuses(&e),
        vec![(11, CommandStatus::Superseded), (12, CommandStatus::Sent), (12, CommandStatus::Acked)]
    );
}

/// On a live link, fresh commands all go out in order (nothing waited).
#[test]
fn fresh_commands_on_a_live_link_are_all_published() {
    let c = Clock::new();
    let mut m = machine();
    m.handle(Input::LinkUp, c.now());
    let e = m.handle(
        Input::Enqueued(vec![row(1, Action::TurnOn), row(2, Action::TurnOff), row(3, Action::TurnOn)]),
        c.now(),
    );
    assert_eq!(published(&e), vec![1, 2, 3]);
}

#[test]
fn refused_publishes_wait_for_room_and_keep_their_order() {
    let c = Clock::new();
    let mut m = machine();
    m.handle(Input::LinkUp, c.now());
    let e =
        m.handle(Input::Enqueued(vec![row(1, Action::TurnOn), row(2, Action::Brightness { percent: 30 })]), c.now());
    assert_eq!(published(&e), vec![1, 2]);
    assert!(m.handle(Input::Refused(vec![2]), c.now()).is_empty());
    assert!(m.blocked());
    let e = m.handle(Input::Ready, c.now());
    assert_eq!(published(&e), vec![2]);
    let e = m.handle(Input::PubAck(2), c.now());
    match &e[..] {
        [Effect::Status { id: 2, status: CommandStatus::Sent, attempts: 1, .. }] => {}
        other => panic!("a refused publish is not an attempt: {other:?}"),
    }
}

#[test]
fn bad_state_payload_is_reported_not_applied() {
    let c = Clock::new();
    let mut m = machine();
    let e = m.handle(Input::Message { topic: STATE_TOPIC.into(), payload: b"{not json".to_vec() }, c.now());
    assert!(matches!(&e[..], [Effect::BadPayload { device_id, .. }] if device_id == LIGHT), "{e:?}");
    assert!(m.state(LIGHT).is_none());
}

#[test]
fn bad_topic_fails_the_row() {
    let c = Clock::new();
    let mut m = machine();
    m.handle(Input::LinkUp, c.now());
    m.handle(Input::Enqueued(vec![row(1, Action::TurnOn)]), c.now());
    let e = m.handle(Input::BadTopic(1), c.now());
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Failed)]);
}

/// A device without a state topic (an empty generic one) is acked on PUBACK.
#[test]
fn echoless_device_is_acked_on_puback() {
    let c = Clock::new();
    let dev = DeviceInfo {
        id: "switch.pump".into(),
        kind: DeviceKind::Switch,
        dialect: Dialect::GenericJson { command_topic: "pump/set".into(), state_topic: String::new() },
    };
    let mut m = OutboxState::new(rules(), vec![dev], Default::default());
    m.handle(Input::LinkUp, c.now());
    let mut r = row(1, Action::TurnOn);
    r.device_id = "switch.pump".into();
    r.topic = "pump/set".into();
    m.handle(Input::Enqueued(vec![r]), c.now());
    let e = m.handle(Input::PubAck(1), c.now());
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Sent), (1, CommandStatus::Acked)]);
}

/// An availability message carries no commanded state: it acks nothing, even
/// when the remembered state happens to satisfy the row.
#[test]
fn availability_is_not_an_echo() {
    let c = Clock::new();
    let mut m = light_machine(Some(true));
    m.handle(Input::LinkUp, c.now());
    m.handle(Input::Enqueued(vec![row(1, Action::TurnOn)]), c.now());
    let e = m.handle(
        Input::Message { topic: format!("{STATE_TOPIC}/availability"), payload: br#"{"state":"online"}"#.to_vec() },
        c.now(),
    );
    assert!(statuses(&e).is_empty(), "{e:?}");
    let e = m.handle(echo("ON"), c.now());
    assert_eq!(statuses(&e), vec![(1, CommandStatus::Sent), (1, CommandStatus::Acked)]);
}

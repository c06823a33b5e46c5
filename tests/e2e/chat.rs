//! `hubd chat` on the packaged SmolLM2 GGUF: a real reply streamed to the
//! terminal in fp32 and with int8 weights, and a clear error for a bad
//! `--quantize`.
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

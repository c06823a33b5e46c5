//! The broker's security, against a real mosquitto: a TLS listener with
//! certificates this test makes with `openssl` (a CA, a server certificate
//! for 127.0.0.1/localhost, a client certificate the listener requires), a
//! password file made with `mosquitto_passwd`, and an ACL that denies hubd
//! one device's command topic. hubd connects (TLS, client certificate,
//! username and password) and commands the allowed device; the command to
//! the denied one ends `failed` with a reason naming the ACL, never acked.
//! The test devices run on a second, plain listener of the same broker.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{Daemon, Devices, Mosquitto, config_text, free_port, http, json, runtime, wait_until};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (apt install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `ca.pem`, `server.pem`/`server.key` (SAN 127.0.0.1, localhost), `client.pem`/`client.key`.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=hubd test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName = IP:127.0.0.1, DNS:localhost\n").unwrap();
    for (name, cn) in [("server", "localhost"), ("client", "hubd")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let csr = format!("{name}.csr");
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            csr.as_str(),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
        ];
        let out = format!("{name}.pem");
        args.push(&out);
        if name == "server" {
            args.extend(["-extfile", "san.ext"]);
        }
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(dir, &refs);
    }
}

#[test]
fn tls_client_certificate_password_and_acl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certificates(d);
    let st = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(d.join("passwd"))
        .args(["hubd", "s3cret-pass"])
        .output();
    assert!(st.is_ok_and(|o| o.status.success()), "mosquitto_passwd");
    // hubd may command the kitchen light; the hall light's command topic is denied.
    std::fs::write(
        d.join("acl"),
        "user hubd\ntopic readwrite hubd/#\ntopic readwrite homeassistant/#\ntopic read zigbee2mqtt/#\n\
         topic read tasmota/#\ntopic write zigbee2mqtt/Kitchen Light/set\n",
    )
    .unwrap();
    let plain = free_port();
    let broker = Mosquitto::try_start_with(d, |port| {
        format!(
            "per_listener_settings true\npersistence false\nuser root\n\
             listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {p}/passwd\nacl_file {p}/acl\n\
             cafile {p}/ca.pem\ncertfile {p}/server.pem\nkeyfile {p}/server.key\nrequire_certificate true\n\
             listener {plain} 127.0.0.1\nallow_anonymous true\n",
            p = d.display()
        )
    })
    .expect("mosquitto with a TLS listener");
    let rt = runtime();
    assert!(hubd::testing::wait_tcp(plain, Duration::from_secs(5)));
    let devices = Devices::start(&rt, plain);

    let web = free_port();
    let text = config_text(broker.port, web, 400)
        .replace("host = \"127.0.0.1\"\n", &format!("url = \"mqtts://127.0.0.1:{}\"\n", broker.port))
        .replace(&format!("port = {}\n", broker.port), "")
        .replace("max_attempts = 5", "max_attempts = 2")
        .replace(
            "[store]",
            "username = \"hubd\"\npassword = \"s3cret-pass\"\nca_file = \"ca.pem\"\nclient_cert = \"client.pem\"\n\
             client_key = \"client.key\"\n\n[store]",
        );
    let cfg = d.join("hub.toml");
    std::fs::write(&cfg, text).unwrap();
    // Healthy means connected: TLS verified both ways and the password accepted.
    let daemon = Daemon::start(&cfg, web, None);

    let command = |device: &str| {
        let body = format!(r#"{{"device_id":"{device}","action":{{"action":"turn_on"}},"wait_ms":0}}"#);
        let (code, resp) = http(web, "POST", "/api/commands", Some(&body)).unwrap();
        assert_eq!(code, 202, "{resp}");
        json(&resp)["commands"][0]["id"].as_i64().unwrap()
    };
    let row = |id: i64| {
        let (_, list) = http(web, "GET", "/api/commands?limit=20", None).unwrap();
        json(&list).as_array().cloned().unwrap_or_default().into_iter().find(|c| c["id"] == id).unwrap_or_default()
    };
    let allowed = command("light.kitchen");
    let denied = command("light.hall");
    let done = |id: i64| ["acked", "failed", "expired"].contains(&row(id)["status"].as_str().unwrap_or(""));
    assert!(
        wait_until(Duration::from_secs(20), || done(allowed) && done(denied)),
        "commands did not finish: {} {}\nlog:\n{}",
        row(allowed),
        row(denied),
        daemon.log_text()
    );
    assert_eq!(row(allowed)["status"], "acked", "{}", row(allowed));
    assert!(devices.state("Kitchen Light").is_some_and(|s| s["state"] == "ON"));
    let r = row(denied);
    assert_eq!(r["status"], "failed", "{r}");
    let reason = r["error"].as_str().unwrap_or("");
    assert!(reason.contains("no matching state echo") && reason.contains("ACL"), "{reason}");
    assert_eq!(devices.state("Hall Light").map(|s| s["state"].clone()), Some("OFF".into()), "the broker dropped it");
}

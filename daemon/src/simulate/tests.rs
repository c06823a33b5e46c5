//! Simulator tests: each firmware's state machine on plain vectors, then
//! every dialect against a real broker through firmware-bridge.

mod unit {
    use crate::simulate::*;
    use hub_skills::registry::Device;

    fn dev(id: &str, kind: DeviceKind, dialect: Dialect, features: Features) -> VirtualDevice {
        VirtualDevice::new(&Device {
            id: id.into(),
            kind,
            name: id.into(),
            aliases: vec![],
            area: None,
            device_class: None,
            dialect: Some(dialect),
            features,
            origin: Default::default(),
        })
        .unwrap()
    }

    fn text(msgs: &[Msg], topic: &str) -> Option<String> {
        msgs.iter().rev().find(|m| m.topic == topic).map(|m| String::from_utf8_lossy(&m.payload).into_owned())
    }

    fn json_at(msgs: &[Msg], topic: &str) -> Value {
        serde_json::from_str(&text(msgs, topic).unwrap_or_default()).unwrap_or(Value::Null)
    }

    fn color() -> Features {
        Features { dimmable: true, color: true, color_temp: true, ..Features::default() }
    }

    #[test]
    fn z2m_light() {
        let mut d = dev(
            "light.k",
            DeviceKind::Light,
            Dialect::Zigbee2mqtt { friendly_name: "k".into(), base_topic: "zigbee2mqtt".into() },
            color(),
        );
        let birth = d.birth();
        assert_eq!(text(&birth, "zigbee2mqtt/k/availability").as_deref(), Some(r#"{"state":"online"}"#));
        assert!(birth.iter().any(|m| m.topic == "zigbee2mqtt/bridge/state" && m.retain));
        assert_eq!(d.handle("zigbee2mqtt/other/set", br#"{"state":"ON"}"#), None);
        let out = d.handle("zigbee2mqtt/k/set", br#"{"state":"ON","brightness":127}"#).unwrap();
        let s = json_at(&out, "zigbee2mqtt/k");
        assert_eq!((s["state"].as_str(), s["brightness"].as_u64()), (Some("ON"), Some(127)));
        assert!(!out.iter().find(|m| m.topic == "zigbee2mqtt/k").unwrap().retain);
        let out = d.handle("zigbee2mqtt/k/set", br#"{"color":{"r":255,"g":0,"b":0}}"#).unwrap();
        let s = json_at(&out, "zigbee2mqtt/k");
        assert_eq!(s["color_mode"], "xy");
        assert!((s["color"]["x"].as_f64().unwrap() - 0.7006).abs() < 0.001, "{s}");
        // Plain single-attribute form.
        let out = d.handle("zigbee2mqtt/k/set/state", b"OFF").unwrap();
        assert_eq!(json_at(&out, "zigbee2mqtt/k")["state"], "OFF");
        // Garbage: received, not applied, nothing published but the receipts.
        let out = d.handle("zigbee2mqtt/k/set", b"{not json").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(json_at(&out, "hubd/sim/light.k/receipts"), json!({"received": 4, "applied": 3}));
        // /get is a query: not counted.
        d.handle("zigbee2mqtt/k/get", b"{\"state\":\"\"}").unwrap();
        assert_eq!((d.received, d.applied), (4, 3));
    }

    #[test]
    fn tasmota_relays_and_light() {
        let t = |relay| Dialect::Tasmota { topic: "plug".into(), relay };
        let mut sw = dev("switch.p", DeviceKind::Switch, t(None), Features::default());
        let out = sw.handle("cmnd/plug/POWER", b"ON").unwrap();
        assert_eq!(text(&out, "stat/plug/RESULT").as_deref(), Some(r#"{"POWER":"ON"}"#));
        assert_eq!(text(&out, "stat/plug/POWER").as_deref(), Some("ON"));
        let out = sw.handle("cmnd/plug/POWER", b"TOGGLE").unwrap();
        assert_eq!(text(&out, "stat/plug/POWER").as_deref(), Some("OFF"));
        // Empty payload is a query.
        sw.handle("cmnd/plug/POWER", b"").unwrap();
        assert_eq!((sw.received, sw.applied), (2, 2));
        // A colour on a relay: not this device's command.
        assert_eq!(sw.handle("cmnd/plug/Color", b"#FF0000"), None);
        assert!(tasmota_unknown("tasmota:plug", "cmnd/plug/Color").is_some());
        // Second relay.
        let mut r2 = dev("switch.p2", DeviceKind::Switch, t(Some(2)), Features::default());
        assert_eq!(r2.handle("cmnd/plug/POWER1", b"ON"), None);
        let out = r2.handle("cmnd/plug/POWER2", b"ON").unwrap();
        assert_eq!(text(&out, "stat/plug/RESULT").as_deref(), Some(r#"{"POWER2":"ON"}"#));
        // Light channels.
        let mut l = dev("light.b", DeviceKind::Light, t(None), color());
        let out = l.handle("cmnd/plug/Dimmer", b"40").unwrap();
        let r = json_at(&out, "stat/plug/RESULT");
        assert_eq!((r["POWER"].as_str(), r["Dimmer"].as_u64()), (Some("ON"), Some(40)));
        let out = l.handle("cmnd/plug/Color", b"#FF8000").unwrap();
        assert_eq!(json_at(&out, "stat/plug/RESULT")["Color"], "FF8000");
        let out = l.handle("cmnd/plug/CT", b"600").unwrap();
        assert_eq!(json_at(&out, "stat/plug/RESULT")["Command"], "Error");
        assert_eq!((l.received, l.applied), (3, 2));
    }

    #[test]
    fn esphome_and_shelly_and_generic() {
        let mut lock = dev(
            "lock.f",
            DeviceKind::Lock,
            Dialect::Esphome { node: "hall".into(), object_id: "front".into() },
            Features::default(),
        );
        let out = lock.handle("hall/lock/front/command", b"UNLOCK").unwrap();
        assert_eq!(text(&out, "hall/lock/front/state").as_deref(), Some("UNLOCKED"));
        assert!(out.iter().find(|m| m.topic == "hall/lock/front/state").unwrap().retain);
        let mut th = dev(
            "climate.t",
            DeviceKind::Climate,
            Dialect::Esphome { node: "hall".into(), object_id: "hp".into() },
            Features::default(),
        );
        let out = th.handle("hall/climate/hp/target_temperature/command", b"21.5").unwrap();
        assert_eq!(text(&out, "hall/climate/hp/target_temperature/state").as_deref(), Some("21.5"));
        let mut lamp = dev(
            "light.l",
            DeviceKind::Light,
            Dialect::Esphome { node: "lr".into(), object_id: "lamp".into() },
            color(),
        );
        let out = lamp.handle("lr/light/lamp/command", br#"{"state":"ON","color":{"r":0,"g":0,"b":255}}"#).unwrap();
        let s = json_at(&out, "lr/light/lamp/state");
        assert_eq!((s["color_mode"].as_str(), s["color"]["b"].as_u64()), (Some("rgb"), Some(255)));

        let mut roller = dev(
            "cover.r",
            DeviceKind::Cover,
            Dialect::ShellyGen1 { device_id: "s25".into(), relay: 0 },
            Features { position: true, ..Default::default() },
        );
        let out = roller.handle("shellies/s25/roller/0/command/pos", b"60").unwrap();
        assert_eq!(text(&out, "shellies/s25/roller/0/pos").as_deref(), Some("60"));
        let mut relay = dev(
            "switch.s",
            DeviceKind::Switch,
            Dialect::ShellyGen1 { device_id: "s1".into(), relay: 0 },
            Features::default(),
        );
        let out = relay.handle("shellies/s1/relay/0/command", b"on").unwrap();
        assert_eq!(text(&out, "shellies/s1/relay/0").as_deref(), Some("on"));
        assert_eq!(relay.handle("shellies/s1/relay/1/command", b"on"), None);
        assert_eq!(text(&relay.birth(), "shellies/s1/online").as_deref(), Some("true"));

        let mut g = dev(
            "light.g",
            DeviceKind::Light,
            Dialect::GenericJson { command_topic: "diy/set".into(), state_topic: "diy".into() },
            color(),
        );
        let out = g.handle("diy/set", br#"{"state":"ON","brightness":30}"#).unwrap();
        assert_eq!(json_at(&out, "diy")["brightness"], 30);
    }
}

/// Against a real broker: Debian's mosquitto on a free loopback port.
mod broker {
    use crate::simulate::*;
    use firmware_bridge::{Action, DeviceCommand, DeviceState, Rgb, encode, parse_state};
    use hub_skills::registry::Device;

    /// The shared launcher, on a free loopback port.
    fn mosquitto(dir: &std::path::Path) -> (crate::testing::Mosquitto, u16) {
        let m = crate::testing::Mosquitto::start(dir);
        let port = m.port;
        (m, port)
    }

    fn device(id: &str, kind: DeviceKind, dialect: Dialect, features: Features) -> Device {
        Device {
            id: id.into(),
            kind,
            name: id.into(),
            aliases: vec![],
            area: None,
            device_class: None,
            dialect: Some(dialect),
            features,
            origin: Default::default(),
        }
    }

    /// Publish `cmd`'s encoding, fold every state message the simulator
    /// answers with through the bridge's parser, until the state satisfies
    /// the command; then check the receipts say it was applied once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bridge_commands_reach_simulated_firmware() {
        let dir = tempfile::tempdir().unwrap();
        let (_broker, port) = mosquitto(dir.path());
        let color = Features { dimmable: true, color: true, color_temp: true, ..Features::default() };
        let devices = vec![
            device(
                "light.z",
                DeviceKind::Light,
                Dialect::Zigbee2mqtt { friendly_name: "z".into(), base_topic: "zigbee2mqtt".into() },
                color.clone(),
            ),
            device(
                "light.t",
                DeviceKind::Light,
                Dialect::Tasmota { topic: "tlight".into(), relay: None },
                color.clone(),
            ),
            device(
                "switch.t2",
                DeviceKind::Switch,
                Dialect::Tasmota { topic: "tplug".into(), relay: Some(2) },
                Features::default(),
            ),
            device(
                "cover.e",
                DeviceKind::Cover,
                Dialect::Esphome { node: "node1".into(), object_id: "blind".into() },
                Features { position: true, ..Default::default() },
            ),
            device(
                "lock.e",
                DeviceKind::Lock,
                Dialect::Esphome { node: "node1".into(), object_id: "door".into() },
                Features::default(),
            ),
            device(
                "climate.e",
                DeviceKind::Climate,
                Dialect::Esphome { node: "node1".into(), object_id: "hp".into() },
                Features::default(),
            ),
            device(
                "cover.s",
                DeviceKind::Cover,
                Dialect::ShellyGen1 { device_id: "s25".into(), relay: 0 },
                Features { position: true, ..Default::default() },
            ),
            device(
                "light.s",
                DeviceKind::Light,
                Dialect::ShellyGen1 { device_id: "rgbw".into(), relay: 0 },
                color.clone(),
            ),
            device(
                "light.g",
                DeviceKind::Light,
                Dialect::GenericJson { command_topic: "diy/g/set".into(), state_topic: "diy/g".into() },
                color.clone(),
            ),
            device(
                "vacuum.v",
                DeviceKind::Vacuum,
                Dialect::Valetudo { identifier: "rover".into(), prefix: "valetudo".into() },
                Features::default(),
            ),
            device(
                "valve.e",
                DeviceKind::Valve,
                Dialect::Esphome { node: "node1".into(), object_id: "water".into() },
                Features { position: true, ..Default::default() },
            ),
            device(
                "media_player.g",
                DeviceKind::MediaPlayer,
                Dialect::GenericJson { command_topic: "diy/tv/set".into(), state_topic: "diy/tv".into() },
                Features::default(),
            ),
        ];
        let registry = Registry::new(vec![], vec![], devices.clone()).unwrap();
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let log = SimLog::default();
        let options = SimOptions { log: Some(log.clone()), ..SimOptions::default() };
        let sim = tokio::spawn(run_with(registry, "127.0.0.1".into(), port, options, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }));

        let mut opts = MqttOptions::new("sim-test", "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(10));
        let (client, mut ev) = AsyncClient::new(opts, 256);
        client.subscribe("#", QoS::AtLeastOnce).await.unwrap();

        let cases: Vec<(&str, Action)> = vec![
            ("light.z", Action::Brightness { percent: 40 }),
            ("light.z", Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } }),
            ("light.t", Action::Color { rgb: Rgb { r: 0, g: 0, b: 255 } }),
            ("light.t", Action::ColorTemp { kelvin: 2700 }),
            ("switch.t2", Action::TurnOn),
            ("cover.e", Action::Position { percent: 30 }),
            ("lock.e", Action::Unlock),
            ("climate.e", Action::TargetTemperature { celsius: 22.5 }),
            ("cover.s", Action::Open),
            ("light.s", Action::Color { rgb: Rgb { r: 0, g: 255, b: 0 } }),
            ("light.g", Action::Brightness { percent: 70 }),
            ("vacuum.v", Action::CleanSegments { segments: vec!["20".into(), "18".into()] }),
            ("valve.e", Action::Position { percent: 30 }),
            ("media_player.g", Action::Volume { percent: 40 }),
        ];
        let mut states: BTreeMap<String, DeviceState> = BTreeMap::new();
        let mut receipts: BTreeMap<String, Value> = BTreeMap::new();
        // Wait for every device's birth (receipts are published after its subscriptions).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let pump = |states: &mut BTreeMap<String, DeviceState>,
                    receipts: &mut BTreeMap<String, Value>,
                    topic: &str,
                    payload: &[u8]| {
            if let Some(id) = topic.strip_prefix("hubd/sim/").and_then(|t| t.strip_suffix("/receipts")) {
                receipts.insert(id.to_string(), serde_json::from_slice(payload).unwrap());
            }
            for d in &devices {
                let dialect = d.dialect.as_ref().unwrap();
                if firmware_bridge::state_topics(dialect, d.kind).iter().any(|t| t == topic)
                    && let Ok(Some(p)) = parse_state(dialect, d.kind, topic, payload)
                {
                    states.entry(d.id.clone()).or_default().apply(&p);
                }
            }
        };
        while devices.iter().any(|d| !receipts.contains_key(&d.id)) {
            let e = tokio::time::timeout_at(deadline, ev.poll()).await.expect("births in time").unwrap();
            if let Event::Incoming(Packet::Publish(p)) = e {
                pump(&mut states, &mut receipts, &p.topic, &p.payload);
            }
        }
        for (id, action) in cases {
            let d = devices.iter().find(|d| d.id == id).unwrap();
            let cmd = DeviceCommand {
                device_id: id.into(),
                kind: d.kind,
                dialect: d.dialect.clone().unwrap(),
                action: action.clone(),
                features: d.features.clone(),
            };
            let before = receipts.get(id).and_then(|r| r["applied"].as_u64()).unwrap_or(0);
            for o in encode(&cmd).unwrap() {
                client.publish(o.topic, QoS::AtLeastOnce, o.retain, o.payload).await.unwrap();
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let done = states.get(id).is_some_and(|s| s.satisfies(&action))
                    && receipts.get(id).and_then(|r| r["applied"].as_u64()) == Some(before + 1);
                if done {
                    break;
                }
                let Ok(e) = tokio::time::timeout_at(deadline, ev.poll()).await else {
                    panic!("{id} {action:?}: state {:?}, receipts {:?}", states.get(id), receipts.get(id))
                };
                let e = e.unwrap();
                if let Event::Incoming(Packet::Publish(p)) = e {
                    pump(&mut states, &mut receipts, &p.topic, &p.payload);
                }
            }
        }
        for d in devices.iter().filter(|d| !matches!(d.dialect, Some(Dialect::GenericJson { .. }))) {
            assert_eq!(states.get(&d.id).and_then(|s| s.available), Some(true), "{} availability", d.id);
        }
        // Each device applied exactly what it was sent, once.
        assert_eq!(receipts["light.z"], json!({"received": 2, "applied": 2}));
        assert_eq!(receipts["switch.t2"], json!({"received": 1, "applied": 1}));
        assert_eq!(receipts["cover.e"], json!({"received": 1, "applied": 1}));
        assert_eq!(receipts["vacuum.v"], json!({"received": 1, "applied": 1}));
        assert_eq!(log.last("valetudo/rover/StatusStateAttribute/status").as_deref(), Some(&b"cleaning"[..]));
        // The in-process log agrees: 14 commands (some are several messages).
        let total: u64 = receipts.values().filter_map(|r| r["received"].as_u64()).sum();
        assert_eq!(log.received(), total);
        assert_eq!(log.applied(), total);
        assert_eq!(log.receipts().values().map(|n| u64::from(*n)).sum::<u64>(), total);
        let z = log.last_json("zigbee2mqtt/z").expect("z2m state logged");
        assert_eq!(z["state"], "ON", "{z:?}");
        let _ = stop_tx.send(true);
        tokio::time::timeout(Duration::from_secs(5), sim).await.unwrap().unwrap().unwrap();
    }
}

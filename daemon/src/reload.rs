//! `hubd reload` (and SIGHUP): re-read the configuration file and apply its
//! home and its rules in place. A file with errors is refused with
//! `check-config`'s messages and everything running stays as it was.
//!
//! What changes in place: the device registry (floors, areas, devices) seen
//! by the API, the NLU (its name, area and floor lists), the outbox (state
//! topics and the devices they belong to) and the automation rules (running
//! runs are cancelled, as Home Assistant does). What needs a restart, and is
//! reported as such: sections other than the home and the rules (MQTT, web,
//! model, audio, store, camera).
//!
//! Devices imported by MQTT discovery (`crate::discovery::import`) are
//! merged into every registry built here, behind the config's own devices
//! ([`Reloader::apply_imports`] swaps the registry when they change).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use hub_skills::Registry;
use hub_skills::import::{Imported, merge};
use serde::Serialize;

use crate::automation::{AutomationError, Automations};
use crate::config::Config;
use crate::pipeline::{Nlu, Pipeline};

/// The registry in use; replaced as a whole on reload.
#[derive(Clone, Debug, Default)]
pub struct SharedRegistry(Arc<RwLock<Arc<Registry>>>);

impl SharedRegistry {
    pub fn new(reg: Registry) -> SharedRegistry {
        SharedRegistry(Arc::new(RwLock::new(Arc::new(reg))))
    }

    /// A snapshot of the registry in use.
    pub fn get(&self) -> Arc<Registry> {
        self.0.read().map(|r| r.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    fn set(&self, reg: Arc<Registry>) {
        match self.0.write() {
            Ok(mut r) => *r = reg,
            Err(p) => *p.into_inner() = reg,
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub rules: usize,
    /// Devices, areas or floors changed (and were applied).
    pub registry_changed: bool,
    /// Sections that changed but take effect at the next restart.
    pub restart_needed: Vec<&'static str>,
}

/// Everything a reload touches.
#[derive(Clone)]
pub struct Reloader {
    pub config_file: Option<PathBuf>,
    pub running: Arc<Config>,
    pub registry: SharedRegistry,
    pub pipeline: Pipeline,
    pub automations: Automations,
    pub templates: bool,
    /// Devices imported by MQTT discovery, and the config they were last
    /// merged with; the lock also orders reloads and imports.
    pub imports: Imports,
}

/// The imported devices (see [`Reloader::apply_imports`]).
#[derive(Clone, Default)]
pub struct Imports(Arc<tokio::sync::Mutex<ImportState>>);

#[derive(Default)]
struct ImportState {
    devices: Vec<Imported>,
    /// The config applied last (a reload's), else the running one.
    config: Option<Arc<Config>>,
}

impl Reloader {
    /// Re-read the file and apply it; see the module docs.
    pub async fn reload(&self) -> Result<ReloadReport, AutomationError> {
        let path =
            self.config_file.clone().ok_or_else(|| AutomationError::Rejected("no config file to re-read".into()))?;
        let reject = |e: crate::config::ConfigError| AutomationError::Rejected(e.to_string());
        let cfg = Config::load(&path).map_err(reject)?;
        let mut imports = self.imports.0.lock().await;
        let reg = merge(&cfg.registry().map_err(reject)?, &imports.devices)
            .map_err(|e| AutomationError::Rejected(e.to_string()))?;
        let engine = cfg.compile_rules_against(&reg).map_err(reject)?;
        let rules = engine.rules().len();
        let nlu_changed = imports.config.as_ref().unwrap_or(&self.running).nlu != cfg.nlu;
        let registry_changed = self.apply(reg, &cfg, nlu_changed).await?;
        self.automations.replace(engine).await?;
        imports.config = Some(Arc::new(cfg.clone()));
        drop(imports);
        let r = &self.running;
        let changed = [
            ("mqtt", r.mqtt != cfg.mqtt),
            ("web", r.web != cfg.web),
            ("model", r.model != cfg.model),
            ("audio", r.audio != cfg.audio),
            ("store", r.store != cfg.store),
            ("camera", r.camera != cfg.camera),
            ("home.timezone", r.home.timezone != cfg.home.timezone),
        ];
        let restart_needed: Vec<&'static str> = changed.iter().filter(|(_, c)| *c).map(|(k, _)| *k).collect();
        if !restart_needed.is_empty() {
            tracing::warn!(sections = ?restart_needed, "these changes take effect at the next restart");
        }
        Ok(ReloadReport { rules, registry_changed, restart_needed })
    }

    /// Swap in `reg` where it differs from the registry in use (the NLU with
    /// it, or when `nlu_changed`); whether the registry changed.
    async fn apply(&self, reg: Registry, cfg: &Config, nlu_changed: bool) -> Result<bool, AutomationError> {
        let changed = *self.registry.get() != reg;
        let reg = Arc::new(reg);
        if changed || nlu_changed {
            self.pipeline.set_nlu(Nlu::for_options(cfg, reg.clone(), self.templates));
        }
        if changed {
            self.pipeline.outbox().set_registry(&reg).await.map_err(|e| AutomationError::Rejected(e.to_string()))?;
            self.registry.set(reg);
        }
        Ok(changed)
    }

    /// Replace the imported devices and rebuild the registry: the config's
    /// devices, then the imported ones (the config wins an id clash).
    pub async fn apply_imports(&self, devices: Vec<Imported>) -> Result<(), AutomationError> {
        let mut imports = self.imports.0.lock().await;
        let cfg = imports.config.clone().unwrap_or_else(|| self.running.clone());
        let base = cfg.registry().map_err(|e| AutomationError::Rejected(e.to_string()))?;
        let reg = merge(&base, &devices).map_err(|e| AutomationError::Rejected(e.to_string()))?;
        self.apply(reg, &cfg, false).await?;
        imports.devices = devices;
        Ok(())
    }
}

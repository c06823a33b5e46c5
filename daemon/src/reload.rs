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

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use hub_skills::Registry;
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
}

impl Reloader {
    /// Re-read the file and apply it; see the module docs.
    pub async fn reload(&self) -> Result<ReloadReport, AutomationError> {
        let path =
            self.config_file.clone().ok_or_else(|| AutomationError::Rejected("no config file to re-read".into()))?;
        let reject = |e: crate::config::ConfigError| AutomationError::Rejected(e.to_string());
        let cfg = Config::load(&path).map_err(reject)?;
        let reg = cfg.registry().map_err(reject)?;
        let engine = cfg.compile_rules_against(&reg).map_err(reject)?;
        let rules = engine.rules().len();
        let old = self.registry.get();
        let registry_changed = *old != reg;
        let reg = Arc::new(reg);
        if registry_changed || self.running.nlu != cfg.nlu {
            self.pipeline.set_nlu(Nlu::for_options(&cfg, reg.clone(), self.templates));
        }
        if registry_changed {
            self.pipeline.outbox().set_registry(&reg).await.map_err(|e| AutomationError::Rejected(e.to_string()))?;
            self.registry.set(reg);
        }
        self.automations.replace(engine).await?;
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
}

//! `[[automation]]` rules: read from the main file and the files
//! `[automations] include` names, parsed by the automation engine's schema
//! and compiled against the registry and the cameras, every problem mapped
//! back to `file:line:col`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_skills::automation::{self, Engine, Home, RuleError};
use toml::Spanned;
use toml::de::DeValue;

use super::span::{Seg, Source, entries};
use super::{AutomationConfig, Config, ConfigError, Diagnostic, ScriptEntity};

/// Convert raw `[[automation]]` tables of file `file` into rules.
pub(super) fn read_rules(
    src: &Source,
    value: &Spanned<DeValue<'_>>,
    file: usize,
    diags: &mut Vec<Diagnostic>,
) -> Vec<AutomationConfig> {
    let raw: Vec<toml::Table> = entries(src, "automation", value, diags);
    let mut out = Vec::new();
    let doc = src.doc();
    for (index, t) in raw.into_iter().enumerate() {
        let json = match serde_json::to_value(&t) {
            Ok(j) => j,
            Err(e) => {
                diags.push(doc.at(&[Seg::Key("automation"), Seg::Idx(index)], format!("cannot read rule: {e}"), None));
                continue;
            }
        };
        match automation::parse_rule(&json) {
            Ok(spec) => out.push(AutomationConfig { spec, file, index, section: "automation" }),
            Err(errs) => diags.extend(errs.iter().map(|e| rule_diag_in(src, "automation", index, e))),
        }
    }
    out
}

/// Convert raw `[[script]]` tables into rules without triggers (run on
/// request) and the entities the registry names them by.
pub(super) fn read_scripts(
    src: &Source,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<AutomationConfig>, Vec<ScriptEntity>) {
    let raw: Vec<toml::Table> = entries(src, "script", value, diags);
    let (mut rules, mut entities) = (Vec::new(), Vec::new());
    for (index, t) in raw.into_iter().enumerate() {
        let at = [Seg::Key("script"), Seg::Idx(index)];
        let json = match serde_json::to_value(&t) {
            Ok(j) => j,
            Err(e) => {
                diags.push(src.doc().at(&at, format!("cannot read script: {e}"), None));
                continue;
            }
        };
        let text = |k: &str| json.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        let Some(name) = text("name").filter(|n| !n.trim().is_empty()) else {
            diags.push(src.doc().at(&at, "[[script]] needs a `name` (what people call it)".into(), None));
            continue;
        };
        let aliases = match json.get("aliases") {
            None => Vec::new(),
            Some(v) => match serde_json::from_value::<Vec<String>>(v.clone()) {
                Ok(a) => a,
                Err(_) => {
                    let p = [Seg::Key("script"), Seg::Idx(index), Seg::Key("aliases")];
                    diags.push(src.doc().at(&p, "`aliases` is a list of names".into(), None));
                    continue;
                }
            },
        };
        match automation::parse_script(&json) {
            Ok(spec) => {
                let (id, area) = (spec.id.clone(), text("area"));
                rules.push(AutomationConfig { spec, file: 0, index, section: "script" });
                entities.push(ScriptEntity { id, name, aliases, area, index });
            }
            Err(errs) => diags.extend(errs.iter().map(|e| rule_diag_in(src, "script", index, e))),
        }
    }
    (rules, entities)
}

/// A rule error as a diagnostic at its place in `src`.
fn rule_diag_in(src: &Source, section: &'static str, index: usize, e: &RuleError) -> Diagnostic {
    let mut path = vec![Seg::Key(section), Seg::Idx(index)];
    for s in &e.path {
        path.push(match s {
            automation::Seg::Key(k) => Seg::Key(k.as_str()),
            automation::Seg::Idx(i) => Seg::Idx(*i),
        });
    }
    let id = if e.rule.is_empty() { format!("#{}", index + 1) } else { format!("`{}`", e.rule) };
    let at = automation::path_str(&e.path);
    let place = if at.is_empty() { String::new() } else { format!(" {at}") };
    src.doc().at(&path, format!("[[{section}]] {id}{place}: {}", e.message), None)
}

/// Largest automations file read (a rules file is a few KiB; `/dev/zero`
/// named by mistake must not hang the load).
pub const MAX_INCLUDE_BYTES: u64 = 1 << 20;

fn read_include(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_INCLUDE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INCLUDE_BYTES {
        return Err(std::io::Error::other(format!("larger than {} KiB", MAX_INCLUDE_BYTES / 1024)));
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Expand one include pattern (`*` allowed in the file name only), sorted.
fn expand(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let p = base.join(pattern);
    let name = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("`{pattern}` names no file"))?;
    if !name.contains('*') {
        return Ok(vec![p]);
    }
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    if dir.to_string_lossy().contains('*') {
        return Err(format!("`{pattern}`: `*` is only allowed in the file name"));
    }
    let parts: Vec<&str> = name.split('*').collect();
    let matches = |f: &str| {
        let (first, last) = (parts[0], parts[parts.len() - 1]);
        if !f.starts_with(first) || !f.ends_with(last) || f.len() < first.len() + last.len() {
            return false;
        }
        let mut rest = &f[first.len()..f.len() - last.len()];
        for mid in &parts[1..parts.len() - 1] {
            match rest.find(mid) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    };
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|f| f.is_file() && f.file_name().and_then(|n| n.to_str()).is_some_and(matches))
        .collect();
    out.sort();
    Ok(out)
}

impl Config {
    /// Read the rules of every `[automations] include` file (relative to
    /// `base`). Each file holds only `[[automation]]` entries.
    pub(super) fn read_includes(&mut self, main: &Source, base: &Path) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        for (i, pattern) in self.automation_files.include.clone().iter().enumerate() {
            let at = [Seg::Key("automations"), Seg::Key("include"), Seg::Idx(i)];
            let files = match expand(base, pattern) {
                Ok(f) => f,
                Err(e) => {
                    diags.push(main.doc().at(&at, e, Some("a path, `*` in the file name".into())));
                    continue;
                }
            };
            for path in files {
                let text = match read_include(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        let msg = format!("cannot read `{}`: {e}", path.display());
                        diags.push(main.doc().at(&at, msg, None));
                        continue;
                    }
                };
                let src = Arc::new(Source::new(&text, &path.display().to_string()));
                let file = self.includes.len() + 1;
                match src.parse() {
                    Err(e) => diags.extend(e.diagnostics()),
                    Ok(doc) => {
                        for (key, value) in doc.root.get_ref().iter() {
                            if key.get_ref().as_ref() == "automation" {
                                let rules = read_rules(&src, value, file, &mut diags);
                                self.automations.extend(rules);
                            } else {
                                let msg =
                                    format!("`{}`: an included file holds only [[automation]] entries", key.get_ref());
                                diags.push(src.diag(key.span(), msg, Some("`[[automation]]`".into())));
                            }
                        }
                    }
                }
                self.includes.push(src);
            }
        }
        diags
    }

    /// The home's position, when both coordinates are set.
    pub fn home_position(&self) -> Option<Home> {
        match (self.home.latitude, self.home.longitude) {
            (Some(latitude), Some(longitude)) => Some(Home { latitude, longitude }),
            _ => None,
        }
    }

    /// Camera ids with their zones, for checking camera triggers.
    pub fn camera_zones(&self) -> Vec<(String, Vec<String>)> {
        if !self.camera.enabled {
            return Vec::new();
        }
        self.camera.source.iter().map(|c| (c.id.clone(), c.zones.keys().cloned().collect())).collect()
    }

    /// Compile the rules into an engine (checked against the registry, the
    /// cameras and the home's position).
    pub fn automation_engine(&self) -> Result<Engine, ConfigError> {
        let reg = self.registry()?;
        self.compile_rules(&reg).map_err(ConfigError::Invalid)
    }

    /// Compile the rules against a given registry (the running one, on reload).
    pub fn compile_rules_against(&self, reg: &hub_skills::Registry) -> Result<Engine, ConfigError> {
        self.compile_rules(reg).map_err(|d| ConfigError::Invalid(super::validate::sorted(d)))
    }

    pub(super) fn compile_rules(&self, reg: &hub_skills::Registry) -> Result<Engine, Vec<Diagnostic>> {
        let specs = self.automations.iter().map(|a| a.spec.clone()).collect();
        let cams = self.camera_zones();
        Engine::new(specs, reg, self.home_position(), Some(&cams), &self.nlu.language)
            .map_err(|errs| errs.iter().map(|e| self.rule_diag(e)).collect())
    }

    fn rule_diag(&self, e: &RuleError) -> Diagnostic {
        let found = self.automations.iter().find(|a| a.spec.id == e.rule);
        let src =
            found.and_then(|a| if a.file == 0 { self.source.clone() } else { self.includes.get(a.file - 1).cloned() });
        match (found, src) {
            (Some(a), Some(src)) => rule_diag_in(&src, a.section, a.index, e),
            _ => Diagnostic {
                file: self.origin.clone(),
                line: 0,
                column: 0,
                message: format!("[[automation]]: {}", e.message),
                expected: None,
            },
        }
    }
}

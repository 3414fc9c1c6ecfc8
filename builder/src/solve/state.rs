//! A stage as built so far: its layers, config and history, the ARGs in
//! scope, its cache key (each step's chains the one before), and the time
//! of its newest layer (the history's time for the steps after it, so an
//! unchanged build makes the same image id).

use berth_dockerfile::instruction::Command;
use berth_engine::image::assemble::{NewHistory, NewLayer};
use berth_engine::image::ImageConfig;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) struct State {
    /// The base image's id (`None`: scratch).
    pub base: Option<String>,
    /// Every layer, the base's included, bottom first.
    pub diff_ids: Vec<String>,
    /// The layers this build made.
    pub layers: Vec<NewLayer>,
    pub history: Vec<NewHistory>,
    pub config: ImageConfig,
    pub key: String,
    /// ARGs in scope: name → value (`None`: declared, unset).
    pub args: BTreeMap<String, Option<String>>,
    pub shell: Vec<String>,
    /// CMD came from the base (an ENTRYPOINT resets it).
    pub inherited_cmd: bool,
    /// Unix nanos of the newest layer (or the base's creation).
    pub created: i64,
    /// The number of the step running on this state (for its events).
    pub number: usize,
}

impl State {
    pub fn scratch() -> Self {
        let mut st = State {
            base: None,
            diff_ids: vec![],
            layers: vec![],
            history: vec![],
            config: ImageConfig::default(),
            key: String::new(),
            args: BTreeMap::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
            inherited_cmd: false,
            created: 0,
            number: 0,
        };
        st.chain(&["scratch"]);
        st
    }

    /// A value as the stage's instructions see it: ENV over ARG.
    pub fn lookup(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        let env = self.config.env.iter().flatten().rev().find_map(|e| e.strip_prefix(&prefix));
        env.map(str::to_owned).or_else(|| self.args.get(name).cloned().flatten())
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        let env = self.config.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.split_once('=').map(|(n, _)| n) != Some(k));
        env.push(format!("{k}={v}"));
    }

    pub fn workdir(&self) -> String {
        self.config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into())
    }

    /// A path as the stage sees it: relative ones from its WORKDIR.
    pub fn absolute(&self, p: &str) -> String {
        if p.starts_with('/') {
            p.to_owned()
        } else {
            format!("{}/{p}", self.workdir().trim_end_matches('/'))
        }
    }

    /// The next step's key: this one's, with what the step is and sees.
    pub fn chain(&mut self, parts: &[&str]) {
        let mut h = Sha256::new();
        h.update(self.key.as_bytes());
        for p in parts {
            h.update(b"\0");
            h.update(p.as_bytes());
        }
        self.key = hex::encode(h.finalize());
    }

    pub fn history(&mut self, created_by: String, empty_layer: bool) {
        let created = Some(self.created);
        self.history.push(NewHistory { created, created_by, comment: String::new(), empty_layer });
    }

    /// A command as run: exec form as is, shell form through SHELL.
    pub fn argv(&self, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }

    /// A short name of the step's result, for progress.
    pub fn short(&self) -> String {
        self.key[..12].to_owned()
    }
}

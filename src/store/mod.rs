//! Persistence: the decisions of every group (state file) and the event history.
//!
//! The supervisor writes the state file before a decision takes effect or is acknowledged:
//! write a temporary file, fsync it, rename it over the old one, fsync the directory. A
//! crash at any moment leaves either the old or the new file, never a torn one.

pub mod events;
mod history;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::vocab::AdminState;

const FORMAT: u32 = 1;

/// The largest epoch a state file may hold: 2^53. Epochs grow by one per transition, so
/// even one a millisecond takes 285,000 years to get there; a larger one was written by
/// hand or by a bug. It would also lose precision in the JSON of the API and the hooks
/// (JavaScript and jq read numbers as doubles), and near u64::MAX the next transition
/// would have nowhere to go.
pub const MAX_EPOCH: u64 = 1 << 53;

/// Everything decided, by group name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: u32,
    pub groups: BTreeMap<String, SavedGroup>,
    /// With `[cluster]`: the etcd revision of the newest decision served, which is the SOA
    /// serial, so that a restart while etcd is down does not send it back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cluster_revision: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedGroup {
    pub epoch: u64,
    /// Active target names.
    pub active: Vec<String>,
    pub pin: Option<String>,
    pub targets: BTreeMap<String, SavedTarget>,
    /// A switch held for its gates: they run again after a restart (or it stays failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<SavedHeld>,
}

/// A held switch by target name (see `group::machine::Gate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedHeld {
    pub to: Vec<String>,
    pub cause: crate::vocab::Cause,
    /// Why its gates failed; absent while they run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedTarget {
    /// The priority the config gave when this was saved...
    pub config_priority: u32,
    /// ...and the one in effect (different after a commit). When the config's priority
    /// changes, the operator's edit wins over the old commit.
    pub priority: u32,
    pub admin: AdminState,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read state file {path}: {source}; fix its permissions or path, or start with --fresh-state to move it aside")]
    Read { path: PathBuf, source: io::Error },
    #[error("state file {path} is corrupt ({reason}); fix or remove it, or start with --fresh-state to move it aside")]
    Corrupt { path: PathBuf, reason: String },
    #[error("state file {path}: group {group:?} has epoch {epoch}, above the limit {MAX_EPOCH}; fix or remove it, or start with --fresh-state to move it aside")]
    Epoch {
        path: PathBuf,
        group: String,
        epoch: u64,
    },
}

pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: &Path) -> Self {
        StateFile {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; `None` when there is no file yet (a first start).
    pub fn load(&self) -> Result<Option<State>, StoreError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let state: State = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if state.format != FORMAT {
            return Err(corrupt(format!("format {} is not {FORMAT}", state.format)));
        }
        if let Some((name, g)) = state.groups.iter().find(|(_, g)| g.epoch > MAX_EPOCH) {
            return Err(StoreError::Epoch {
                path: self.path.clone(),
                group: name.clone(),
                epoch: g.epoch,
            });
        }
        Ok(Some(state))
    }

    /// Moves a bad file aside (for `--fresh-state`); returns where it went.
    pub fn move_aside(&self) -> io::Result<Option<PathBuf>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = with_suffix(&self.path, &format!(".corrupt-{unix}"));
        fs::rename(&self.path, &aside)?;
        Ok(Some(aside))
    }

    /// Writes atomically and durably (see the module comment).
    pub fn save(&self, state: &State) -> io::Result<()> {
        let mut state = state.clone();
        state.format = FORMAT;
        let body = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        write_atomic(&self.path, &body)
    }
}

/// Why the state file's directory cannot hold it.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("directory {0} does not exist")]
    Missing(PathBuf),
    #[error("{0} is not a directory")]
    NotDir(PathBuf),
    #[error("directory {path} is not writable ({source})")]
    NotWritable { path: PathBuf, source: io::Error },
}

/// Checks that the directory of `state_path` exists and takes a new file (the state file
/// is written as a temporary file renamed into place, so the directory must be writable,
/// not only the file). A missing directory would otherwise show only later, as a 500 on
/// every operating command.
pub fn check_dir(state_path: &Path) -> Result<(), DirError> {
    let dir = dir_of(state_path);
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(DirError::NotDir(dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(DirError::Missing(dir)),
        Err(source) => return Err(DirError::NotWritable { path: dir, source }),
    }
    let probe = dir.join(format!(".failoverd-check-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(source) => Err(DirError::NotWritable { path: dir, source }),
    }
}

/// The directory a file is in (`.` for a bare file name).
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// tmp + fsync + rename + fsync(dir).
pub fn write_atomic(path: &Path, body: &[u8]) -> io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir_of(path))?.sync_all()
}

pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut targets = BTreeMap::new();
        targets.insert(
            "main".into(),
            SavedTarget {
                config_priority: 1,
                priority: 2,
                admin: AdminState::Drain,
            },
        );
        let mut groups = BTreeMap::new();
        groups.insert(
            "app".into(),
            SavedGroup {
                epoch: 3,
                active: vec!["backup".into()],
                pin: Some("backup".into()),
                targets,
                held: Some(SavedHeld {
                    to: vec!["main".into()],
                    cause: crate::group::Cause::Failback,
                    failed: Some("gate fence failed".into()),
                }),
            },
        );
        State {
            format: FORMAT,
            groups,
            cluster_revision: 0,
        }
    }

    #[test]
    fn saves_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(&dir.path().join("s.state"));
        assert_eq!(file.load().unwrap(), None);
        file.save(&sample()).unwrap();
        assert_eq!(file.load().unwrap(), Some(sample()));
        assert!(!with_suffix(file.path(), ".tmp").exists());
    }

    #[test]
    fn corrupt_file_is_a_clear_error_and_can_be_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state");
        fs::write(&path, b"{\"format\": 1, \"groups\": {\"app\": ").unwrap();
        let file = StateFile::new(&path);
        let err = file.load().unwrap_err().to_string();
        assert!(
            err.contains("is corrupt") && err.contains("--fresh-state"),
            "{err}"
        );
        let aside = file.move_aside().unwrap().unwrap();
        assert!(aside.exists() && !path.exists());
        assert_eq!(file.load().unwrap(), None);
    }

    #[test]
    fn an_absurd_epoch_is_refused_naming_the_file_and_group() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(&dir.path().join("s.state"));
        let mut state = sample();
        state.groups.get_mut("app").unwrap().epoch = MAX_EPOCH;
        file.save(&state).unwrap();
        assert_eq!(file.load().unwrap(), Some(state.clone()));
        state.groups.get_mut("app").unwrap().epoch = u64::MAX;
        file.save(&state).unwrap();
        let err = file.load().unwrap_err().to_string();
        let path = file.path().display().to_string();
        for part in [
            path.as_str(),
            "\"app\"",
            "18446744073709551615",
            "--fresh-state",
        ] {
            assert!(err.contains(part), "{part} not in: {err}");
        }
    }
}

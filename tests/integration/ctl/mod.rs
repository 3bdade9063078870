//! `failoverd ctl` end to end: the real binary serves (harness), the real binary again is
//! the client, for every verb, with tokens of both roles, over https, and against an admin
//! URL where nothing (or nothing useful) listens.
//!
//! This module holds what those tests share: running ctl and reading what it printed, and
//! main and backup stacks behind failoverd.

mod auth;
mod errors;
mod verbs;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const CHECK: &str = r#"kind = "tcp"
interval = "200ms"
timeout = "100ms"
rise = 1
fall = 1"#;

/// What one ctl run printed, and how it exited.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    fn ok(self) -> Out {
        assert_eq!(self.code, Some(0), "ctl failed: {self:#?}");
        assert!(self.stderr.is_empty(), "stderr must stay clean: {self:#?}");
        self
    }

    fn failed(self, code: i32) -> Out {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Runs `failoverd ctl ARGS` with no FAILOVERD_* variables but `env`. Killed if it outlives
/// the test's own deadline.
async fn ctl_with(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("ctl")
        .args(args)
        .env_remove("FAILOVERD_ADMIN")
        .env_remove("FAILOVERD_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("ctl did not finish in 30s")
        .expect("run ctl");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `failoverd ctl --admin http://ADMIN ARGS`.
pub(crate) async fn ctl(f: &Failoverd, args: &[&str]) -> Out {
    let admin = format!("http://{}", f.admin);
    let mut all = vec!["--admin", admin.as_str()];
    all.extend_from_slice(args);
    ctl_with(&all, &[]).await
}

/// The status table line of a target (indented under its group).
fn target_line<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("  {name} ")))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{table}"))
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// main and backup stacks behind failoverd, both up. `token`: the one to read with.
async fn start_two_stacks(
    group_extra: &str,
    admin_extra: &str,
    token: Option<&str>,
) -> (Failoverd, HttpStack, HttpStack) {
    let (port, main, backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cfg = two_stack_config(port, "127.0.0.2", "127.0.0.3", group_extra, CHECK);
    let cfg = format!("{cfg}\n{admin_extra}");
    let f = Failoverd::start(&cfg).await;
    eventually(Duration::from_secs(10), "main and backup up", || async {
        let g = match token {
            Some(t) => group_as(&f, "app", t).await,
            None => f.group("app").await,
        };
        (health(&g, "main") == "up" && health(&g, "backup") == "up").then_some(())
    })
    .await;
    (f, main, backup)
}

/// The group as `ctl --json status` shows it to a token holder.
async fn group_as(f: &Failoverd, name: &str, token: &str) -> Value {
    ctl(f, &["--token", token, "--json", "status", name])
        .await
        .ok()
        .json()
}

//! Config text for the common case (one group `app`, main and backup on one port, a
//! proxy listener) and paths inside the repository.

use std::path::{Path, PathBuf};

use super::backends::{BACKUP, MAIN};

/// Config text for one group `app` with main and backup on `port`, a proxy listener, and
/// `extra` lines added to the group.
pub fn two_stack_config(
    port: u16,
    main: &str,
    backup: &str,
    group_extra: &str,
    health: &str,
) -> String {
    format!(
        r#"
[admin]
listen = "127.0.0.1:0"

[state]
path = "{{dir}}/failoverd.state"

[[group]]
name = "app"
{group_extra}

[group.health]
{health}

[[group.listener]]
listen = "127.0.0.1:0"
target_port = {port}
connect_timeout = "300ms"

[[group.target]]
name = "main"
address = "{main}"
priority = 1

[[group.target]]
name = "backup"
address = "{backup}"
priority = 2
"#
    )
}

/// `[admin]` (with `admin_extra`, e.g. tokens) and `[state]` in `{dir}`.
pub fn header(admin_extra: &str) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n{admin_extra}\n\n[state]\npath = \"{{dir}}/failoverd.state\"\n"
    )
}

/// One `[[group]]` with one listener to `port` and `targets` (name, address, priority).
pub fn group_toml(
    name: &str,
    port: u16,
    targets: &[(&str, &str, u32)],
    extra: &str,
    health: &str,
) -> String {
    let mut s = format!(
        "\n[[group]]\nname = \"{name}\"\n{extra}\n\n[group.health]\n{health}\n\n\
         [[group.listener]]\nlisten = \"127.0.0.1:0\"\ntarget_port = {port}\n\
         connect_timeout = \"300ms\"\n"
    );
    for (t, addr, prio) in targets {
        s += &format!(
            "\n[[group.target]]\nname = \"{t}\"\naddress = \"{addr}\"\npriority = {prio}\n"
        );
    }
    s
}

/// A main/backup group on MAIN and BACKUP.
pub fn pair_group(name: &str, port: u16, extra: &str, health: &str) -> String {
    group_toml(
        name,
        port,
        &[("main", MAIN, 1), ("backup", BACKUP, 2)],
        extra,
        health,
    )
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

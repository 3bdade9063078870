//! Config text for the common case (one group `app`, main and backup on one port, a
//! proxy listener) and paths inside the repository.

use std::path::{Path, PathBuf};

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

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

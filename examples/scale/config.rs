//! failoverd's configuration for the bench: N DNS-only groups and one proxied group.

use std::path::Path;

use crate::backends::{BACKUP, MAIN};
use crate::Cli;

/// failoverd's own ports on 127.0.0.1 (admin, dns, proxy) and the backends' (check: every
/// main and backup; echo: the proxied group's).
pub struct Ports {
    pub admin: u16,
    pub dns: u16,
    pub proxy: u16,
    pub check: u16,
    pub echo: u16,
}

/// The config text; failoverd keeps its state under `dir`.
pub fn config(cli: &Cli, dir: &Path, p: &Ports) -> String {
    let mut s = format!(
        "[admin]\nlisten = \"127.0.0.1:{}\"\n\n[state]\npath = \"{}/state\"\n\n\
         [dns]\nlisten = [\"127.0.0.1:{}\"]\nzone = \"scale.test.\"\n\
         nameservers = [{{ name = \"ns1.scale.test.\", addresses = [\"127.0.0.1\"] }}]\n",
        p.admin,
        dir.display(),
        p.dns
    );
    let health = |port: u16| {
        format!(
            "[group.health]\nkind = \"tcp\"\nport = {port}\ninterval = \"{}ms\"\n\
             timeout = \"{}ms\"\nrise = {}\nfall = {}\n",
            cli.interval_ms, cli.timeout_ms, cli.rise, cli.fall
        )
    };
    let targets = format!(
        "[[group.target]]\nname = \"main\"\naddress = \"{MAIN}\"\npriority = 1\n\
         [[group.target]]\nname = \"backup\"\naddress = \"{BACKUP}\"\npriority = 2\n"
    );
    for i in 0..cli.groups {
        s += &format!(
            "\n[[group]]\nname = \"g{i}\"\ndns_name = \"g{i}.scale.test.\"\n{}{targets}",
            health(p.check)
        );
    }
    // One proxied group, to see that a reload fails no proxied connection.
    s += &format!(
        "\n[[group]]\nname = \"proxied\"\n{}[[group.listener]]\nlisten = \"127.0.0.1:{}\"\n\
         target_port = {}\n{targets}",
        health(p.echo),
        p.proxy,
        p.echo
    );
    s
}

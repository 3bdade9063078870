//! Validation of the role check kinds of `[group.health]` (`postgres`, `redis`) and of
//! `role = "primary"`: the fields each kind takes, the password file (read here, so a
//! missing or empty one fails `check` rather than every probe), the TLS mode.

use std::path::PathBuf;

use super::validate::{ConfigError, Result};
use super::{CheckKind, PostgresCheck, PostgresTls, RedisCheck, Secret};

/// The `[group.health]` fields only role checks read.
#[derive(Default)]
pub(super) struct RoleFields {
    pub role: Option<String>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<String>,
    pub tls: Option<String>,
    pub ca_file: Option<String>,
}

/// The port a role check uses when `health.port` is not set: the database's own, not the
/// proxy's target port (a database group may proxy another port, or none).
pub(super) fn default_port(kind: &str) -> Option<u16> {
    match kind {
        "postgres" => Some(5432),
        "redis" => Some(6379),
        _ => None,
    }
}

/// Fields set on a kind that does not read them are errors, not silently ignored.
pub(super) fn reject_misplaced(scope: &str, kind: &str, f: &RoleFields) -> Result<()> {
    let is_pg = kind == "postgres";
    let fields: [(&str, bool, bool, &str); 5] = [
        ("user", f.user.is_some(), is_pg, "postgres"),
        ("dbname", f.dbname.is_some(), is_pg, "postgres"),
        ("tls", f.tls.is_some(), is_pg, "postgres"),
        ("username", f.username.is_some(), kind == "redis", "redis"),
        (
            "password_file",
            f.password_file.is_some(),
            default_port(kind).is_some(),
            "postgres and redis",
        ),
    ];
    for (field, present, allowed, kinds) in fields {
        if present && !allowed {
            return Err(ConfigError::new(
                scope,
                format!("health.{field} is only valid for {kinds} checks, not kind {kind:?}"),
            ));
        }
    }
    Ok(())
}

/// `role`: only `"primary"`, and only on a check that reports roles.
pub(super) fn require_primary(scope: &str, kind: &str, role: Option<&str>) -> Result<bool> {
    match role {
        None => Ok(false),
        Some("primary") if default_port(kind).is_some() => Ok(true),
        Some("primary") => Err(ConfigError::new(
            scope,
            format!(
                "health.role = \"primary\" needs a role check (kind \"postgres\" or \"redis\"), not kind {kind:?}"
            ),
        )),
        Some(other) => Err(ConfigError::new(
            scope,
            format!("health.role {other:?} is not \"primary\""),
        )),
    }
}

/// `kind = "postgres"`.
pub(super) fn postgres(scope: &str, f: RoleFields) -> Result<CheckKind> {
    let user = f
        .user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ConfigError::new(scope, "health.user is required for postgres checks"))?;
    let tls = postgres_tls(scope, f.tls.as_deref(), f.ca_file)?;
    Ok(CheckKind::Postgres(PostgresCheck {
        user,
        dbname: f.dbname,
        password: password(scope, f.password_file.as_deref())?,
        tls,
    }))
}

/// `kind = "redis"`.
pub(super) fn redis(scope: &str, f: RoleFields) -> Result<CheckKind> {
    Ok(CheckKind::Redis(RedisCheck {
        username: f.username,
        password: password(scope, f.password_file.as_deref())?,
    }))
}

fn postgres_tls(scope: &str, tls: Option<&str>, ca_file: Option<String>) -> Result<PostgresTls> {
    let mode = tls.unwrap_or("disable");
    let ca_only_with_verify = || {
        ConfigError::new(
            scope,
            format!("health.ca_file is only used with health.tls = \"verify-full\", not {mode:?}"),
        )
    };
    match (mode, ca_file) {
        ("disable" | "require", Some(_)) => Err(ca_only_with_verify()),
        ("disable", None) => Ok(PostgresTls::Disable),
        ("require", None) => Ok(PostgresTls::Require),
        ("verify-full", None) => Err(ConfigError::new(
            scope,
            "health.tls = \"verify-full\" needs health.ca_file (the CA that signed the server's certificate)",
        )),
        ("verify-full", Some(path)) => {
            std::fs::File::open(&path)
                .map_err(|e| ConfigError::new(scope, format!("health.ca_file {path}: {e}")))?;
            Ok(PostgresTls::VerifyFull {
                ca_file: PathBuf::from(path),
            })
        }
        (other, _) => Err(ConfigError::new(
            scope,
            format!("health.tls {other:?} is not one of \"disable\", \"require\", \"verify-full\""),
        )),
    }
}

/// The password is the file's first line (a trailing newline is not part of it).
fn password(scope: &str, path: Option<&str>) -> Result<Option<Secret>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(scope, format!("health.password_file {path}: {e}")))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(ConfigError::new(
            scope,
            format!("health.password_file {path}: the first line is empty"),
        ));
    }
    Ok(Some(Secret::new(line.to_string())))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::config::{CheckKind, Config, PostgresTls};

    /// A group "db" with one target and the given `[group.health]` body (no listener: a
    /// role check defaults to its database's port).
    fn config(health: &str) -> String {
        format!(
            "[[group]]\nname = \"db\"\n[group.health]\n{health}\n\
             [[group.target]]\nname = \"main\"\naddress = \"127.0.0.2\"\n"
        )
    }

    fn error(health: &str) -> String {
        Config::parse(&config(health))
            .expect_err("config must be rejected")
            .to_string()
    }

    fn password_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn postgres_with_defaults_and_a_password() {
        let pw = password_file("s3cret\nignored\n");
        let health = format!(
            "kind = \"postgres\"\nuser = \"failoverd\"\nrole = \"primary\"\npassword_file = \"{}\"",
            pw.path().display()
        );
        let c = Config::parse(&config(&health)).unwrap();
        let h = &c.groups[0].health;
        assert_eq!(h.port, 5432);
        assert!(h.require_primary);
        let CheckKind::Postgres(pg) = &h.kind else {
            panic!("{:?}", h.kind)
        };
        assert_eq!(pg.user, "failoverd");
        assert_eq!(pg.dbname, None);
        assert_eq!(pg.tls, PostgresTls::Disable);
        assert!(pg.password.as_ref().unwrap().matches("s3cret"));
    }

    #[test]
    fn redis_defaults_to_its_port_and_no_password() {
        let c = Config::parse(&config("kind = \"redis\"")).unwrap();
        let h = &c.groups[0].health;
        assert_eq!(h.port, 6379);
        assert!(!h.require_primary);
        assert!(h.kind.is_role_check());
    }

    #[test]
    fn mistakes_are_named_with_group_and_field() {
        let cases = [
            ("kind = \"tcp\"\nport = 80\nrole = \"primary\"", "group \"db\": health.role = \"primary\" needs a role check (kind \"postgres\" or \"redis\"), not kind \"tcp\""),
            ("kind = \"redis\"\nrole = \"replica\"", "group \"db\": health.role \"replica\" is not \"primary\""),
            ("kind = \"postgres\"", "group \"db\": health.user is required for postgres checks"),
            ("kind = \"postgres\"\nuser = \"u\"\ntls = \"verify-full\"", "group \"db\": health.tls = \"verify-full\" needs health.ca_file"),
            ("kind = \"postgres\"\nuser = \"u\"\ntls = \"prefer\"", "group \"db\": health.tls \"prefer\" is not one of"),
            ("kind = \"postgres\"\nuser = \"u\"\nca_file = \"x.pem\"", "group \"db\": health.ca_file is only used with health.tls = \"verify-full\", not \"disable\""),
            ("kind = \"redis\"\nuser = \"u\"", "group \"db\": health.user is only valid for postgres checks, not kind \"redis\""),
            ("kind = \"postgres\"\nuser = \"u\"\nusername = \"u\"", "group \"db\": health.username is only valid for redis checks"),
            ("kind = \"tcp\"\nport = 80\npassword_file = \"x\"", "group \"db\": health.password_file is only valid for postgres and redis checks"),
            ("kind = \"redis\"\npassword_file = \"/nonexistent/pw\"", "group \"db\": health.password_file /nonexistent/pw: No such file"),
        ];
        for (health, want) in cases {
            let got = error(health);
            assert!(
                got.starts_with(want),
                "{health:?}:\n got {got}\nwant {want}"
            );
        }
    }

    #[test]
    fn an_empty_password_file_is_refused() {
        let pw = password_file("\nsecond line\n");
        let path = pw.path().display();
        let got = error(&format!("kind = \"redis\"\npassword_file = \"{path}\""));
        assert_eq!(
            got,
            format!("group \"db\": health.password_file {path}: the first line is empty")
        );
    }
}

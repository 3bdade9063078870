//! The `redis` role check: `AUTH` when a password is configured, then `ROLE`, on a
//! connected socket; `master` is primary, `slave` (a replica) is standby.
//!
//! The redis crate speaks RESP and parses the `ROLE` reply; `Prober::probe` connects the
//! socket and calls [`RedisProbe::role`] within the probe's one deadline. A refused `AUTH`
//! is an `auth` failure with the server's words; anything else is a `database` failure.

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisConnectionInfo, RedisError};
use tokio::net::TcpStream;

use super::probe::ProbeError;
use crate::config::RedisCheck;
use crate::group::Role;

#[derive(Clone)]
pub(super) struct RedisProbe {
    info: RedisConnectionInfo,
}

impl RedisProbe {
    pub(super) fn new(check: &RedisCheck) -> RedisProbe {
        // No CLIENT SETINFO: a check is one command, and servers before 7.2 answer it with
        // an error.
        let mut info = RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some(user) = &check.username {
            info = info.set_username(user);
        }
        if let Some(p) = &check.password {
            info = info.set_password(p.expose());
        }
        RedisProbe { info }
    }

    pub(super) async fn role(&self, tcp: TcpStream) -> Result<Role, ProbeError> {
        let (mut con, driver) = MultiplexedConnection::new(&self.info, tcp)
            .await
            .map_err(error)?;
        let ask = async {
            let role: redis::Role = redis::cmd("ROLE").query_async(&mut con).await?;
            Ok::<_, RedisError>(role)
        };
        // The driver moves the bytes; it ends only when the connection does.
        let role = tokio::select! {
            role = ask => role.map_err(error)?,
            () = driver => {
                return Err(ProbeError::Database("redis: the server closed the connection".into()));
            }
        };
        match role {
            redis::Role::Primary { .. } => Ok(Role::Primary),
            redis::Role::Replica { .. } => Ok(Role::Standby),
            other => Err(ProbeError::Database(format!(
                "redis: ROLE answered {other:?}, neither a primary nor a replica"
            ))),
        }
    }
}

fn error(e: RedisError) -> ProbeError {
    // NOAUTH: a password is needed; WRONGPASS: it (or the user) is wrong; NOPERM: the ACL
    // user may not run ROLE.
    let login = e.kind() == ErrorKind::AuthenticationFailed
        || e.code()
            .is_some_and(|c| ["NOAUTH", "WRONGPASS", "NOPERM"].contains(&c));
    if login {
        ProbeError::Auth(format!("redis login refused: {e}"))
    } else {
        ProbeError::Database(format!("redis: {e}"))
    }
}

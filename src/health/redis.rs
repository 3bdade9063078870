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
use crate::vocab::Role;

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
        // The driver moves the bytes; it ends only when the connection does, and may do so
        // in the very poll that delivered the reply (a server that answers and closes):
        // the reply is then waiting for `ask`, and a lost one is an error there.
        let mut ask = std::pin::pin!(ask);
        let role = tokio::select! {
            biased;
            role = &mut ask => role,
            () = driver => ask.await,
        }
        .map_err(error)?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::config::CheckKind;
    use crate::health::probe::Prober;
    use crate::health::test_support::health;

    fn prober() -> Prober {
        let check = RedisCheck {
            username: None,
            password: None,
        };
        Prober::new(&health(CheckKind::Redis(check), Duration::from_millis(300))).unwrap()
    }

    /// A server that answers every connection with `reply` and closes.
    async fn answering(reply: &'static [u8]) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(reply).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn role_replies_are_roles() {
        let primary = answering(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n").await;
        assert_eq!(
            prober().probe(primary, "127.0.0.1").await.unwrap(),
            Some(Role::Primary)
        );
        let replica = answering(
            b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.2\r\n:6379\r\n$9\r\nconnected\r\n:1\r\n",
        )
        .await;
        assert_eq!(
            prober().probe(replica, "127.0.0.1").await.unwrap(),
            Some(Role::Standby)
        );
    }

    #[tokio::test]
    async fn a_refused_login_is_an_auth_failure_with_the_servers_words() {
        let addr = answering(b"-NOAUTH Authentication required.\r\n").await;
        let err = prober().probe(addr, "127.0.0.1").await.unwrap_err();
        assert_eq!(err.kind(), "auth", "{err}");
        assert!(
            err.to_string().starts_with("redis login refused: "),
            "{err}"
        );
        assert!(err.to_string().contains("Authentication required"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_connection_is_a_database_failure() {
        let addr = answering(b"").await;
        let err = prober().probe(addr, "127.0.0.1").await.unwrap_err();
        assert_eq!(err.kind(), "database", "{err}");
    }
}

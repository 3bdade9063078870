//! The `postgres` role check: a real login (user, database, password, TLS as configured)
//! and `SELECT pg_is_in_recovery()` on a connected socket, answering the server's role.
//!
//! Built once per group by `Prober::new` (the rustls config with it); `Prober::probe`
//! connects the socket (our own connect, so failoverd's own resource errors stay local)
//! and calls [`PostgresProbe::role`] within the probe's one deadline. A refused login is
//! an `auth` failure with the server's words; any other error is a `database` failure.

use std::pin::pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::probe::{ProbeError, ProbeSetupError};
use crate::config::{PostgresCheck, PostgresTls};
use crate::tls_client::{self, Trust, TrustError};
use crate::vocab::Role;

#[derive(Clone)]
pub(super) struct PostgresProbe {
    config: Config,
    /// `None`: `tls = "disable"`.
    tls: Option<MakeRustlsConnect>,
}

impl PostgresProbe {
    pub(super) fn new(check: &PostgresCheck) -> Result<PostgresProbe, ProbeSetupError> {
        let mut config = Config::new();
        config
            .user(&check.user)
            .dbname(check.dbname.as_deref().unwrap_or(&check.user))
            // Who is logged in, as pg_stat_activity shows it to the DBA.
            .application_name("failoverd");
        if let Some(p) = &check.password {
            config.password(p.expose());
        }
        let trust = match &check.tls {
            PostgresTls::Disable => None,
            // libpq's `require`: encrypted, the certificate not verified.
            PostgresTls::Require => Some(Trust::AnyCertificate),
            PostgresTls::VerifyFull { ca_file } => Some(Trust::File(ca_file)),
        };
        config.ssl_mode(match trust {
            None => SslMode::Disable,
            Some(_) => SslMode::Require,
        });
        let tls = match trust {
            None => None,
            Some(trust) => Some(MakeRustlsConnect::new(
                tls_client::client_config(trust, false).map_err(|e| setup_error(e, &check.tls))?,
            )),
        };
        Ok(PostgresProbe { config, tls })
    }

    /// Logs in over `tcp` and asks the role. `host` (the target's address text) is the
    /// name a `verify-full` certificate must carry.
    pub(super) async fn role(&self, tcp: TcpStream, host: &str) -> Result<Role, ProbeError> {
        let in_recovery = match &self.tls {
            None => {
                let (client, conn) = self.config.connect_raw(tcp, NoTls).await.map_err(error)?;
                ask(client, conn).await?
            }
            Some(make) => {
                let tls = MakeTlsConnect::<TcpStream>::make_tls_connect(&mut make.clone(), host)
                    .map_err(|e| ProbeError::ServerName(format!("{host} ({e})")))?;
                let (client, conn) = self.config.connect_raw(tcp, tls).await.map_err(error)?;
                ask(client, conn).await?
            }
        };
        Ok(if in_recovery {
            Role::Standby
        } else {
            Role::Primary
        })
    }
}

/// Runs the query while driving the connection, then closes it politely (a Terminate
/// message, so the server logs no "unexpected EOF" at every check).
async fn ask<S, T>(client: Client, connection: Connection<S, T>) -> Result<bool, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut connection = pin!(connection);
    let row = {
        let mut query = pin!(client.query_one("SELECT pg_is_in_recovery()", &[]));
        // The connection may end in the very poll that delivered the answer: the answer
        // then waits for `query`, and a lost one is an error there.
        tokio::select! {
            biased;
            row = &mut query => row,
            done = &mut connection => {
                done.map_err(error)?;
                query.await
            }
        }
        .map_err(error)?
    };
    drop(client);
    let _ = connection.await;
    row.try_get(0).map_err(error)
}

/// The server's own words when it sent some ("FATAL: password authentication failed for
/// user ..."), else the client's.
fn error(e: tokio_postgres::Error) -> ProbeError {
    let Some(db) = e.as_db_error() else {
        return ProbeError::Database(format!("postgres: {}", with_causes(&e)));
    };
    let text = format!("{}: {}", db.severity(), db.message());
    let login = [
        SqlState::INVALID_PASSWORD,
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        SqlState::INVALID_CATALOG_NAME,
    ];
    if login.contains(db.code()) {
        ProbeError::Auth(format!("postgres login refused: {text}"))
    } else {
        ProbeError::Database(format!("postgres: {text}"))
    }
}

/// The error and its causes: tokio-postgres says "error performing TLS handshake" and
/// keeps the why ("invalid peer certificate: UnknownIssuer") in its source.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

fn setup_error(e: TrustError, tls: &PostgresTls) -> ProbeSetupError {
    match (e, tls) {
        (TrustError::CaFile(reason), PostgresTls::VerifyFull { ca_file }) => {
            ProbeSetupError::CaFile {
                path: ca_file.clone(),
                reason,
            }
        }
        (TrustError::Tls(e), _) => ProbeSetupError::Tls(e),
        (e, _) => ProbeSetupError::NoSystemRoots(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;
    use crate::config::CheckKind;
    use crate::health::probe::Prober;
    use crate::health::test_support::health;

    fn check(tls: PostgresTls) -> CheckKind {
        CheckKind::Postgres(PostgresCheck {
            user: "failoverd".into(),
            dbname: None,
            password: None,
            tls,
        })
    }

    /// A server that accepts and never answers: the login waits, the probe's one
    /// deadline ends it.
    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let timeout = Duration::from_millis(300);
        let prober = Prober::new(&health(check(PostgresTls::Require), timeout)).unwrap();
        let err = prober.probe(addr, "127.0.0.1").await.unwrap_err();
        assert_eq!(err.kind(), "timeout", "{err}");
        drop(listener);
    }

    #[test]
    fn verify_full_with_an_unusable_ca_file_is_a_setup_error() {
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, "not a certificate").unwrap();
        let tls = PostgresTls::VerifyFull {
            ca_file: ca_file.clone(),
        };
        let err = Prober::new(&health(check(tls), Duration::from_secs(1))).unwrap_err();
        assert!(
            matches!(&err, ProbeSetupError::CaFile { path, .. } if *path == ca_file),
            "{err:?}"
        );
    }
}

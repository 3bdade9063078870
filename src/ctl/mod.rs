//! `failoverd ctl`: the operator's command line for a running failoverd. It sits outside the
//! data flow: each verb is one request to the admin API (`client.rs`), and the answer is
//! printed as a table (`table.rs`), a one-line confirmation or event lines (`render.rs`), or
//! as the API's JSON for scripts.
//!
//! Exit codes: 0 ok; 1 when the API answers an error or cannot be reached; 64 for usage
//! errors found here (a bad URL, an unreadable token file). Errors clap finds while parsing
//! (an unknown verb, a missing argument) keep clap's own exit code 2, as for every
//! subcommand of `failoverd`.

mod client;
mod render;
mod table;
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Value};

use client::{encode, AdminUrl, Client, CtlError, Settings};

const EX_USAGE: u8 = 64;
const DEFAULT_ADMIN: &str = "http://127.0.0.1:8439";
const ENV_ADMIN: &str = "FAILOVERD_ADMIN";
const ENV_TOKEN: &str = "FAILOVERD_TOKEN";

#[derive(Args, Debug)]
#[command(after_help = "\
Environment:
  FAILOVERD_ADMIN  admin URL when --admin is not given
  FAILOVERD_TOKEN  bearer token when neither --token nor --token-file is given

Exit codes: 0 ok; 1 the API answered an error or could not be reached; 2 the command line
could not be parsed; 64 other usage errors (bad URL, unreadable token or CA file).
ctl prints no logs.")]
pub struct CtlArgs {
    /// Admin API URL [env: FAILOVERD_ADMIN] [default: http://127.0.0.1:8439]
    #[arg(long, value_name = "URL", global = true)]
    admin: Option<String>,
    /// Bearer token. Visible to every local user in `ps`: prefer --token-file or
    /// FAILOVERD_TOKEN.
    #[arg(
        long,
        value_name = "SECRET",
        global = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// File holding the bearer token (surrounding whitespace is ignored).
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    /// Trust only this PEM CA for an https admin URL (default: the system roots).
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "insecure")]
    ca_file: Option<PathBuf>,
    /// Accept any certificate from an https admin URL (an explicit opt-out of verification).
    #[arg(long, global = true)]
    insecure: bool,
    /// Print the API's JSON answer (pretty) instead of text, for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// Deadline for the whole request: connect, TLS, answer.
    #[arg(long, value_name = "DURATION", default_value = "5s", global = true,
          value_parser = parse_timeout)]
    timeout: Duration,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Show every group (or one) with its targets: health, admin state, active or idle.
    Status { group: Option<String> },
    /// Pin GROUP to TARGET (refused for a down target unless --force).
    Switch {
        group: String,
        target: String,
        /// Switch even when the target is down.
        #[arg(long)]
        force: bool,
    },
    /// Remove the pin; the health rules decide again.
    Release { group: String },
    /// Return GROUP to its best healthy tier now (clears a pin).
    Failback { group: String },
    /// Make the active backup the new main (priorities rewritten and persisted).
    Commit { group: String },
    /// No new traffic to TARGET; its open connections finish.
    Drain { group: String, target: String },
    /// No traffic to TARGET at all; its connections are closed.
    Maintenance { group: String, target: String },
    /// Put TARGET back in service (after drain or maintenance).
    Enable { group: String, target: String },
    /// Close every proxied connection of GROUP (clients reconnect to the active tier).
    Disconnect { group: String },
    /// Show the event history, oldest first.
    Events {
        /// Only events of this group.
        #[arg(long)]
        group: Option<String>,
        /// Only events after this id.
        #[arg(long, value_name = "ID")]
        since: Option<u64>,
        /// At most this many (the newest; the API caps it at 1000).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Reload the config file (validated first; a bad one is refused and the old one stays).
    Reload,
    /// Show this instance's view of the cluster ([cluster]): connected, leader, members.
    Cluster,
    /// Exit 0 when failoverd is ready (`/ready` answers 200), 1 otherwise: a container's
    /// health check, or a script waiting for a start.
    Ready,
}

/// Durations as in the config file (`"500ms"`, `"5s"`); zero would fail every request.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let d = failoverd::config::duration::parse(text)?;
    if d.is_zero() {
        return Err("the timeout must be more than zero".into());
    }
    Ok(d)
}

/// Runs one ctl command; prints its output on stdout or its error on stderr.
pub fn run(args: CtlArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(execute(args)),
        Err(e) => Err(CtlError::Failed(format!("cannot start the runtime: {e}")).into()),
    };
    match result {
        Ok(text) => {
            // Not println!: it panics when stdout is a closed pipe (`ctl events | head`).
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(&format!("cannot write the output: {e}"), 1),
            }
        }
        Err(Failure { error, hint }) => {
            let mut message = error.to_string();
            if let Some(hint) = hint {
                message.push_str("\nfailoverd ctl: hint: ");
                message.push_str(hint);
            }
            fail(&message, error.exit_code())
        }
    }
}

/// An error, and what the operator may do about it.
struct Failure {
    error: CtlError,
    hint: Option<&'static str>,
}

impl From<CtlError> for Failure {
    fn from(error: CtlError) -> Self {
        Failure { error, hint: None }
    }
}

/// `ctl status`'s first line with `[cluster]`: who leads, and loudly when this instance is
/// cut off from etcd (it then serves the last decision it saw). Nothing without a cluster,
/// or when the question itself fails (the table still matters more).
async fn cluster_header(client: &Client) -> String {
    let Ok(answer) = client.call(Method::GET, "/v1/cluster", None).await else {
        return String::new();
    };
    render::cluster_line(&answer.json)
}

fn fail(message: &str, code: u8) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "failoverd ctl: {message}");
    ExitCode::from(code)
}

async fn execute(args: CtlArgs) -> Result<String, Failure> {
    let client = Client::new(settings(&args)?)?;
    let (method, path, body) = request(&args.verb);
    let answer = match client.call(method, &path, body.as_ref()).await {
        Ok(answer) => answer,
        Err(error) => {
            let unauthorized =
                matches!(&error, CtlError::Api { status, .. } if status.as_u16() == 401);
            let hint = match (unauthorized, client.has_token()) {
                (true, false) => Some("give a token with --token-file FILE or FAILOVERD_TOKEN"),
                (true, true) => Some("the token was refused: check it against [[admin.token]]"),
                _ => None,
            };
            return Err(Failure { error, hint });
        }
    };
    if args.json {
        return Ok(render::pretty(&answer.text));
    }
    let answer = answer.json;
    Ok(match &args.verb {
        Verb::Status { group: Some(_) } => table::status(std::slice::from_ref(&answer)),
        Verb::Status { group: None } => match answer["groups"].as_array() {
            Some(groups) => cluster_header(&client).await + &table::status(groups),
            None => return Err(CtlError::Failed("the answer has no \"groups\" list".into()).into()),
        },
        Verb::Events { .. } => render::events(&answer),
        Verb::Reload => render::reloaded(&answer),
        Verb::Cluster => render::cluster(&answer),
        Verb::Ready => format!("{}\n", answer["status"].as_str().unwrap_or("ready")),
        verb => match action(verb) {
            Some(action) => render::confirmation(&action, &answer),
            None => String::new(),
        },
    })
}

/// URL, token and trust from the arguments, then the environment, then the defaults.
fn settings(args: &CtlArgs) -> Result<Settings, CtlError> {
    let (admin, from) = match (&args.admin, std::env::var(ENV_ADMIN)) {
        (Some(url), _) => (url.clone(), "--admin"),
        (None, Ok(url)) => (url, ENV_ADMIN),
        (None, Err(_)) => (DEFAULT_ADMIN.to_string(), "--admin"),
    };
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(non_empty(t.trim(), "--token")?),
        (None, Some(file)) => Some(read_token(file)?),
        (None, None) => match std::env::var(ENV_TOKEN) {
            Ok(t) => Some(non_empty(t.trim(), ENV_TOKEN)?),
            Err(_) => None,
        },
    };
    Ok(Settings {
        admin: AdminUrl::parse(&admin, from)?,
        token,
        ca_file: args.ca_file.clone(),
        insecure: args.insecure,
        timeout: args.timeout,
    })
}

fn read_token(file: &Path) -> Result<String, CtlError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CtlError::Usage(format!("--token-file {}: {e}", file.display())))?;
    non_empty(text.trim(), &format!("--token-file {}", file.display()))
}

fn non_empty(token: &str, from: &str) -> Result<String, CtlError> {
    if token.is_empty() {
        return Err(CtlError::Usage(format!("{from}: the token is empty")));
    }
    Ok(token.to_string())
}

/// The API request of a verb: method, path with query, JSON body.
fn request(verb: &Verb) -> (Method, String, Option<Value>) {
    let group_path = |g: &str, action: &str| format!("/v1/groups/{}/{action}", encode(g));
    let target_state = |g: &str, t: &str, state: &str| {
        let path = format!("/v1/groups/{}/targets/{}/state", encode(g), encode(t));
        (Method::POST, path, Some(json!({ "state": state })))
    };
    match verb {
        Verb::Status { group: None } => (Method::GET, "/v1/groups".into(), None),
        Verb::Status { group: Some(g) } => (Method::GET, format!("/v1/groups/{}", encode(g)), None),
        Verb::Switch {
            group,
            target,
            force,
        } => (
            Method::POST,
            group_path(group, "switch"),
            Some(json!({ "target": target, "force": force })),
        ),
        Verb::Release { group } => (Method::POST, group_path(group, "release"), None),
        Verb::Failback { group } => (Method::POST, group_path(group, "failback"), None),
        Verb::Commit { group } => (Method::POST, group_path(group, "commit"), None),
        Verb::Disconnect { group } => (Method::POST, group_path(group, "disconnect"), None),
        Verb::Drain { group, target } => target_state(group, target, "drain"),
        Verb::Maintenance { group, target } => target_state(group, target, "maintenance"),
        Verb::Enable { group, target } => target_state(group, target, "enabled"),
        Verb::Events {
            group,
            since,
            limit,
        } => {
            let mut query = Vec::new();
            if let Some(g) = group {
                query.push(format!("group={}", encode(g)));
            }
            if let Some(s) = since {
                query.push(format!("since={s}"));
            }
            if let Some(l) = limit {
                query.push(format!("limit={l}"));
            }
            let path = match query.is_empty() {
                true => "/v1/events".to_string(),
                false => format!("/v1/events?{}", query.join("&")),
            };
            (Method::GET, path, None)
        }
        Verb::Reload => (Method::POST, "/v1/reload".into(), None),
        Verb::Cluster => (Method::GET, "/v1/cluster".into(), None),
        Verb::Ready => (Method::GET, "/ready".into(), None),
    }
}

/// What an operating verb did, for its confirmation line (None for the reading verbs).
fn action(verb: &Verb) -> Option<render::Action<'_>> {
    use render::Action;
    Some(match verb {
        Verb::Switch {
            group,
            target,
            force,
        } => Action::Switched {
            group,
            target,
            force: *force,
        },
        Verb::Release { group } => Action::Plain(group, "released the pin"),
        Verb::Failback { group } => Action::Plain(group, "failed back to the best healthy tier"),
        Verb::Commit { group } => Action::Committed(group),
        Verb::Disconnect { group } => Action::Disconnected(group),
        Verb::Drain { group, target } => Action::TargetState(group, target, "drain"),
        Verb::Maintenance { group, target } => Action::TargetState(group, target, "maintenance"),
        Verb::Enable { group, target } => Action::TargetState(group, target, "enabled"),
        Verb::Status { .. } | Verb::Events { .. } | Verb::Reload | Verb::Cluster | Verb::Ready => {
            return None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ctl finds a failoverd that runs with the default `[admin] listen`.
    #[test]
    fn default_admin_url_is_the_default_listen() {
        let listen = failoverd::config::DEFAULT_ADMIN_LISTEN;
        assert_eq!(DEFAULT_ADMIN, format!("http://{listen}"));
        let help = CtlArgs::augment_args(clap::Command::new("ctl"))
            .get_arguments()
            .find(|a| a.get_id() == "admin")
            .and_then(|a| a.get_help().map(|h| h.to_string()))
            .unwrap_or_default();
        assert!(help.contains(DEFAULT_ADMIN), "--admin help: {help}");
    }

    #[test]
    fn requests_of_verbs() {
        let (m, p, b) = request(&Verb::Switch {
            group: "app".into(),
            target: "backup".into(),
            force: true,
        });
        assert_eq!((m, p.as_str()), (Method::POST, "/v1/groups/app/switch"));
        assert_eq!(b, Some(json!({ "target": "backup", "force": true })));
        let (_, p, b) = request(&Verb::Enable {
            group: "app".into(),
            target: "main".into(),
        });
        assert_eq!(p, "/v1/groups/app/targets/main/state");
        assert_eq!(b, Some(json!({ "state": "enabled" })));
        let (m, p, _) = request(&Verb::Events {
            group: Some("a b".into()),
            since: Some(7),
            limit: None,
        });
        assert_eq!(
            (m, p.as_str()),
            (Method::GET, "/v1/events?group=a%20b&since=7")
        );
    }

    #[test]
    fn timeouts_need_a_unit_and_a_value() {
        assert_eq!(parse_timeout("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_timeout("5").is_err());
        assert!(parse_timeout("0s").is_err());
    }
}

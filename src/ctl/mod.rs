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
mod drill;
mod render;
mod table;
mod tls;
mod verbs;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hyper::Method;

use client::{AdminUrl, Client, CtlError, Settings};
use verbs::{action, request, Verb};

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
    if let Verb::Drill { group, to, hold } = &args.verb {
        return Ok(drill::drill(&client, group, to.as_deref(), hold).await?);
    }
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
    fn timeouts_need_a_unit_and_a_value() {
        assert_eq!(parse_timeout("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_timeout("5").is_err());
        assert!(parse_timeout("0s").is_err());
    }
}

//! The `failoverd` binary: parses the CLI, loads and validates config, binds every socket,
//! then hands them to the library. Exit codes: 0 ok, 64 bad config or usage, 1 runtime error.
//! Command-line parse errors keep clap's exit code 2. `ctl` (in `src/ctl/`) is the admin
//! API's client.

mod ctl;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use failoverd::config::Config;
use failoverd::server;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EX_USAGE: u8 = 64;

#[derive(Parser)]
#[command(
    name = "failoverd",
    version,
    about = "Failover proxy: health checks, DNS and TCP proxy for main/backup stacks"
)]
struct Cli {
    // Not `global`: they come before the subcommand (`failoverd --log-level warn run`),
    // and `ctl`, which prints no logs, does not list them in its help.
    /// Log format (run, check, demo).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `failoverd=debug` (RUST_LOG overrides it).
    #[arg(long, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy, health checks and admin API.
    Run {
        /// The config file (TOML); re-read on SIGHUP and `POST /v1/reload`.
        #[arg(long, short)]
        config: PathBuf,
        /// Start even if the state file is corrupt, moving it aside (decisions are lost).
        #[arg(long)]
        fresh_state: bool,
    },
    /// Validate a config file: exit 0 when valid, 64 with the offending field named.
    Check {
        /// The config file (TOML) to validate.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Start two local stacks and narrate a real failover and failback through failoverd.
    Demo {
        /// The demo's config file.
        #[arg(long, short, default_value = "config/demo.toml")]
        config: PathBuf,
        /// Port of both stacks instead of the group's target_port; 0: one the kernel picks
        /// that is free on both stack addresses (with `:0` listeners in the config, the
        /// demo binds nothing on a fixed port).
        #[arg(long, value_name = "PORT")]
        stack_port: Option<u16>,
    },
    /// Operate a running failoverd through its admin API (status, switch, drain, ...).
    Ctl(ctl::CtlArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // ctl prints no tracing logs: its stderr is for its own error messages.
    if !matches!(cli.command, Command::Ctl(_)) {
        init_logging(cli.log_format, &cli.log_level);
    }
    match cli.command {
        Command::Ctl(args) => ctl::run(args),
        Command::Check { config } => check(&config),
        Command::Run {
            config,
            fresh_state,
        } => run(&config, fresh_state),
        Command::Demo { config, stack_port } => demo(&config, stack_port),
    }
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour_stderr()).init(),
        // No module path: events name failoverd's targets in a `target` field, and a
        // second `target` key would hide it from jq and log pipelines.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_ansi(false)
            .init(),
    }
}

/// Colours only for a person at a terminal, and not when `NO_COLOR` says no
/// (<https://no-color.org>: set and not empty): a file or journald gets plain text.
fn colour_stderr() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !no_color
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    let config = Config::load(path).map_err(|e| {
        eprintln!("failoverd: invalid config: {e}");
        ExitCode::from(EX_USAGE)
    })?;
    server::preflight(&config).map_err(|e| {
        eprintln!("failoverd: invalid config: {}: {e:#}", path.display());
        ExitCode::from(EX_USAGE)
    })?;
    Ok(config)
}

/// [`load`], then the checks that concern this machine rather than the config text: what
/// `check` and `run` verify (the demo uses a state directory of its own).
fn load_to_run(path: &std::path::Path) -> Result<Config, ExitCode> {
    let config = load(path)?;
    server::check_state_dir(&config).map_err(|e| {
        eprintln!("failoverd: invalid config: {}: {e:#}", path.display());
        ExitCode::from(EX_USAGE)
    })?;
    Ok(config)
}

fn check(path: &std::path::Path) -> ExitCode {
    match load_to_run(path) {
        Ok(config) => {
            let n = config.groups.len();
            let groups = if n == 1 { "group" } else { "groups" };
            println!("{}: ok ({n} {groups})", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn run(path: &std::path::Path, fresh_state: bool) -> ExitCode {
    let config = match load_to_run(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    failoverd::memory::release_free();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failoverd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        // Handlers first: a signal that arrives once the addresses are logged (a test, a
        // supervisor's reload) must find them, not the default action that kills.
        let handlers = Signals::install();
        let bound = server::bind(&config)?;
        let (shutdown, kill) = (CancellationToken::new(), CancellationToken::new());
        tokio::spawn(handlers.run(shutdown.clone(), kill.clone()));
        let options = server::RunOptions {
            config_path: Some(path.to_path_buf()),
            fresh_state,
        };
        server::run(config, bound, options, shutdown, kill).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %format!("{e:#}"), "failoverd stopped with an error");
            eprintln!("failoverd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(path: &std::path::Path, stack_port: Option<u16>) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let options = failoverd::demo::Options { stack_port };
    let result = runtime()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(failoverd::demo::run(config, options)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failoverd demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP handlers, installed before anything is bound.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        // SIGHUP is handled by the reconfiguration task; registering it here already
        // replaces the default action (terminate) for the whole process.
        if let Err(e) = signal(SignalKind::hangup()) {
            error!(error = %e, "cannot install the SIGHUP handler");
        }
        let (term, int) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        if term.is_err() || int.is_err() {
            error!("cannot install signal handlers");
        }
        Signals {
            term: term.ok(),
            int: int.ok(),
        }
    }

    /// First SIGTERM/SIGINT: drain. A second one: close everything now.
    async fn run(self, shutdown: CancellationToken, kill: CancellationToken) {
        let (Some(mut term), Some(mut int)) = (self.term, self.int) else {
            return;
        };
        for token in [shutdown, kill] {
            tokio::select! {
                _ = term.recv() => info!(signal = "SIGTERM", "signal received"),
                _ = int.recv() => info!(signal = "SIGINT", "signal received"),
            }
            token.cancel();
        }
    }
}

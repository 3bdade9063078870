//! Validation of `[[group.hook]]`: triggers, the command or webhook, the timeout.
//!
//! Errors name the hook by its 1-based position, as the file lists them:
//! `group "web": hook 2: timeout must be greater than 0s`.

use std::collections::HashSet;
use std::time::Duration;

use super::duration::show;
use super::fields::{check_domain_name, check_label_name};
use super::gate_rules;
use super::raw::RawHook;
use super::validate::{ConfigError, Result};
use super::{HookAction, HookConfig, HookStage, HookTrigger, WebhookUrl};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A runbook step that needs longer should be started by the hook and run on its own.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

pub(super) fn validate_hooks(group_scope: &str, raw: Vec<RawHook>) -> Result<Vec<HookConfig>> {
    let mut names: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, hook) in raw.into_iter().enumerate() {
        let scope = format!("{group_scope}: hook {}", i + 1);
        let hook = validate_hook(&scope, i + 1, hook)?;
        if !names.insert(hook.name.clone()) {
            return Err(ConfigError::new(
                scope,
                format!("name {:?} is already used by another hook", hook.name),
            ));
        }
        out.push(hook);
    }
    Ok(out)
}

fn validate_hook(scope: &str, position: usize, raw: RawHook) -> Result<HookConfig> {
    // Destructured so that a new raw field fails to compile until it is validated here.
    let RawHook {
        name,
        on,
        command,
        webhook,
        timeout,
        stage,
        retries,
        await_role,
    } = raw;
    let name = name.unwrap_or_else(|| format!("hook-{position}"));
    check_label_name(scope, "name", &name)?;
    let stage = gate_rules::stage(scope, stage.as_deref())?;
    let retries = gate_rules::retries(scope, retries)?;
    let await_role = gate_rules::await_role(scope, stage, await_role.as_deref())?;
    let on = match (stage, on) {
        (HookStage::Before, on) => gate_rules::directions(scope, on)?,
        (HookStage::After, Some(on)) => triggers(scope, on)?,
        (HookStage::After, None) => {
            return Err(ConfigError::new(
                scope,
                format!("on is required: one or more of {}", known_triggers()),
            ))
        }
    };
    let action = match (command, webhook) {
        (Some(argv), None) => HookAction::Command(command_argv(scope, argv)?),
        (None, Some(url)) => HookAction::Webhook(webhook_url(scope, &url)?),
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                scope,
                "set either command or webhook, not both (use two hooks to do both)",
            ))
        }
        (None, None) => {
            return Err(ConfigError::new(
                scope,
                "needs a command (argv list) or a webhook URL",
            ))
        }
    };
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(ConfigError::new(scope, "timeout must be greater than 0s"));
    }
    if timeout > MAX_TIMEOUT {
        return Err(ConfigError::new(
            scope,
            format!(
                "timeout ({}) must be at most {} (10m)",
                show(timeout),
                show(MAX_TIMEOUT)
            ),
        ));
    }
    Ok(HookConfig {
        name,
        on,
        action,
        timeout,
        stage,
        retries,
        await_role,
    })
}

fn known_triggers() -> String {
    let names: Vec<String> = HookTrigger::ALL
        .iter()
        .map(|t| format!("{:?}", t.as_str()))
        .collect();
    names.join(", ")
}

fn triggers(scope: &str, names: Vec<String>) -> Result<Vec<HookTrigger>> {
    if names.is_empty() {
        return Err(ConfigError::new(
            scope,
            format!("on must list at least one trigger of {}", known_triggers()),
        ));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let Some(trigger) = HookTrigger::from_name(&name) else {
            return Err(ConfigError::new(
                scope,
                format!("on {name:?} is not one of {}", known_triggers()),
            ));
        };
        if out.contains(&trigger) {
            return Err(ConfigError::new(scope, format!("on lists {name:?} twice")));
        }
        out.push(trigger);
    }
    Ok(out)
}

fn command_argv(scope: &str, argv: Vec<String>) -> Result<Vec<String>> {
    match argv.first() {
        None => {
            return Err(ConfigError::new(
                scope,
                "command must not be empty: write the program and its arguments, e.g. [\"/usr/local/bin/promote\", \"--fast\"]",
            ))
        }
        Some(program) if program.trim().is_empty() => {
            return Err(ConfigError::new(
                scope,
                "command[0] (the program) must not be empty",
            ))
        }
        Some(_) => {}
    }
    // The OS cannot pass a NUL inside an argument; say so now rather than at the failover.
    if let Some(i) = argv.iter().position(|a| a.contains('\0')) {
        return Err(ConfigError::new(
            scope,
            format!("command[{i}] contains a NUL character"),
        ));
    }
    Ok(argv)
}

/// A webhook URL, parsed by the `url` crate (WHATWG rules: scheme and host lowercased,
/// IPv6 literals unbracketed, default ports known), then held to what a webhook may be.
fn webhook_url(scope: &str, text: &str) -> Result<WebhookUrl> {
    let bad = |why: &str| ConfigError::new(scope, format!("webhook {text:?} {why}"));
    let url = match url::Url::parse(text.trim()) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(bad(
                "is not a valid URL (no scheme: it must be an http:// or https:// URL)",
            ))
        }
        Err(e) => return Err(bad(&format!("is not a valid URL ({e})"))),
    };
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(bad("must be an http:// or https:// URL")),
    };
    // Credentials do not belong in the config text (it is shown, copied, committed).
    // Nor are they repeated in this error.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            scope,
            "webhook must not hold user:password@ (credentials do not belong in the config text)",
        ));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => {
            check_domain_name(scope, "webhook host", d)?;
            d.to_string()
        }
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(bad("has no host")),
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    if port == 0 {
        return Err(bad("has port 0"));
    }
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(WebhookUrl {
        tls,
        host,
        port,
        path,
    })
}

#[cfg(test)]
mod tests;

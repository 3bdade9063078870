//! Validation of what makes a hook a gate: `stage`, `retries`, and the directions a gate's
//! `on` may name.

use super::validate::{ConfigError, Result};
use super::{HookStage, HookTrigger};

/// A gate runs for a switch in one of these directions (see `HookStage::Before`).
const DIRECTIONS: [HookTrigger; 3] = [
    HookTrigger::Failover,
    HookTrigger::Failback,
    HookTrigger::Switch,
];

const MAX_RETRIES: u32 = 10;

pub(super) fn stage(scope: &str, raw: Option<&str>) -> Result<HookStage> {
    match raw {
        None | Some("after") => Ok(HookStage::After),
        Some("before") => Ok(HookStage::Before),
        Some(other) => Err(ConfigError::new(
            scope,
            format!("stage {other:?} is not \"before\" (a gate, run before traffic moves) or \"after\" (the default)"),
        )),
    }
}

pub(super) fn await_role(
    scope: &str,
    stage: HookStage,
    raw: Option<&str>,
) -> Result<Option<crate::vocab::Role>> {
    let Some(name) = raw else {
        return Ok(None);
    };
    if stage != HookStage::Before {
        return Err(ConfigError::new(
            scope,
            "await_role belongs to a gate: set stage = \"before\" (an after-hook cannot hold traffic)",
        ));
    }
    match name {
        "primary" => Ok(Some(crate::vocab::Role::Primary)),
        other => Err(ConfigError::new(
            scope,
            format!(
                "await_role {other:?} is not \"primary\" (the role a switch's target must reach)"
            ),
        )),
    }
}

pub(super) fn retries(scope: &str, raw: Option<u32>) -> Result<u32> {
    let n = raw.unwrap_or(0);
    if n > MAX_RETRIES {
        return Err(ConfigError::new(
            scope,
            format!("retries ({n}) must be at most {MAX_RETRIES}"),
        ));
    }
    Ok(n)
}

/// A gate's `on`: the directions of the switches it guards; all of them when absent.
pub(super) fn directions(scope: &str, raw: Option<Vec<String>>) -> Result<Vec<HookTrigger>> {
    let Some(names) = raw else {
        return Ok(DIRECTIONS.to_vec());
    };
    let known = "\"failover\", \"failback\", \"switch\"";
    if names.is_empty() {
        return Err(ConfigError::new(
            scope,
            format!("on must list at least one of {known} for a gate (or be left out: all)"),
        ));
    }
    let mut out = Vec::new();
    for name in names {
        let found = DIRECTIONS.into_iter().find(|d| d.as_str() == name);
        let Some(d) = found else {
            return Err(ConfigError::new(
                scope,
                format!("on {name:?}: a gate (stage = \"before\") runs for a switch, so on names its direction: one of {known}"),
            ));
        };
        if out.contains(&d) {
            return Err(ConfigError::new(scope, format!("on lists {name:?} twice")));
        }
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, HookStage, HookTrigger};

    fn parse(hook: &str) -> Result<Vec<crate::config::HookConfig>, String> {
        let text = format!(
            "[[group]]\nname = \"web\"\n\n[group.health]\nkind = \"tcp\"\nport = 80\n\n\
             [[group.target]]\nname = \"main\"\naddress = \"192.0.2.1\"\n\n[[group.hook]]\n{hook}\n"
        );
        Config::parse(&text)
            .map(|c| c.groups[0].hooks.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_gate_guards_every_direction_unless_told() {
        let h = parse("stage = \"before\"\ncommand = [\"/bin/true\"]\nretries = 2").unwrap();
        assert_eq!(h[0].stage, HookStage::Before);
        assert_eq!(h[0].retries, 2);
        assert_eq!(
            h[0].on,
            [
                HookTrigger::Failover,
                HookTrigger::Failback,
                HookTrigger::Switch
            ]
        );
        let h =
            parse("stage = \"before\"\non = [\"failover\"]\ncommand = [\"/bin/true\"]").unwrap();
        assert_eq!(h[0].on, [HookTrigger::Failover]);
        let h = parse("on = [\"switch_failed\"]\ncommand = [\"/bin/true\"]").unwrap();
        assert_eq!((h[0].stage, h[0].retries), (HookStage::After, 0));
    }

    #[test]
    fn bad_gates_are_named() {
        let cases = [
            ("stage = \"first\"\non = [\"failover\"]\ncommand = [\"/bin/true\"]",
             "group \"web\": hook 1: stage \"first\" is not \"before\""),
            ("stage = \"before\"\non = [\"all_down\"]\ncommand = [\"/bin/true\"]",
             "group \"web\": hook 1: on \"all_down\": a gate (stage = \"before\") runs for a switch"),
            ("stage = \"before\"\non = []\ncommand = [\"/bin/true\"]",
             "on must list at least one of"),
            ("on = [\"failover\"]\nretries = 11\ncommand = [\"/bin/true\"]",
             "group \"web\": hook 1: retries (11) must be at most 10"),
            ("command = [\"/bin/true\"]", "group \"web\": hook 1: on is required"),
            ("on = [\"failover\"]\nawait_role = \"primary\"\ncommand = [\"/bin/true\"]",
             "hook 1: await_role belongs to a gate"),
            ("stage = \"before\"\nawait_role = \"leader\"\ncommand = [\"/bin/true\"]",
             "hook 1: await_role \"leader\" is not \"primary\""),
            ("stage = \"before\"\nawait_role = \"primary\"\ncommand = [\"/bin/true\"]",
             "group \"web\": hook 1: await_role needs a role check"),
        ];
        for (hook, want) in cases {
            let err = parse(hook).unwrap_err();
            assert!(err.contains(want), "{hook}: {err}");
        }
    }
}

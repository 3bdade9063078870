//! Validation of a group's `[[group.target]]` list: names, priorities and addresses.

use std::collections::HashSet;
use std::net::IpAddr;

use super::fields::*;
use super::raw::*;
use super::validate::{ConfigError, Result};
use super::*;

pub(super) fn validate_targets(scope: &str, raw: Vec<RawTarget>) -> Result<Vec<TargetConfig>> {
    if raw.is_empty() {
        return Err(ConfigError::new(
            scope,
            "no [[group.target]]: a group needs at least one target",
        ));
    }
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let RawTarget {
            name,
            address,
            priority,
        } = t;
        check_label_name(scope, "target.name", &name)?;
        if !names.insert(name.clone()) {
            return Err(ConfigError::new(
                scope,
                format!("duplicate target name {name:?}"),
            ));
        }
        let address = target_address(scope, &name, address)?;
        let priority = priority.unwrap_or(i as u32 + 1);
        out.push(TargetConfig {
            name,
            address,
            priority,
        });
    }
    Ok(out)
}

fn target_address(scope: &str, target: &str, raw: RawAddress) -> Result<TargetAddress> {
    let list = match raw {
        RawAddress::One(a) => vec![a],
        RawAddress::Many(list) => list,
    };
    let bad = |msg: String| ConfigError::new(scope, format!("target {target:?}: {msg}"));
    if list.is_empty() {
        return Err(bad("address list is empty".into()));
    }
    let ips: Vec<Option<IpAddr>> = list.iter().map(|a| a.parse().ok()).collect();
    if ips.iter().all(Option::is_some) {
        let ips: Vec<IpAddr> = ips.into_iter().flatten().collect();
        // A repeat would be answered twice in DNS and probed twice per interval.
        if let Some((i, ip)) = ips
            .iter()
            .enumerate()
            .find(|(i, ip)| ips[..*i].contains(ip))
        {
            return Err(bad(format!(
                "address {ip} is listed twice (entries {} and {})",
                ips.iter().position(|x| x == ip).unwrap_or(0) + 1,
                i + 1
            )));
        }
        return Ok(TargetAddress::Ips(ips));
    }
    if list.len() > 1 {
        return Err(bad(format!(
            "address list {list:?} must hold IP addresses only (a hostname stands alone)"
        )));
    }
    let host = list[0].strip_suffix('.').unwrap_or(&list[0]);
    if host.contains(':') || host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad(format!(
            "address {:?} is neither an IP address nor a hostname",
            list[0]
        )));
    }
    check_domain_name(scope, "target.address", &list[0])?;
    Ok(TargetAddress::Host(host.to_ascii_lowercase()))
}

#[cfg(test)]
mod validate_tests;

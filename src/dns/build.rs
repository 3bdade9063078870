//! Building the prepared answers (`answers.rs`) from the config and the group states.
//!
//! The supervisor builds an `Answers` in the same step as the snapshot it belongs to (one
//! `AnswerBuilder::build` per publish), so a DNS answer and the proxy's target always change
//! together. Names that never change (apex, nameservers, empty non-terminals) are encoded
//! once; a group's name is re-encoded only when its active targets changed, so a publish
//! with 1,000 groups costs one encode plus a map of 1,000 pointers.
//!
//! What each name answers is in `node.rs`. Names that do not exist (including names below
//! a failover address) are NXDOMAIN with the SOA; names outside the zone are REFUSED
//! (`respond.rs`).
//!
//! The SOA serial is (unix time when the builder was made) + snapshot version, as u32 with
//! wrapping: it grows with every published snapshot and never goes back while running; the
//! responder writes it into each response, so cached encodings stay valid.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use hickory_proto::rr::Name;
use hickory_proto::ProtoError;
use metrics::counter;
use tracing::error;

use super::answers::{Answers, Entry, NameMap, Node};
use super::encode::{self, Encoded, SoaParts};
use super::node::{self, Data, Zone};
use crate::config::{Config, DnsConfig, GroupConfig, TargetAddress};
use crate::group::snapshot::GroupSnap;
use crate::metrics as m;

/// Cannot build answers for a config; `failoverd check` reports it.
#[derive(Debug, thiserror::Error)]
#[error("dns: cannot encode answers for {name}: {source}")]
pub struct BuildError {
    name: String,
    source: ProtoError,
}

struct Cached {
    config: Arc<GroupConfig>,
    active: Vec<usize>,
    key: Arc<[u8]>,
    node: Arc<Node>,
}

/// Owned by the supervisor: turns each new set of group states into `Answers`.
pub struct AnswerBuilder {
    start_serial: u32,
    zone: Arc<[u8]>,
    soa: SoaParts,
    /// NS targets, with the glue addresses of those inside the zone.
    nameservers: Vec<(Name, Vec<IpAddr>)>,
    statics: Vec<Entry>,
    nxdomain: Arc<Encoded>,
    cache: Vec<Option<Cached>>,
}

impl AnswerBuilder {
    /// `Ok(None)` when the config has no `[dns]`.
    pub fn new(config: &Config) -> Result<Option<AnswerBuilder>, BuildError> {
        let Some(dns) = &config.dns else {
            return Ok(None);
        };
        let name = |n: &str| {
            Name::from_ascii(n).map_err(|source| BuildError {
                name: n.to_string(),
                source,
            })
        };
        let first_ns = dns
            .nameservers
            .first()
            .map_or(dns.zone.as_str(), |n| &n.name);
        let soa = SoaParts {
            zone: name(&dns.zone)?,
            mname: name(first_ns)?,
            rname: name(&dns.hostmaster)?,
            ttl: secs(dns.soa_ttl),
            minimum: secs(dns.negative_ttl),
        };
        let nxdomain =
            encode::uncompressed(&soa.negative_record()).map_err(|source| BuildError {
                name: dns.zone.clone(),
                source,
            })?;
        let start_serial = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        let mut nameservers = Vec::new();
        for ns in &dns.nameservers {
            let glue = if in_zone(&ns.name, &dns.zone) {
                ns.addresses.clone()
            } else {
                Vec::new()
            };
            nameservers.push((name(&ns.name)?, glue));
        }
        let mut builder = AnswerBuilder {
            start_serial,
            zone: encode::wire_name(&dns.zone).into(),
            soa,
            nameservers,
            statics: Vec::new(),
            nxdomain: Arc::new(nxdomain),
            cache: Vec::new(),
        };
        builder.statics = builder.static_nodes(dns, &config.groups)?;
        // Encode every group once now, so a name that cannot be encoded fails at start.
        for g in &config.groups {
            if let Some(n) = &g.dns_name {
                builder.group_node(n, g, &(0..g.targets.len()).collect::<Vec<_>>())?;
            }
        }
        Ok(Some(builder))
    }

    /// Like `new`, for the supervisor, which cannot fail: a config that `failoverd check`
    /// accepted always encodes, so an error here is logged and DNS answers SERVFAIL.
    pub fn for_config(config: &Config) -> Option<AnswerBuilder> {
        AnswerBuilder::new(config).unwrap_or_else(|e| {
            error!(error = %e, "dns answers unavailable");
            None
        })
    }

    /// The answers for these group states; snapshot `version` sets the SOA serial.
    pub fn build(&mut self, version: u64, groups: &[GroupSnap]) -> Arc<Answers> {
        let mut names = NameMap::with_capacity_and_hasher(
            self.statics.len() + groups.len(),
            Default::default(),
        );
        for (key, node) in &self.statics {
            names.insert(key.clone(), node.clone());
        }
        self.cache.resize_with(groups.len(), || None);
        for (i, g) in groups.iter().enumerate() {
            let Some(dns_name) = g.config.dns_name.as_deref() else {
                continue;
            };
            let fresh = match &self.cache[i] {
                Some(c) => !Arc::ptr_eq(&c.config, &g.config) || c.active != g.active,
                None => true,
            };
            if fresh {
                match self.group_node(dns_name, &g.config, &g.active) {
                    Ok(node) => {
                        self.cache[i] = Some(Cached {
                            config: g.config.clone(),
                            active: g.active.clone(),
                            key: encode::wire_name(dns_name).into(),
                            node: Arc::new(node),
                        })
                    }
                    Err(e) => {
                        error!(group = %g.name(), error = %e, "cannot encode dns answers");
                        self.cache[i] = None;
                    }
                }
            }
            if let Some(c) = &self.cache[i] {
                names.insert(c.key.clone(), c.node.clone());
            }
        }
        Arc::new(Answers {
            serial: self.start_serial.wrapping_add(version as u32),
            zone: self.zone.clone(),
            names,
            nxdomain: self.nxdomain.clone(),
        })
    }

    fn group_node(
        &self,
        dns_name: &str,
        g: &GroupConfig,
        active: &[usize],
    ) -> Result<Node, BuildError> {
        let mut data = Data {
            ttl: secs(g.ttl),
            servfail: active.is_empty(),
            counters: g
                .targets
                .iter()
                .map(|t| counter!(m::DNS_ANSWERS_TOTAL, "group" => g.name.clone(), "target" => t.name.clone()))
                .collect(),
            ..Data::default()
        };
        for &i in active {
            let Some(t) = g.targets.get(i) else { continue };
            match &t.address {
                TargetAddress::Ips(ips) => data.add_ips(ips, Some(i)),
                TargetAddress::Host(h) if data.cname.is_none() => {
                    let target =
                        Name::from_ascii(format!("{h}.")).map_err(|source| BuildError {
                            name: h.clone(),
                            source,
                        })?;
                    data.cname = Some((target, i));
                }
                TargetAddress::Host(_) => {}
            }
        }
        self.node(dns_name, &data)
    }

    fn node(&self, name: &str, d: &Data) -> Result<Node, BuildError> {
        let err = |source| BuildError {
            name: name.to_string(),
            source,
        };
        let zone = Zone {
            soa: &self.soa,
            nameservers: &self.nameservers,
        };
        node::encode(&Name::from_ascii(name).map_err(err)?, d, &zone).map_err(err)
    }

    /// Apex, in-zone nameserver names and empty non-terminals: fixed for the config.
    fn static_nodes(
        &self,
        dns: &DnsConfig,
        groups: &[GroupConfig],
    ) -> Result<Vec<Entry>, BuildError> {
        let mut datas: BTreeMap<String, Data> = BTreeMap::new();
        let apex = datas.entry(dns.zone.clone()).or_default();
        apex.apex = true;
        for ns in dns
            .nameservers
            .iter()
            .filter(|n| in_zone(&n.name, &dns.zone))
        {
            let d = datas.entry(ns.name.clone()).or_default();
            d.ttl = secs(dns.soa_ttl);
            d.add_ips(&ns.addresses, None);
        }
        let group_names: BTreeSet<&str> = groups
            .iter()
            .filter_map(|g| g.dns_name.as_deref())
            .collect();
        let mut ents = BTreeSet::new();
        for name in group_names
            .iter()
            .copied()
            .chain(datas.keys().map(String::as_str))
        {
            let mut cur = name;
            while let Some((_, parent)) = cur.split_once('.') {
                if parent.len() <= dns.zone.len() || !in_zone(parent, &dns.zone) {
                    break;
                }
                if !group_names.contains(parent) && !datas.contains_key(parent) {
                    ents.insert(parent.to_string());
                }
                cur = parent;
            }
        }
        for e in ents {
            datas.entry(e).or_default();
        }
        datas
            .iter()
            .map(|(n, d)| Ok((encode::wire_name(n).into(), Arc::new(self.node(n, d)?))))
            .collect()
    }
}

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

fn secs(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;

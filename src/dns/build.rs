//! Building the prepared answers (`answers.rs`) from the config and the group states.
//!
//! The supervisor builds an `Answers` in the same step as the snapshot it belongs to (one
//! `AnswerBuilder::build` per publish), so a DNS answer and the proxy's target always change
//! together. Names that never change (apex, nameservers, empty non-terminals) and the name
//! index are made once per config; a publish looks only at the groups that changed, and
//! re-encodes a group's name only when its active targets changed. A publish with 10,000
//! groups and one change costs one encode (or none) plus a copy of 10,000 pointers.
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

use super::answers::{Answers, Entry, NameMap, Node, Slot};
use super::encode::{self, Encoded, SoaParts};
use super::node::{self, Data, Zone};
use crate::config::{Config, DnsConfig, GroupConfig, TargetAddress};
use crate::group::snapshot::{Derive, Derived, GroupSnap};
use crate::metrics as m;
use crate::metrics::book;

/// Cannot build answers for a config; `failoverd check` reports it.
#[derive(Debug, thiserror::Error)]
#[error("dns: cannot encode answers for {name}: {source}")]
pub struct BuildError {
    name: String,
    source: ProtoError,
}

/// What a group's node was made from.
struct Made {
    config: Arc<GroupConfig>,
    active: Vec<usize>,
}

/// Owned by the supervisor: turns each new set of group states into `Answers`.
pub struct AnswerBuilder {
    start_serial: u32,
    fixed_serial: Option<u32>,
    zone: Arc<[u8]>,
    soa: SoaParts,
    /// NS targets, with the glue addresses of those inside the zone.
    nameservers: Vec<(Name, Vec<IpAddr>)>,
    nxdomain: Arc<Encoded>,
    /// Every name of the zone, for the whole life of this config.
    names: Arc<NameMap>,
    /// Each group's node and what it was made from, by group index.
    nodes: Vec<Option<Arc<Node>>>,
    made: Vec<Option<Made>>,
    /// Group names encoded by `build` so far (what a publish cost).
    encoded: u64,
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
            fixed_serial: None,
            zone: encode::wire_name(&dns.zone).into(),
            soa,
            nameservers,
            nxdomain: Arc::new(nxdomain),
            names: Arc::default(),
            nodes: Vec::new(),
            made: Vec::new(),
            encoded: 0,
        };
        let statics = builder.static_nodes(dns, &config.groups)?;
        let mut names = NameMap::with_capacity_and_hasher(
            statics.len() + config.groups.len(),
            Default::default(),
        );
        for (key, node) in statics {
            names.insert(key, Slot::Fixed(node));
        }
        for (i, g) in config.groups.iter().enumerate() {
            if let Some(n) = &g.dns_name {
                // Encoded once now with every target, so a name that cannot be encoded
                // fails at start (and in `failoverd check`), not at the first publish.
                builder.group_node(n, g, &(0..g.targets.len()).collect::<Vec<_>>())?;
                names.insert(encode::wire_name(n).into(), Slot::Group(i));
            }
        }
        builder.names = Arc::new(names);
        builder.nodes = vec![None; config.groups.len()];
        builder.made.resize_with(config.groups.len(), || None);
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

    /// The answers for these group states, where only the groups at `changed` may differ
    /// from the last build; snapshot `version` sets the SOA serial.
    pub fn build(
        &mut self,
        version: u64,
        groups: &[Arc<GroupSnap>],
        changed: impl IntoIterator<Item = usize>,
    ) -> Arc<Answers> {
        for i in changed {
            let Some(g) = groups.get(i) else { continue };
            if i >= self.nodes.len() {
                continue; // not a group of this builder's config
            }
            let Some(dns_name) = g.config.dns_name.as_deref() else {
                continue;
            };
            let same = self.made[i]
                .as_ref()
                .is_some_and(|m| Arc::ptr_eq(&m.config, &g.config) && m.active == g.active);
            if same {
                continue; // a verdict that did not change the active targets
            }
            counter!(m::DNS_NAMES_REBUILT_TOTAL).increment(1);
            self.encoded += 1;
            match self.group_node(dns_name, &g.config, &g.active) {
                Ok(node) => {
                    self.nodes[i] = Some(Arc::new(node));
                    self.made[i] = Some(Made {
                        config: g.config.clone(),
                        active: g.active.clone(),
                    });
                }
                Err(e) => {
                    error!(group = %g.name(), error = %e, "cannot encode dns answers");
                    self.nodes[i] = None;
                    self.made[i] = None;
                }
            }
        }
        Arc::new(Answers {
            serial: self
                .fixed_serial
                .unwrap_or_else(|| self.start_serial.wrapping_add(version as u32)),
            zone: self.zone.clone(),
            names: self.names.clone(),
            groups: self.nodes.clone(),
            nxdomain: self.nxdomain.clone(),
        })
    }

    /// Makes `serial` the SOA serial of every build from now on, instead of one derived
    /// from the snapshot version: with a cluster, the etcd revision of the newest decision,
    /// which every instance that saw the same decisions gives alike.
    pub fn use_serial(&mut self, serial: u32) {
        self.fixed_serial = Some(serial);
    }

    /// How many group names `build` has encoded.
    pub fn encoded(&self) -> u64 {
        self.encoded
    }

    /// Builds every group (the first snapshot of a config).
    pub fn build_all(&mut self, version: u64, groups: &[Arc<GroupSnap>]) -> Arc<Answers> {
        self.build(version, groups, 0..groups.len())
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
                .map(|t| book::target(&g.name, &t.name))
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
        groups: &[Arc<GroupConfig>],
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
mod tests;

/// The DNS answers are what each publish derives (see `group::snapshot::Derive`).
impl Derive for AnswerBuilder {
    fn derive(
        &mut self,
        version: u64,
        serial: Option<u32>,
        groups: &[Arc<GroupSnap>],
        changed: &[usize],
    ) -> Derived {
        if let Some(serial) = serial {
            self.use_serial(serial);
        }
        Derived(self.build(version, groups, changed.iter().copied()))
    }
}

/// The deriver of `config`: its answer builder (`None` without `[dns]`, or logged when the
/// zone cannot be built: preflight refuses such a config before it gets here).
pub fn deriver(config: &Config) -> Option<Box<dyn Derive>> {
    AnswerBuilder::for_config(config).map(|b| Box::new(b) as Box<dyn Derive>)
}

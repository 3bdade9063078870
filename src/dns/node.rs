//! Encoding one name: what it holds (`Data`) in, every response it gives (`Node`) out.
//!
//! Semantics per name (RFC 1034, 2308, 8482):
//! - failover address: A / AAAA with every IP of the active tier (TTL = group ttl); a tier
//!   with a hostname target answers a CNAME to the first such target (so a tier mixing
//!   hostnames and IPs answers that CNAME only). An in-zone CNAME target is not chased:
//!   resolvers follow the CNAME themselves;
//! - in-zone nameserver names: their A / AAAA (TTL = SOA TTL);
//! - no active target (`fail_closed`, all down): SERVFAIL for every type;
//! - a CNAME answers every type (RFC 1034 3.6.2: nothing else may live at that name);
//! - A / AAAA / SOA / NS answer their type; ANY gets one RRset (RFC 8482, minimal): the
//!   first of A, AAAA, SOA the name has;
//! - every other type: NODATA (NOERROR, empty answer, the SOA in authority with the
//!   negative TTL), also for empty non-terminals, which hold nothing at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record};
use hickory_proto::ProtoError;

use super::answers::{Node, Prepared};
use super::encode::{self, Sections, SoaParts};
use super::stats::Rcode;
use crate::metrics::book::TargetStats;

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_SOA: u16 = 6;
const TYPE_AAAA: u16 = 28;
const TYPE_ANY: u16 = 255;

/// What one name holds, before encoding. `usize` indexes `counters` (the target that a
/// record comes from, counted when it is answered).
#[derive(Default)]
pub struct Data {
    pub ttl: u32,
    pub v4: Vec<(Ipv4Addr, Option<usize>)>,
    pub v6: Vec<(Ipv6Addr, Option<usize>)>,
    pub cname: Option<(Name, usize)>,
    /// The apex: SOA and NS (with glue) live here.
    pub apex: bool,
    pub servfail: bool,
    pub counters: Vec<Arc<TargetStats>>,
}

impl Data {
    pub fn add_ips(&mut self, ips: &[IpAddr], target: Option<usize>) {
        for ip in ips {
            match ip {
                IpAddr::V4(v4) => self.v4.push((*v4, target)),
                IpAddr::V6(v6) => self.v6.push((*v6, target)),
            }
        }
    }
}

/// Zone-wide records a node may need.
pub struct Zone<'a> {
    pub soa: &'a SoaParts,
    /// NS targets, with the glue addresses of those inside the zone.
    pub nameservers: &'a [(Name, Vec<IpAddr>)],
}

/// Encodes every response of `name`.
pub fn encode(name: &Name, d: &Data, zone: &Zone<'_>) -> Result<Node, ProtoError> {
    let p = Preparer { name, d };
    if d.servfail {
        return p.only(p.servfail()?);
    }
    if let Some((target, i)) = &d.cname {
        return p.only(p.answer(&[encode::cname(name, d.ttl, target)], &[], &[*i])?);
    }
    let mut by_type: Vec<(u16, Prepared)> = Vec::new();
    let a: Vec<Record> =
        d.v4.iter()
            .map(|(ip, _)| encode::a(name, d.ttl, *ip))
            .collect();
    if !a.is_empty() {
        by_type.push((TYPE_A, p.answer(&a, &[], &targets(&d.v4))?));
    }
    let aaaa: Vec<Record> =
        d.v6.iter()
            .map(|(ip, _)| encode::aaaa(name, d.ttl, *ip))
            .collect();
    if !aaaa.is_empty() {
        by_type.push((TYPE_AAAA, p.answer(&aaaa, &[], &targets(&d.v6))?));
    }
    if d.apex {
        let soa = [zone.soa.record(zone.soa.ttl)];
        by_type.push((TYPE_SOA, p.answer(&soa, &[], &[])?));
        let (ns, glue) = ns_records(name, zone);
        by_type.push((TYPE_NS, p.answer(&ns, &glue, &[])?));
    }
    let any = [TYPE_A, TYPE_AAAA, TYPE_SOA].iter().find_map(|t| {
        by_type
            .iter()
            .find(|(bt, _)| bt == t)
            .map(|(_, p)| p.clone())
    });
    if let Some(any) = any {
        by_type.push((TYPE_ANY, any));
    }
    let other = p.nodata(zone.soa)?;
    Ok(Node { by_type, other })
}

struct Preparer<'a> {
    name: &'a Name,
    d: &'a Data,
}

impl Preparer<'_> {
    fn only(&self, other: Prepared) -> Result<Node, ProtoError> {
        Ok(Node {
            by_type: Vec::new(),
            other,
        })
    }

    fn answer(
        &self,
        answers: &[Record],
        additionals: &[Record],
        hits: &[usize],
    ) -> Result<Prepared, ProtoError> {
        self.prepare(ResponseCode::NoError, answers, &[], additionals, hits)
    }

    fn nodata(&self, soa: &SoaParts) -> Result<Prepared, ProtoError> {
        self.prepare(
            ResponseCode::NoError,
            &[],
            &[soa.negative_record()],
            &[],
            &[],
        )
    }

    fn servfail(&self) -> Result<Prepared, ProtoError> {
        self.prepare(ResponseCode::ServFail, &[], &[], &[], &[])
    }

    fn prepare(
        &self,
        rcode: ResponseCode,
        answers: &[Record],
        authorities: &[Record],
        additionals: &[Record],
        hits: &[usize],
    ) -> Result<Prepared, ProtoError> {
        let servfail = rcode == ResponseCode::ServFail;
        let sections = Sections {
            rcode,
            // A SERVFAIL vouches for nothing, so it is not marked authoritative.
            authoritative: !servfail,
            answers,
            authorities,
            additionals,
        };
        let msg = encode::response(self.name, &sections)?;
        let hits: Vec<Arc<TargetStats>> = hits
            .iter()
            .filter_map(|&i| self.d.counters.get(i).cloned())
            .collect();
        Ok(Prepared {
            msg: Arc::new(msg),
            rcode: if servfail {
                Rcode::ServFail
            } else {
                Rcode::NoError
            },
            hits: hits.into(),
        })
    }
}

/// The apex NS RRset, and the glue (A/AAAA of in-zone nameservers) for the additional
/// section so that a resolver need not ask again.
fn ns_records(apex: &Name, zone: &Zone<'_>) -> (Vec<Record>, Vec<Record>) {
    let ttl = zone.soa.ttl;
    let mut ns = Vec::new();
    let (mut glue_a, mut glue_aaaa) = (Vec::new(), Vec::new());
    for (target, addrs) in zone.nameservers {
        ns.push(encode::ns(apex, ttl, target));
        for ip in addrs {
            match ip {
                IpAddr::V4(v4) => glue_a.push(encode::a(target, ttl, *v4)),
                IpAddr::V6(v6) => glue_aaaa.push(encode::aaaa(target, ttl, *v6)),
            }
        }
    }
    glue_a.extend(glue_aaaa);
    (ns, glue_a)
}

/// The distinct targets behind an RRset, each counted once per answer.
fn targets<T>(ips: &[(T, Option<usize>)]) -> Vec<usize> {
    let mut out: Vec<usize> = ips.iter().filter_map(|(_, t)| *t).collect();
    out.dedup();
    out
}

//! DNS counters, registered once: one handle per query-type bucket and per response code,
//! held in arrays so that the query path increments without any label lookup.

use metrics::{counter, Counter};

use crate::metrics as m;

/// The response codes failoverd sends (BADVERS is the extended code 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    BadVers,
}

impl Rcode {
    const ALL: [Rcode; 7] = [
        Rcode::NoError,
        Rcode::FormErr,
        Rcode::ServFail,
        Rcode::NxDomain,
        Rcode::NotImp,
        Rcode::Refused,
        Rcode::BadVers,
    ];

    /// The 12-bit code: the low 4 bits go in the header, the rest in the OPT record.
    pub fn value(self) -> u16 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::BadVers => 16,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
            Rcode::BadVers => "BADVERS",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Query types with their own label; every other type counts as `other`, which keeps
/// the label set bounded whatever clients send.
const QTYPES: [(u16, &str); 15] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (2, "NS"),
    (6, "SOA"),
    (15, "MX"),
    (16, "TXT"),
    (255, "ANY"),
    (12, "PTR"),
    (33, "SRV"),
    (257, "CAA"),
    (65, "HTTPS"),
    (64, "SVCB"),
    (252, "AXFR"),
    (251, "IXFR"),
];

pub struct DnsMetrics {
    /// Indexed like `QTYPES`, with `other` last.
    queries: Vec<Counter>,
    /// Indexed by `Rcode::slot`.
    responses: Vec<Counter>,
}

impl DnsMetrics {
    pub fn new() -> DnsMetrics {
        let mut queries: Vec<Counter> = QTYPES
            .iter()
            .map(|(_, name)| counter!(m::DNS_QUERIES_TOTAL, "qtype" => *name))
            .collect();
        queries.push(counter!(m::DNS_QUERIES_TOTAL, "qtype" => "other"));
        let responses = Rcode::ALL
            .iter()
            .map(|r| counter!(m::DNS_RESPONSES_TOTAL, "rcode" => r.label()))
            .collect();
        DnsMetrics { queries, responses }
    }

    pub fn query(&self, qtype: u16) {
        let slot = QTYPES
            .iter()
            .position(|(t, _)| *t == qtype)
            .unwrap_or(QTYPES.len());
        if let Some(c) = self.queries.get(slot) {
            c.increment(1);
        }
    }

    pub fn response(&self, rcode: Rcode) {
        if let Some(c) = self.responses.get(rcode.slot()) {
            c.increment(1);
        }
    }
}

impl Default for DnsMetrics {
    fn default() -> Self {
        DnsMetrics::new()
    }
}

//! Encoding prepared responses with hickory-proto, once per snapshot (never per query).
//!
//! A prepared response is a whole DNS message for one name: header (ID 0, QR, AA, rcode,
//! counts), the question with the lowercased name, then the records. hickory's encoder
//! compresses names, so every owner name equal to the question becomes a pointer to offset
//! 12; the responder overwrites the question bytes with the query's own (same length), and
//! the case the client sent shows through every pointer. Where an SOA is encoded, the offset
//! of its serial is recorded so the responder can write the current serial in place.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::ProtoError;

/// SOA timers for secondaries (there are none: failoverd has no zone transfer), set to
/// the values RFC 1912 and zone checkers expect so that no linter flags them.
const SOA_REFRESH: i32 = 14_400;
const SOA_RETRY: i32 = 3_600;
const SOA_EXPIRE: i32 = 1_209_600;
/// The serial is the last field but four (refresh, retry, expire, minimum: 16 bytes).
const SERIAL_FROM_END: usize = 20;

/// The zone-wide values every SOA is made of.
#[derive(Debug, Clone)]
pub struct SoaParts {
    pub zone: Name,
    pub mname: Name,
    pub rname: Name,
    pub ttl: u32,
    /// SOA minimum: the negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

impl SoaParts {
    pub fn record(&self, ttl: u32) -> Record {
        let soa = SOA::new(
            self.mname.clone(),
            self.rname.clone(),
            0,
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            self.minimum,
        );
        Record::from_rdata(self.zone.clone(), ttl, RData::SOA(soa))
    }

    /// RFC 2308 section 5: negative answers are cached for min(SOA TTL, SOA minimum), and
    /// the SOA in them carries that TTL.
    pub fn negative_ttl(&self) -> u32 {
        self.ttl.min(self.minimum)
    }

    /// The SOA a negative answer carries in its authority section.
    pub fn negative_record(&self) -> Record {
        self.record(self.negative_ttl())
    }
}

/// One encoded message and where its SOA serial is (0: no SOA).
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Box<[u8]>,
    pub serial_at: usize,
}

/// The sections of a response to encode.
pub struct Sections<'a> {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: &'a [Record],
    pub authorities: &'a [Record],
    pub additionals: &'a [Record],
}

/// Encodes a full response for a question about `name` (type A as a placeholder: the
/// responder copies the query's own question over it).
pub fn response(name: &Name, s: &Sections<'_>) -> Result<Encoded, ProtoError> {
    let mut metadata = Metadata::new(0, MessageType::Response, OpCode::Query);
    metadata.authoritative = s.authoritative;
    metadata.response_code = s.rcode;
    let counts = HeaderCounts {
        queries: 1,
        answers: count(s.answers)?,
        authorities: count(s.authorities)?,
        additionals: count(s.additionals)?,
    };
    let mut buf = Vec::with_capacity(512);
    let mut serial_at = 0;
    {
        let mut enc = BinEncoder::new(&mut buf);
        Header { metadata, counts }.emit(&mut enc)?;
        Query::query(name.clone(), RecordType::A).emit(&mut enc)?;
        for r in s.answers.iter().chain(s.authorities).chain(s.additionals) {
            r.emit(&mut enc)?;
            if r.record_type() == RecordType::SOA {
                serial_at = enc.offset() - SERIAL_FROM_END;
            }
        }
    }
    Ok(Encoded {
        bytes: buf.into_boxed_slice(),
        serial_at,
    })
}

fn count(records: &[Record]) -> Result<u16, ProtoError> {
    u16::try_from(records.len()).map_err(|_| ProtoError::Message("too many records"))
}

/// The SOA record alone, with every name written in full: it is appended after a question
/// of unknown length (NXDOMAIN), so it cannot point into the message.
pub fn uncompressed(record: &Record) -> Result<Encoded, ProtoError> {
    let mut buf = Vec::with_capacity(128);
    {
        let mut enc = BinEncoder::new(&mut buf);
        enc.set_name_encoding(NameEncoding::Uncompressed);
        record.emit(&mut enc)?;
    }
    let serial_at = if record.record_type() == RecordType::SOA {
        buf.len() - SERIAL_FROM_END
    } else {
        0
    };
    Ok(Encoded {
        bytes: buf.into_boxed_slice(),
        serial_at,
    })
}

pub fn a(name: &Name, ttl: u32, ip: Ipv4Addr) -> Record {
    Record::from_rdata(name.clone(), ttl, RData::A(A(ip)))
}

pub fn aaaa(name: &Name, ttl: u32, ip: Ipv6Addr) -> Record {
    Record::from_rdata(name.clone(), ttl, RData::AAAA(AAAA(ip)))
}

pub fn cname(name: &Name, ttl: u32, target: &Name) -> Record {
    Record::from_rdata(name.clone(), ttl, RData::CNAME(CNAME(target.clone())))
}

pub fn ns(name: &Name, ttl: u32, target: &Name) -> Record {
    Record::from_rdata(name.clone(), ttl, RData::NS(NS(target.clone())))
}

/// Wire form of an absolute, lowercase name (the lookup key): length-prefixed labels and
/// a final zero.
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 1);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    out
}

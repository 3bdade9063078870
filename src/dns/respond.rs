//! The query path: parse, look up, copy the prepared response, patch it. No allocation:
//! the caller's output buffer is reused, names are lowercased on the stack.
//!
//! Patching a prepared response touches: the ID; RD and CD, copied from the query
//! (RFC 6895 2); the question, overwritten with the query's own bytes (same length, since
//! the name matched case-insensitively), which carries 0x20 case into every compressed
//! owner name; and the SOA serial. Then our OPT record is appended when the query had
//! one, and a UDP response that does not fit is cut down to header + question with TC set.

use super::answers::{Answers, Prepared};
use super::stats::{Rcode, Tally};
use super::wire::{
    self, Edns, Request, CLASS_IN, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, FLAG_TC, HEADER_LEN,
    MAX_NAME_LEN,
};

/// The payload size we advertise and the most we put in a UDP response: the DNS flag day
/// 2020 value, which fits unfragmented on practically every path.
pub const OUR_PAYLOAD: u16 = 1232;
/// RFC 1035: the limit without EDNS, and the floor for a smaller advertised size.
pub const CLASSIC_UDP: usize = 512;
/// Largest message that fits a TCP length prefix.
pub const TCP_MAX: usize = 65_535;

const QTYPE_IXFR: u16 = 251;
const QTYPE_AXFR: u16 = 252;
const OPT_LEN: usize = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Writes the response to `packet` into `out` (cleared first). Returns false when the
/// packet must be dropped without an answer.
pub fn respond(
    answers: Option<&Answers>,
    packet: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
    tally: &mut Tally,
) -> bool {
    let Some(req) = wire::parse(packet) else {
        return false;
    };
    out.clear();
    if let Some(q) = req.question {
        tally.query(q.qtype);
    }
    let rcode = answer(answers, packet, &req, out, tally);
    finish(out, &req, rcode, transport);
    tally.response(rcode);
    true
}

fn answer(
    answers: Option<&Answers>,
    packet: &[u8],
    req: &Request,
    out: &mut Vec<u8>,
    tally: &mut Tally,
) -> Rcode {
    let Some(q) = req.question.filter(|_| req.problem.is_none()) else {
        return error(packet, req, Rcode::FormErr, out);
    };
    if req.opcode() != 0 {
        return error(packet, req, Rcode::NotImp, out);
    }
    if req.edns.is_some_and(|e| e.version > 0) {
        return error(packet, req, Rcode::BadVers, out);
    }
    if q.qclass != CLASS_IN || q.qtype == QTYPE_AXFR || q.qtype == QTYPE_IXFR {
        return error(packet, req, Rcode::Refused, out);
    }
    let Some(answers) = answers else {
        return error(packet, req, Rcode::ServFail, out);
    };
    let mut lower = [0u8; MAX_NAME_LEN];
    let Some(name) = packet.get(HEADER_LEN..q.name_end) else {
        return error(packet, req, Rcode::FormErr, out);
    };
    let Some(lc) = lower.get_mut(..name.len()) else {
        return error(packet, req, Rcode::FormErr, out);
    };
    // Length octets are at most 63, below b'A', so lowercasing the whole wire name only
    // touches label characters.
    for (d, s) in lc.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    if !in_zone(lc, answers.zone()) {
        return error(packet, req, Rcode::Refused, out);
    }
    match answers.node(lc) {
        Some(node) => prepared(
            node.prepared(q.qtype),
            answers.serial(),
            packet,
            req,
            q.end,
            out,
            tally,
        ),
        None => nxdomain(answers, packet, req, q.end, out),
    }
}

fn prepared(
    p: &Prepared,
    serial: u32,
    packet: &[u8],
    req: &Request,
    qend: usize,
    out: &mut Vec<u8>,
    tally: &mut Tally,
) -> Rcode {
    out.extend_from_slice(&p.msg.bytes);
    let (Some(dst), Some(src)) = (out.get_mut(HEADER_LEN..qend), packet.get(HEADER_LEN..qend))
    else {
        // Unreachable (the key matched, so the lengths agree), but never worth a panic.
        out.clear();
        return error(packet, req, Rcode::ServFail, out);
    };
    dst.copy_from_slice(src);
    let flags = u16::from_be_bytes([out[2], out[3]]) | (req.flags & (FLAG_RD | FLAG_CD));
    set_u16(out, 0, req.id);
    set_u16(out, 2, flags);
    write_serial(out, p.msg.serial_at, serial);
    tally.hits(&p.hits);
    p.rcode
}

/// Header + the query's question + the SOA (written with full names, as its position
/// after a question of any length rules out pointers).
fn nxdomain(
    answers: &Answers,
    packet: &[u8],
    req: &Request,
    qend: usize,
    out: &mut Vec<u8>,
) -> Rcode {
    let flags = FLAG_QR | FLAG_AA | (req.flags & (FLAG_RD | FLAG_CD)) | Rcode::NxDomain.value();
    header(out, req.id, flags, [1, 0, 1, 0]);
    out.extend_from_slice(packet.get(HEADER_LEN..qend).unwrap_or_default());
    let tail = answers.nxdomain_tail();
    let base = out.len();
    out.extend_from_slice(&tail.bytes);
    write_serial(out, base + tail.serial_at, answers.serial());
    Rcode::NxDomain
}

/// FORMERR, NOTIMP, REFUSED, BADVERS, SERVFAIL: the header (opcode kept) and the
/// question when it could be read.
fn error(packet: &[u8], req: &Request, rcode: Rcode, out: &mut Vec<u8>) -> Rcode {
    let keep = req.flags & (0x7800 | FLAG_RD | FLAG_CD);
    let flags = FLAG_QR | keep | (rcode.value() & 0x0f);
    let question = req.question.and_then(|q| packet.get(HEADER_LEN..q.end));
    header(out, req.id, flags, [u16::from(question.is_some()), 0, 0, 0]);
    if let Some(q) = question {
        out.extend_from_slice(q);
    }
    rcode
}

/// Appends our OPT when the query had a usable one, and truncates a UDP response that
/// does not fit the client's limit to header + question, TC set (RFC 2181 9).
fn finish(out: &mut Vec<u8>, req: &Request, rcode: Rcode, transport: Transport) {
    let edns = req.edns.filter(|_| req.problem.is_none());
    let limit = match (transport, edns) {
        (Transport::Tcp, _) => TCP_MAX,
        (Transport::Udp, None) => CLASSIC_UDP,
        (Transport::Udp, Some(e)) => (e.payload as usize).clamp(CLASSIC_UDP, OUR_PAYLOAD as usize),
    };
    let opt_len = if edns.is_some() { OPT_LEN } else { 0 };
    if out.len() + opt_len > limit && out.len() >= HEADER_LEN {
        let qend = req.question.map_or(HEADER_LEN, |q| q.end).min(out.len());
        out.truncate(qend);
        let flags = u16::from_be_bytes([out[2], out[3]]) | FLAG_TC;
        set_u16(out, 2, flags);
        for at in [6, 8, 10] {
            set_u16(out, at, 0);
        }
    }
    if let Some(e) = edns {
        push_opt(out, e, rcode);
    }
}

/// Our OPT: root owner, our payload size, the extended rcode bits, version 0, the DO bit
/// echoed (RFC 3225), no options.
fn push_opt(out: &mut Vec<u8>, e: Edns, rcode: Rcode) {
    let ext = (rcode.value() >> 4) as u8;
    let payload = OUR_PAYLOAD.to_be_bytes();
    let do_bit = if e.dnssec_ok { 0x80 } else { 0 };
    out.extend_from_slice(&[0, 0, 41, payload[0], payload[1], ext, 0, do_bit, 0, 0, 0]);
    if out.len() >= HEADER_LEN {
        let ar = u16::from_be_bytes([out[10], out[11]]).wrapping_add(1);
        set_u16(out, 10, ar);
    }
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
}

fn set_u16(out: &mut [u8], at: usize, v: u16) {
    if let Some(dst) = out.get_mut(at..at + 2) {
        dst.copy_from_slice(&v.to_be_bytes());
    }
}

fn write_serial(out: &mut [u8], at: usize, serial: u32) {
    if at == 0 {
        return;
    }
    if let Some(dst) = out.get_mut(at..at + 4) {
        dst.copy_from_slice(&serial.to_be_bytes());
    }
}

/// Is the lowercase wire `name` the zone or below it? The zone must end the name on a
/// label boundary ("xzone." is not in "zone.").
pub fn in_zone(name: &[u8], zone: &[u8]) -> bool {
    let Some(start) = name.len().checked_sub(zone.len()) else {
        return false;
    };
    if name[start..] != *zone {
        return false;
    }
    let mut at = 0;
    while at < start {
        at += 1 + name[at] as usize;
    }
    at == start
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz_tests;

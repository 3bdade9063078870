//! Query parsing on the hot path: the header, the one question and the OPT record, read
//! straight from the packet bytes without allocating.
//!
//! Only what the responder needs is decoded: where the question ends (its bytes are copied
//! into the response as they came, so 0x20 case survives), its type and class, and the
//! client's EDNS payload size, version and DO bit. Every read is bounds-checked and every
//! loop consumes bytes, so no input can panic or spin.

pub const HEADER_LEN: usize = 12;
/// RFC 1035 3.1: a name is at most 255 octets on the wire.
pub const MAX_NAME_LEN: usize = 255;

pub const TYPE_OPT: u16 = 41;
pub const CLASS_IN: u16 = 1;

/// Flag bits of the header's third and fourth octets, as one u16.
pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;
pub const FLAG_RD: u16 = 0x0100;
pub const FLAG_CD: u16 = 0x0010;

/// The parts of a query the responder acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub id: u16,
    pub flags: u16,
    /// The question, when there is exactly one and it parses.
    pub question: Option<Question>,
    /// The client's OPT record, when present and well formed.
    pub edns: Option<Edns>,
    /// Why the query is malformed (answered FORMERR), if it is.
    pub problem: Option<Problem>,
}

impl Request {
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }
}

/// Where the question sits in the packet: the name is `packet[12..name_end]`, the whole
/// question (name, type, class) is `packet[12..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    pub name_end: usize,
    pub end: usize,
    pub qtype: u16,
    pub qclass: u16,
}

impl Question {
    pub fn name_len(&self) -> usize {
        self.name_end - HEADER_LEN
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The requester's UDP payload size, as sent (not yet clamped).
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// Why a query that has a readable header is answered FORMERR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    QuestionCount,
    BadLabel,
    NameTooLong,
    CompressedQuestion,
    Truncated,
    TwoOpts,
    OptNotRoot,
    BadOptOptions,
}

/// Parses a query. `None` means drop it silently: shorter than a header, or a response
/// (QR set) that must never be answered, lest two servers ping-pong forever.
pub fn parse(packet: &[u8]) -> Option<Request> {
    if packet.len() < HEADER_LEN {
        return None;
    }
    let flags = u16_at(packet, 2)?;
    if flags & FLAG_QR != 0 {
        return None;
    }
    let mut req = Request {
        id: u16_at(packet, 0)?,
        flags,
        question: None,
        edns: None,
        problem: None,
    };
    let counts = [
        u16_at(packet, 4)?,
        u16_at(packet, 6)?,
        u16_at(packet, 8)?,
        u16_at(packet, 10)?,
    ];
    if counts[0] != 1 {
        req.problem = Some(Problem::QuestionCount);
        return Some(req);
    }
    match question(packet) {
        Ok(q) => req.question = Some(q),
        Err(p) => {
            req.problem = Some(p);
            return Some(req);
        }
    }
    let start = req.question.map_or(HEADER_LEN, |q| q.end);
    match records(
        packet,
        start,
        counts[1] as usize + counts[2] as usize,
        counts[3],
    ) {
        Ok(edns) => req.edns = edns,
        Err(p) => req.problem = Some(p),
    }
    Some(req)
}

fn u16_at(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

fn u16_or_truncated(p: &[u8], at: usize) -> Result<u16, Problem> {
    u16_at(p, at).ok_or(Problem::Truncated)
}

/// The question name must be plain labels: a compression pointer there has nothing to
/// point back to, and RFC 1035 label types 0x40/0x80 are not in use.
fn question(p: &[u8]) -> Result<Question, Problem> {
    let mut at = HEADER_LEN;
    loop {
        let len = *p.get(at).ok_or(Problem::Truncated)? as usize;
        match len & 0xc0 {
            0x00 => {}
            0xc0 => return Err(Problem::CompressedQuestion),
            _ => return Err(Problem::BadLabel),
        }
        at += 1 + len;
        if at - HEADER_LEN > MAX_NAME_LEN {
            return Err(Problem::NameTooLong);
        }
        if len == 0 {
            break;
        }
    }
    let qtype = u16_or_truncated(p, at)?;
    let qclass = u16_or_truncated(p, at + 2)?;
    Ok(Question {
        name_end: at,
        end: at + 4,
        qtype,
        qclass,
    })
}

/// Skips a record owner name (compression allowed, pointers not followed); returns the
/// offset after it and whether it was the root name.
fn skip_name(p: &[u8], mut at: usize) -> Result<(usize, bool), Problem> {
    let first = at;
    loop {
        let len = *p.get(at).ok_or(Problem::Truncated)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok((at + 1, at == first)),
            0x00 => at += 1 + len,
            0xc0 => return Ok((at + 2, false)),
            _ => return Err(Problem::BadLabel),
        }
        if at - first > MAX_NAME_LEN {
            return Err(Problem::NameTooLong);
        }
    }
}

/// Walks the answer and authority records (a query should have none; they are skipped)
/// and the additional records, picking out the one OPT.
fn records(p: &[u8], mut at: usize, skip: usize, additional: u16) -> Result<Option<Edns>, Problem> {
    let mut edns = None;
    for i in 0..skip + additional as usize {
        let (after, root) = skip_name(p, at)?;
        let rtype = u16_or_truncated(p, after)?;
        let rdlen = u16_or_truncated(p, after + 8)? as usize;
        let rdata = after + 10;
        let end = rdata + rdlen;
        if end > p.len() {
            return Err(Problem::Truncated);
        }
        if i >= skip && rtype == TYPE_OPT {
            if edns.is_some() {
                return Err(Problem::TwoOpts);
            }
            if !root {
                return Err(Problem::OptNotRoot);
            }
            check_options(&p[rdata..end])?;
            let payload = u16_or_truncated(p, after + 2)?;
            edns = Some(Edns {
                payload,
                version: p[after + 5],
                dnssec_ok: p[after + 6] & 0x80 != 0,
            });
        }
        at = end;
    }
    Ok(edns)
}

/// EDNS options are (code, length, data); unknown codes are ignored (RFC 6891 6.1.2), but
/// an option running past the record is malformed.
fn check_options(mut rdata: &[u8]) -> Result<(), Problem> {
    while !rdata.is_empty() {
        if rdata.len() < 4 {
            return Err(Problem::BadOptOptions);
        }
        let len = u16::from_be_bytes([rdata[2], rdata[3]]) as usize;
        rdata = rdata.get(4 + len..).ok_or(Problem::BadOptOptions)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

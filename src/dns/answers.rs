//! The prepared answers of one snapshot: for every name of the zone, the complete response
//! to every query type it can get, already in wire form, found by the lowercase wire name.
//!
//! `build.rs` makes them; `respond.rs` serves them.

use std::collections::HashMap;
use std::sync::Arc;

use super::encode::Encoded;
use super::stats::Rcode;
use crate::metrics::book::TargetStats;

/// FxHash (`rustc-hash`): fast and non-cryptographic, which is fine here: keys are zone
/// names from the config, not attacker input chosen to collide (queried names are only
/// looked up, never inserted).
pub(super) type NameMap = HashMap<Arc<[u8]>, Slot, rustc_hash::FxBuildHasher>;
/// A lowercase wire name and its responses.
pub(super) type Entry = (Arc<[u8]>, Arc<Node>);

/// What a name of the zone answers: fixed responses (apex, nameservers, empty
/// non-terminals), or those of a group, which change with its active targets.
#[derive(Debug, Clone)]
pub(super) enum Slot {
    Fixed(Arc<Node>),
    /// An index into `Answers::groups`.
    Group(usize),
}

/// Every prepared response of one snapshot. The name index is made once per config and
/// shared by every snapshot of it; a publish shares every unchanged group's node too, so
/// it costs a copy of the pointers plus the encoding of what changed.
pub struct Answers {
    pub(super) serial: u32,
    pub(super) zone: Arc<[u8]>,
    pub(super) names: Arc<NameMap>,
    /// Each group's responses, by group index (None: the name could not be encoded).
    pub(super) groups: Vec<Option<Arc<Node>>>,
    pub(super) nxdomain: Arc<Encoded>,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("serial", &self.serial)
            .field("names", &self.names.len())
            .finish()
    }
}

impl Answers {
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The zone apex in lowercase wire form.
    pub fn zone(&self) -> &[u8] {
        &self.zone
    }

    /// The node of a lowercase wire name, if the name exists.
    pub fn node(&self, name: &[u8]) -> Option<&Node> {
        match self.names.get(name)? {
            Slot::Fixed(n) => Some(n),
            Slot::Group(i) => self.groups.get(*i)?.as_deref(),
        }
    }

    /// The SOA record (full names) that follows the question of an NXDOMAIN.
    pub fn nxdomain_tail(&self) -> &Encoded {
        &self.nxdomain
    }
}

/// The responses of one name.
#[derive(Debug)]
pub struct Node {
    pub(super) by_type: Vec<(u16, Prepared)>,
    pub(super) other: Prepared,
}

impl Node {
    pub fn prepared(&self, qtype: u16) -> &Prepared {
        self.by_type
            .iter()
            .find(|(t, _)| *t == qtype)
            .map_or(&self.other, |(_, p)| p)
    }
}

/// One ready response, and the targets to count when it is sent.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub msg: Arc<Encoded>,
    pub rcode: Rcode,
    pub hits: Arc<[Arc<TargetStats>]>,
}

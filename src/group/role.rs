//! A target's role as its role check (postgres, redis) last reported it: the vocabulary
//! the checkers, the state machine, the API and the metrics share.

use serde::Serialize;

/// What a reachable database said it is. Ordered so that the larger of two is the safer
/// claim (`Standby`): a target of several addresses is primary only if all of them are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes writes (postgres: not in recovery; redis: `master`).
    Primary,
    /// A replica (postgres: in recovery; redis: `slave`/`replica`).
    Standby,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Primary, Role::Standby];

    /// The name the API and the metrics use (serde's, by the test below).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn role_names_are_serdes() {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}

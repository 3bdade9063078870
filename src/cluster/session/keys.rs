//! Where a cluster keeps what, under its prefix.

use crate::config::ClusterConfig;

/// The keys of one cluster, under its prefix.
pub(crate) struct Keys {
    pub prefix: String,
    pub members: String,
    pub leader: String,
    pub me: String,
    pub verdicts: String,
    pub decisions: String,
    pub commands: String,
    pub results: String,
}

impl Keys {
    pub fn new(cfg: &ClusterConfig) -> Keys {
        let members = format!("{}members/", cfg.prefix);
        Keys {
            me: format!("{members}{}", cfg.instance),
            leader: format!("{}leader", cfg.prefix),
            verdicts: format!("{}verdicts/", cfg.prefix),
            decisions: format!("{}decisions/", cfg.prefix),
            commands: format!("{}commands/", cfg.prefix),
            results: format!("{}results/", cfg.prefix),
            prefix: cfg.prefix.clone(),
            members,
        }
    }
}

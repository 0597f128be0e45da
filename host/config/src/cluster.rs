//! `[cluster]`: several `prism run` processes sharing one stream's work
//! through leases kept in NATS JetStream.

use serde::Deserialize;

/// `[cluster]`: off unless `name` is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Hosts with the same name share the work; empty: not clustered.
    pub name: Option<String>,
    /// This host's name among them (default: `{hostname}-{pid}`).
    pub host: Option<String>,
    /// How many partitions each partitioned plugin's stream is cut into.
    /// Every host of a cluster must say the same.
    pub partitions: u32,
    /// A host that has not renewed its leases in this long is gone, and
    /// its partitions are taken over.
    pub lease_ttl: String,
    /// The address other hosts and operators reach this host's API at,
    /// shown by `GET /api/v1/cluster` (default: `api.listen`).
    pub advertise: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            name: None,
            host: None,
            partitions: 16,
            lease_ttl: "10s".into(),
            advertise: None,
        }
    }
}

/// Most partitions a cluster may cut a stream into (each is a lease and,
/// per partitioned plugin, an instance).
pub const MAX_PARTITIONS: u32 = 1024;

impl ClusterConfig {
    /// This host's name: `host`, else `{hostname}-{pid}`.
    #[must_use]
    pub fn host_name(&self) -> String {
        self.host.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "host".into());
            let clean: String = host
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{clean}-{}", std::process::id())
        })
    }

    /// Every problem with `[cluster]`, by key. `nats_source`: `[source]` is
    /// a `nats` source; `nats_url`: `[nats]` has a URL; `outputs`:
    /// `nats.outputs`; `postgres`: `[postgres]` is on.
    pub(crate) fn problems(
        &self,
        nats_source: bool,
        nats_url: bool,
        outputs: bool,
        postgres: bool,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(name) = &self.name else {
            return out;
        };
        let mut bad = |k: &str, m: &str| out.push((k.to_owned(), m.to_owned()));
        let token = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !token(name) {
            bad(
                "cluster.name",
                "must be 1 to 64 letters, digits, `-` or `_`",
            );
        }
        if let Some(host) = &self.host
            && !token(host)
        {
            bad(
                "cluster.host",
                "must be 1 to 64 letters, digits, `-` or `_`",
            );
        }
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            bad(
                "cluster.partitions",
                &format!("must be 1 to {MAX_PARTITIONS}"),
            );
        }
        match crate::parse_duration(&self.lease_ttl) {
            Ok(d) if d < std::time::Duration::from_secs(1) => {
                bad("cluster.lease_ttl", "must be at least 1s");
            }
            Ok(_) => {}
            Err(e) => bad("cluster.lease_ttl", &e.to_string()),
        }
        if !nats_url {
            bad(
                "cluster.name",
                "a cluster keeps its leases in NATS JetStream: set nats.url (or PRISM_NATS_URL)",
            );
        }
        if !nats_source {
            bad(
                "cluster.name",
                "the hosts of a cluster share a NATS stream: set [source] kind = \"nats\"",
            );
        }
        if !outputs {
            bad(
                "cluster.name",
                "a cluster's outputs are the union of its hosts': set nats.outputs = true",
            );
        }
        if postgres {
            bad(
                "cluster.name",
                "a cluster keeps its checkpoints in JetStream; [postgres] with [cluster] is not supported yet",
            );
        }
        out
    }
}

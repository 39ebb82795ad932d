//! Errors found while building route tables from configuration.

/// Why a route table could not be built. Every message names the protocol's table and the
/// route's position (`routes[<protocol>][<index>]`) and, where it helps, the field.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Two route tables are given for one protocol.
    #[error("routes: two route tables for protocol `{protocol}`")]
    DuplicateProtocol {
        /// The protocol.
        protocol: String,
    },
    /// A route's action names a cluster that does not exist.
    #[error("routes[{protocol}][{index}].action: unknown cluster `{cluster}`")]
    UnknownCluster {
        /// The table's protocol.
        protocol: String,
        /// The route's position in the table.
        index: usize,
        /// The missing cluster's name.
        cluster: String,
    },
    /// A `weighted_clusters` action lists no cluster.
    #[error(
        "routes[{protocol}][{index}].action.weighted_clusters: at least one cluster is required"
    )]
    NoWeightedClusters {
        /// The table's protocol.
        protocol: String,
        /// The route's position in the table.
        index: usize,
    },
    /// A weighted cluster has weight 0.
    #[error(
        "routes[{protocol}][{index}].action.weighted_clusters: cluster `{cluster}` has weight 0"
    )]
    ZeroWeight {
        /// The table's protocol.
        protocol: String,
        /// The route's position in the table.
        index: usize,
        /// The cluster with weight 0.
        cluster: String,
    },
    /// A regular expression of a match does not compile.
    #[error("routes[{protocol}][{index}].match.{field}: invalid regex: {source}")]
    InvalidRegex {
        /// The table's protocol.
        protocol: String,
        /// The route's position in the table.
        index: usize,
        /// The matched field (`service`, `method`, `version`, `group`, `headers.<name>`).
        field: String,
        /// What the regex compiler said.
        #[source]
        source: regex::Error,
    },
}

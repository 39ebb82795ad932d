//! Errors found while building the HTTP router from configuration.

/// Why the HTTP router could not be built. Every message starts with the field path, as
/// `http.virtual_hosts[0].routes[2].action.cluster`, like configuration validation's.
///
/// Validation ([`crate::config::validate`]) reports the same problems (all of them, with
/// lines); this error only keeps a router from being built from an unvalidated configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpBuildError {
    /// A route names a cluster that does not exist.
    #[error("{path}: no cluster named `{cluster}`")]
    UnknownCluster {
        /// Where the name is.
        path: String,
        /// The missing cluster's name.
        cluster: String,
    },
    /// Two virtual hosts claim one domain.
    #[error("{path}: domain `{domain}` is also served by virtual host `{first}`")]
    DuplicateDomain {
        /// Where the second one is.
        path: String,
        /// The domain, as written the second time.
        domain: String,
        /// The virtual host that claimed it first.
        first: String,
    },
    /// Any other invalid field (regex, header, method, status, rewrite, …).
    #[error("{path}: {message}")]
    Invalid {
        /// The field.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

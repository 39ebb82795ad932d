//! Configuration: the schema, loading from YAML or JSON, and validation.
//!
//! [`load_file`] / [`parse`] turn text into a [`Config`] (errors name the field and the line);
//! [`validate`] checks the rules the types cannot say and returns every error and warning;
//! [`load_validated`] does both, for `xproxy run`. `docs/configuration.md` documents every field.

pub mod diagnostic;
pub mod duration;
pub mod http;
pub mod load;
pub mod locate;
pub mod schema;
pub mod validate;
pub mod yaml;

pub use self::http::{
    GrpcMatchConfig, HttpActionConfig, HttpConfig, HttpDirectResponseConfig, HttpLimitsConfig,
    HttpRetryConfig, HttpRetryOn, HttpRouteConfig, HttpRouteMatchConfig, HttpUpstreamProtocol,
    RedirectConfig, VirtualHostConfig,
};
pub use diagnostic::{Diagnostic, FieldPath, Location, Segment};
pub use load::{load_file, load_validated, parse, ConfigError, Format};
pub use schema::*;
pub use validate::{validate, Report};

//! Configuration: the schema, loading from YAML or JSON, and validation.

pub mod schema;

pub use schema::*;

//! SOFARPC Bolt v1 and v2.

//! HTTP routing (being written).

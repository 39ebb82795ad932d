//! Example protocol.

//! The stream engine (client and server loops on tokio).

//! HTTP/1.1, HTTP/2 and gRPC through the gateway: connections detected on the shared port are
//! served by hyper, each request is routed by [`route`] and forwarded over pooled upstream
//! connections; failures are answered with the HTTP status (or gRPC trailers) a client expects.

pub mod route;

//! `echo-gateway`: the `xproxy` gateway with the private `echo` protocol linked in, as a team
//! with its own protocol crate would build it. Same command line as `xproxy` (`run`,
//! `validate`, `demo`); `echo` is known to routes and detected on every listener besides the
//! shipped protocols.

fn main() -> std::process::ExitCode {
    // Referencing the protocol keeps its crate in the link, so that `inventory` registers
    // `echo`; a dependency in Cargo.toml alone does not.
    let _ = &echo_protocol::Echo;
    xproxy::main()
}

//! The stock `xproxy` command: the library's [`xproxy::main`] with the shipped protocols only.
//! A gateway with a private protocol is the same two lines plus a reference to that protocol
//! (see `examples/echo-gateway`).

fn main() -> std::process::ExitCode {
    xproxy::main()
}

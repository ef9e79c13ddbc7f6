//! The device lab: emulated routers, firewalls and switches of every SSH dialect but linux, served
//! on 127.0.0.1 by a pure-Rust SSH server, for the tests, the demo and the benchmarks.
//!
//! (Skeleton: the bodies are filled in by the lab work.)

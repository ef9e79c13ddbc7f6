//! Setup shared by integration test files (each file includes this module with `mod common;`).

pub mod ad_lab;
pub mod laps_lab;
pub mod terminal;

#[allow(unused_imports)]
pub use terminal::*;

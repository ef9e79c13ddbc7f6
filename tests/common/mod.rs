//! Setup shared by integration test files (each includes it with `mod common;`).
#![allow(dead_code)]

pub mod ad_lab;

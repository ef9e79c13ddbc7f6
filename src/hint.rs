//! The `Hint` trait on its own, a leaf every module's error type can implement without importing
//! `error.rs`, which in turn imports every module's error type.

/// Something that can tell the user what to do next.
pub trait Hint {
    /// A short, actionable suggestion, if there is one.
    fn hint(&self) -> Option<String>;
}

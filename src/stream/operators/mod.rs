//! The processor's operators, in the order records flow through them.

pub mod decode;

//! The stream processor (being assembled).

pub mod checkpoint;
pub mod operator;
pub mod operators;
pub mod outputs;
pub mod source;

pub use outputs::Outputs;

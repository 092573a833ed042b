//! The processor's operators, in the order records flow through them.

pub mod aggregate;
pub mod decode;
pub mod score;
pub mod sessions;

/// A stable 64-bit hash of an identity (FNV-1a): the same on every run and machine, so hashes
/// stored in checkpoints stay valid after a restart.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// [`hash`] of a customer id's text form, without building the text.
pub fn user_hash(id: &crate::model::UserId) -> u64 {
    match id {
        crate::model::UserId::Int(v) => hash(itoa::Buffer::new().format(*v).as_bytes()),
        crate::model::UserId::Str(s) => hash(s.as_bytes()),
    }
}

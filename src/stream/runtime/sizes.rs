//! When the next checkpoint is full: the sizes of the checkpoint chain's operator state.

use super::ProcessorState;

/// Sizes of the operator state in the checkpoint chain, which decide when the next checkpoint
/// is full: when the deltas since the last full one add up to its size (so a restart reads at
/// most twice the state), after [`MAX_CHAIN`] deltas, on the first epoch and on a clean stop.
/// Sizes are known once a checkpoint is written, an epoch or so after its cut: while a full one
/// is being written, the next are deltas.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Sizes {
    pub(super) full: usize,
    pub(super) deltas: usize,
    pub(super) chain: usize,
    pub(super) full_in_flight: bool,
}

/// The most deltas after a full checkpoint.
const MAX_CHAIN: usize = 100;

impl Sizes {
    pub(super) fn next_is_full(&self) -> bool {
        !self.full_in_flight && (self.deltas >= self.full || self.chain >= MAX_CHAIN)
    }

    /// The size of a checkpoint's operator state.
    pub(super) fn of(state: &ProcessorState) -> usize {
        let inline = state.operators.values().map(Vec::len).sum::<usize>();
        inline + state.images.values().map(|&(_, len)| len as usize).sum::<usize>()
    }

    /// Records a written checkpoint's operator state.
    pub(super) fn saved(&mut self, full: bool, bytes: usize) {
        if full {
            *self = Sizes { full: bytes, deltas: 0, chain: 0, full_in_flight: false };
        } else {
            self.deltas += bytes;
            self.chain += 1;
        }
    }
}

//! Partitioned mode's low-water mark: the first source sequence not known to be in the
//! target. Source sequences handed to writers are kept in the order they were dispatched
//! (increasing), each with whether it is stored yet; the mark is the oldest one not stored,
//! or the next to dispatch when every one is. Writers store mostly in dispatch order, so
//! marking one and dropping the stored front is constant time in the usual case (this was a
//! `BTreeSet`: an allocation-heavy insert and remove per message).

use std::collections::VecDeque;
use std::sync::Mutex;

pub struct LowWater {
    state: Mutex<State>,
}

struct State {
    /// Dispatched source sequences, increasing, with whether each is stored.
    pending: VecDeque<(u64, bool)>,
    /// The next source sequence after everything dispatched or skipped.
    next: u64,
}

impl State {
    fn mark(&self) -> u64 {
        self.pending.front().map_or(self.next, |&(seq, _)| seq)
    }
}

impl LowWater {
    /// Nothing below `resume` needs copying.
    pub fn new(resume: u64) -> Self {
        LowWater {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                next: resume,
            }),
        }
    }

    /// `seq` went to a writer: the mark cannot pass it until it is stored.
    pub fn dispatched(&self, seq: u64) {
        let mut state = self.state.lock().expect("low-water mark");
        state.pending.push_back((seq, false));
        state.next = seq + 1;
    }

    /// A message not handed to any writer (filtered): nothing to wait for.
    pub fn skipped(&self, seq: u64) {
        self.state.lock().expect("low-water mark").next = seq + 1;
    }

    /// `seq` is in the target (or was found there); returns the new mark.
    pub fn stored(&self, seq: u64) -> u64 {
        let mut state = self.state.lock().expect("low-water mark");
        let front = state.pending.front().map(|&(first, _)| first);
        if let Some(first) = front {
            // Dispatched sequences increase but may skip (filtered, deleted in the
            // source): the position is a guess first, a search when the guess is wrong.
            let guess = usize::try_from(seq.saturating_sub(first)).unwrap_or(usize::MAX);
            let at = match state.pending.get(guess) {
                Some(&(found, _)) if found == seq => Some(guess),
                _ => state.pending.binary_search_by_key(&seq, |&(s, _)| s).ok(),
            };
            if let Some(at) = at {
                state.pending[at].1 = true;
            }
            while state.pending.front().is_some_and(|&(_, stored)| stored) {
                state.pending.pop_front();
            }
        }
        state.mark()
    }

    /// The first source sequence not known to be in the target.
    pub fn mark(&self) -> u64 {
        self.state.lock().expect("low-water mark").mark()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_waits_for_the_oldest_unstored_sequence() {
        let marks = LowWater::new(5);
        assert_eq!(marks.mark(), 5);
        for seq in [5, 6, 8, 9] {
            marks.dispatched(seq); // 7 was deleted in the source
        }
        marks.skipped(10);
        assert_eq!(marks.mark(), 5);
        assert_eq!(
            marks.stored(8),
            5,
            "a faster partition does not move the mark"
        );
        assert_eq!(marks.stored(6), 5);
        assert_eq!(marks.stored(5), 9, "5, 6 and 8 stored, 7 never dispatched");
        assert_eq!(
            marks.stored(9),
            11,
            "everything dispatched is stored; 10 was skipped"
        );
        marks.dispatched(12);
        assert_eq!(marks.mark(), 12);
        assert_eq!(marks.stored(12), 13);
    }
}

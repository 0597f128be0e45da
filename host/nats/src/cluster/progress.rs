//! When a one-pass read of a cluster stream ends: the rule [`super::each`]
//! follows, apart from the I/O so it can be tested.

/// Messages asked for in one pull at most.
const PULL: u64 = 1024;

/// Empty pulls in a row that end a read still short of its count.
const EMPTY_PULLS: u32 = 3;

/// A read's progress against what the consumer and the stream said when it
/// began.
#[derive(Debug)]
pub(super) struct ReadProgress {
    /// Messages to read (`u64::MAX`: until the read catches up).
    total: u64,
    /// A read that ends short of `total` is an error.
    whole: bool,
    /// The stream's last sequence when the read began, when the read ends
    /// at the first message past it instead of at a count.
    bound: Option<u64>,
    seen: u64,
    empty: u32,
    caught_up: bool,
}

/// How a read ended short of the messages it was told of.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Short {
    pub(super) seen: u64,
    pub(super) total: u64,
}

impl ReadProgress {
    /// A read whose consumer counted `pending` messages, of a stream that
    /// held `held` messages up to sequence `last_sequence`.
    ///
    /// The server has been seen to answer a count past anything the stream
    /// holds (`u64::MAX`) for a consumer just made: such a count is not
    /// waited for. The read then ends at an empty pull or at the first
    /// message past the stream's last sequence when it began. A
    /// last-per-subject consumer goes on delivering new messages, and hosts
    /// publish several a second, so a read waiting for a quiet moment could
    /// last as long as the cluster, holding its caller (a host's rounds,
    /// then its shutdown, waited so). The message carrying that last
    /// sequence is no end: ending there was seen to cut reads short.
    pub(super) fn new(pending: u64, held: u64, last_sequence: u64, whole: bool) -> Self {
        let (total, whole, bound) = if pending > held {
            (u64::MAX, false, Some(last_sequence))
        } else {
            (pending, whole, None)
        };
        Self {
            total,
            whole,
            bound,
            seen: 0,
            empty: 0,
            caught_up: false,
        }
    }

    /// Whether the consumer's count was not believed.
    pub(super) fn implausible(&self) -> bool {
        self.bound.is_some()
    }

    /// How many messages to pull next; `None` once the read is over.
    pub(super) fn next_pull(&self) -> Option<usize> {
        if self.seen >= self.total || self.caught_up {
            return None;
        }
        usize::try_from((self.total - self.seen).min(PULL)).ok()
    }

    /// Whether the message at stream sequence `sequence` belongs to the
    /// read (counted) or is past its end (the read is over).
    pub(super) fn take(&mut self, sequence: u64) -> bool {
        if self.bound.is_some_and(|last| sequence > last) {
            self.caught_up = true;
            return false;
        }
        self.seen += 1;
        true
    }

    /// Ends a pull that began when `before` messages had been seen: whether
    /// the read goes on.
    ///
    /// # Errors
    /// [`Short`] when a whole read had [`EMPTY_PULLS`] empty pulls in a row
    /// short of its count.
    pub(super) fn pull_ended(&mut self, before: u64) -> Result<bool, Short> {
        if self.seen != before {
            self.empty = 0;
            return Ok(self.next_pull().is_some());
        }
        if !self.whole {
            // Gone meanwhile (expired or purged): what is there is all.
            return Ok(false);
        }
        self.empty += 1;
        if self.empty == EMPTY_PULLS {
            return Err(Short {
                seen: self.seen,
                total: self.total,
            });
        }
        Ok(true)
    }

    /// Messages counted so far.
    pub(super) fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes messages of sequences `from..` until the read says stop or
    /// `available` have been offered; the sequences it took.
    fn pull(read: &mut ReadProgress, from: u64, available: u64) -> Vec<u64> {
        let want = read.next_pull().expect("a pull") as u64;
        let mut took = Vec::new();
        for sequence in from..from + available.min(want) {
            if !read.take(sequence) {
                break;
            }
            took.push(sequence);
        }
        took
    }

    #[test]
    fn a_plausible_count_is_read_in_pulls_of_at_most_1024() {
        let mut read = ReadProgress::new(2000, 5000, 9000, true);
        assert!(!read.implausible());
        assert_eq!(read.next_pull(), Some(1024));
        assert_eq!(pull(&mut read, 1, 1024).len(), 1024);
        assert_eq!(read.pull_ended(0), Ok(true));
        assert_eq!(read.next_pull(), Some(2000 - 1024));
        // Messages past the stream's end at the start still count: the
        // count, not the sequence, ends a believed read.
        assert_eq!(pull(&mut read, 9500, 5000).len(), 976);
        assert_eq!(read.pull_ended(1024), Ok(false));
        assert_eq!(read.next_pull(), None);
        assert_eq!(read.seen(), 2000);
    }

    #[test]
    fn an_implausible_count_reads_up_to_the_streams_last_message_and_stops_past_it() {
        // The server's u64::MAX for a stream of 14 messages up to sequence 40.
        let mut read = ReadProgress::new(u64::MAX, 14, 40, true);
        assert!(read.implausible());
        assert_eq!(read.next_pull(), Some(1024));
        // Last-per-subject: sequences 27..=40 are the 14, then hosts'
        // newer messages keep coming.
        let took = pull(&mut read, 27, 100);
        assert_eq!(
            took,
            (27..=40).collect::<Vec<_>>(),
            "all 14, the last one too"
        );
        assert_eq!(
            read.pull_ended(0),
            Ok(false),
            "over at the first newer message"
        );
        assert_eq!(read.next_pull(), None);
    }

    #[test]
    fn an_implausible_count_ends_at_an_empty_pull_and_is_never_short() {
        let mut read = ReadProgress::new(u64::MAX, 3, 10, true);
        assert_eq!(pull(&mut read, 8, 2), [8, 9]);
        assert_eq!(
            read.pull_ended(0),
            Ok(true),
            "the last message has not come"
        );
        assert_eq!(pull(&mut read, 10, 0), Vec::<u64>::new());
        assert_eq!(read.pull_ended(2), Ok(false), "an empty pull: it is all");
    }

    #[test]
    fn a_whole_read_short_of_its_count_fails_after_three_empty_pulls() {
        let mut read = ReadProgress::new(14, 20, 30, true);
        assert_eq!(pull(&mut read, 1, 13).len(), 13);
        assert_eq!(read.pull_ended(0), Ok(true));
        assert_eq!(read.pull_ended(13), Ok(true));
        assert_eq!(read.pull_ended(13), Ok(true));
        assert_eq!(
            read.pull_ended(13),
            Err(Short {
                seen: 13,
                total: 14
            })
        );
    }

    #[test]
    fn a_partial_read_ends_at_its_first_empty_pull() {
        let mut read = ReadProgress::new(14, 20, 30, false);
        assert_eq!(pull(&mut read, 1, 5).len(), 5);
        assert_eq!(read.pull_ended(0), Ok(true));
        assert_eq!(read.pull_ended(5), Ok(false));
    }
}

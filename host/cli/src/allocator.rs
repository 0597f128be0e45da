//! The binary's allocator: mimalloc for small blocks, the system's for
//! large ones.
//!
//! The pipeline allocates and frees small, short-lived values on several
//! threads at once (records, batches, outputs, JSON and MessagePack
//! buffers), where glibc's malloc was 10–20 % of a replay's and the API's
//! samples: mimalloc serves those (docs/benchmarks.md has the same-run
//! figures). Blocks of [`LARGE`] and more (an upload's body, a compiled
//! artifact, a replay file's window) go to the system allocator instead:
//! glibc maps each one on its own, grows it in place by remapping and
//! returns it to the kernel when freed, whichever thread frees it, where
//! mimalloc copies on growth and releases a block freed on another thread
//! lazily (eight 40 MB uploads in turn could hold ~100 MB between them).

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of this many bytes or more come from the system allocator.
const LARGE: usize = 1 << 20;

/// mimalloc below [`LARGE`], the system's allocator from it on. Every block
/// is freed by the allocator that made it: `dealloc` and `realloc` receive
/// the layout the block was made with (the `GlobalAlloc` contract), so its
/// size says which.
pub(crate) struct Allocator;

fn large(size: usize) -> bool {
    size >= LARGE
}

// SAFETY: each call is forwarded to one of two sound allocators, chosen by
// the block's size; a block always returns to the allocator that made it
// (see `Allocator`), and a block moved between them by `realloc` is copied
// within both blocks' bounds and freed by its maker.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if large(layout.size()) {
            // SAFETY: the caller's contract, forwarded.
            unsafe { System.alloc(layout) }
        } else {
            // SAFETY: the caller's contract, forwarded.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if large(layout.size()) {
            // SAFETY: the caller's contract, forwarded.
            unsafe { System.alloc_zeroed(layout) }
        } else {
            // SAFETY: the caller's contract, forwarded.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if large(layout.size()) {
            // SAFETY: a block this large was made by `System` (see `alloc`).
            unsafe { System.dealloc(ptr, layout) }
        } else {
            // SAFETY: a block this small was made by mimalloc.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (large(layout.size()), large(new_size)) {
            // SAFETY: the block stays with the allocator that made it.
            (true, true) => unsafe { System.realloc(ptr, layout, new_size) },
            // SAFETY: as above.
            (false, false) => unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: the caller guarantees `new_size`, rounded up to
                // `layout.align()`, does not overflow `isize`, and is not zero.
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: a non-zero size, as above.
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks hold at least the smaller size and
                    // are distinct allocations; the old one is freed by its
                    // maker with the layout it was made with.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}

/// Turns the kernel's transparent huge pages off for the process; `main`
/// calls it first.
///
/// mimalloc asks for huge pages on its arenas, so each thread's heap grows
/// 2 MiB at a time and the kernel zeroes each of those at its first touch:
/// clearing pages was 9 % of a replay's samples, spread over every thread,
/// and the peak held a quarter more (docs/benchmarks.md has the same-run
/// figures). `MIMALLOC_ALLOW_THP=0` does the same, but mimalloc reads it
/// before `main` runs, so the binary cannot set it for its users. A kernel
/// that refuses leaves huge pages on: slower, not wrong.
pub(crate) fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: `prctl(PR_SET_THP_DISABLE)` takes plain integers and touches
    // no memory of the process; it only sets a flag the kernel reads when
    // it backs a page.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::LARGE;

    /// Growing a small block past the threshold and shrinking a large one
    /// below it keep every byte (the block changes allocator on the way).
    #[test]
    fn blocks_keep_their_bytes_across_the_threshold() {
        let pattern = |i: usize| (i % 251) as u8;
        let mut v: Vec<u8> = (0..LARGE - 10).map(pattern).collect();
        v.extend((LARGE - 10..3 * LARGE).map(pattern));
        assert!(v.iter().enumerate().all(|(i, b)| *b == pattern(i)));
        v.truncate(100);
        v.shrink_to_fit();
        assert_eq!(v.capacity(), 100);
        assert!(v.iter().enumerate().all(|(i, b)| *b == pattern(i)));
        let zeroed = vec![0u64; LARGE];
        assert!(zeroed.iter().all(|x| *x == 0));
        let aligned: Vec<u128> = (0..LARGE as u128).collect();
        assert_eq!(aligned.as_ptr() as usize % std::mem::align_of::<u128>(), 0);
        assert_eq!(aligned[LARGE - 1], LARGE as u128 - 1);
    }
}

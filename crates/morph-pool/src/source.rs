//! Where a pool's blocks come from and where they go back to.

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;

/// A supplier of blocks for [`RawPool::with_block_source`](crate::RawPool::with_block_source).
///
/// By default a pool takes each block from the global allocator and gives
/// it back there. A source shared by several pools can do better for its
/// owner: a collector's old generation, which has one pool per size class,
/// keeps blocks freed by one class for any other to reuse, and faults
/// blocks in ahead of need so that promotion during a pause does not.
///
/// Every block is `layout.size()` bytes aligned to `layout.align()` (both
/// the pool's block size). Its contents are unspecified: the pool writes
/// its header itself.
///
/// ```
/// use std::alloc::Layout;
/// use std::ptr::NonNull;
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
/// use morph_pool::{BlockSource, PoolConfig, RawPool};
///
/// /// The global allocator, counting blocks out.
/// #[derive(Debug, Default)]
/// struct Counting(AtomicUsize);
///
/// // SAFETY: blocks come from and go back to the global allocator with the
/// // layout they were asked for.
/// unsafe impl BlockSource for Counting {
///     fn acquire(&self, layout: Layout) -> Option<NonNull<u8>> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         // SAFETY: block layouts have a non-zero size.
///         NonNull::new(unsafe { std::alloc::alloc(layout) })
///     }
///     unsafe fn release(&self, block: NonNull<u8>, layout: Layout) {
///         self.0.fetch_sub(1, Ordering::Relaxed);
///         // SAFETY: `block` came from `acquire` with this layout.
///         unsafe { std::alloc::dealloc(block.as_ptr(), layout) }
///     }
/// }
///
/// let source = Arc::new(Counting::default());
/// let mut pool = RawPool::new(64, PoolConfig::default())?.with_block_source(source.clone());
/// let slot = pool.alloc()?;
/// assert_eq!(source.0.load(Ordering::Relaxed), 1);
/// pool.free(slot)?;
/// drop(pool);
/// assert_eq!(source.0.load(Ordering::Relaxed), 0);
/// # Ok::<(), morph_pool::PoolError>(())
/// ```
///
/// # Safety
/// `acquire` returns either `None` or a pointer to `layout.size()` bytes
/// aligned to `layout.align()`, valid for reads and writes, and not used by
/// anyone else until the block is passed to `release`.
pub unsafe trait BlockSource: Send + Sync + fmt::Debug {
    /// A block for `layout`, or `None` when memory is exhausted.
    fn acquire(&self, layout: Layout) -> Option<NonNull<u8>>;

    /// Takes back a block.
    ///
    /// # Safety
    /// `block` came from [`acquire`](Self::acquire) of this source with the
    /// same `layout`, and the caller no longer uses it.
    unsafe fn release(&self, block: NonNull<u8>, layout: Layout);
}

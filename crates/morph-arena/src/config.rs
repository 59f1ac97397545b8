//! Arena configuration (a small builder) and the crate's error type.

use std::fmt;

use crate::Arena;
use crate::chunk::{HEADER_SIZE, MAX_CHUNK_SIZE};

/// How an [`Arena`] sizes its chunks and how much idle memory it keeps.
///
/// Build one with [`ArenaConfig::new`] and the chainable setters, then call
/// [`build`](ArenaConfig::build), which validates it.
///
/// ```
/// use morph_arena::ArenaConfig;
///
/// let arena = ArenaConfig::new()
///     .chunk_size(64 * 1024)
///     .retained_bytes(1024 * 1024)
///     .build()?;
/// assert_eq!(arena.config().get_chunk_size(), 64 * 1024);
/// # Ok::<(), morph_arena::ArenaError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaConfig {
    chunk_size: usize,
    retained_bytes: usize,
}

impl ArenaConfig {
    /// Default size of a chunk, header included: 2 MiB.
    pub const DEFAULT_CHUNK_SIZE: usize = 2 * 1024 * 1024;
    /// Default retention cap: at most 16 MiB of idle chunks survive a reset.
    pub const DEFAULT_RETAINED_BYTES: usize = 16 * 1024 * 1024;
    /// Smallest accepted chunk size.
    pub const MIN_CHUNK_SIZE: usize = HEADER_SIZE + 64;
    /// Largest accepted chunk size.
    pub const MAX_CHUNK_SIZE: usize = MAX_CHUNK_SIZE;

    /// The default configuration: 2 MiB chunks, 16 MiB retained.
    ///
    /// ```
    /// use morph_arena::ArenaConfig;
    /// assert_eq!(ArenaConfig::new().get_chunk_size(), ArenaConfig::DEFAULT_CHUNK_SIZE);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            chunk_size: Self::DEFAULT_CHUNK_SIZE,
            retained_bytes: Self::DEFAULT_RETAINED_BYTES,
        }
    }

    /// Sets the size of each regular chunk in bytes (header included).
    ///
    /// Requests larger than a quarter of a chunk get a dedicated chunk of
    /// their own, so the chunk size bounds waste, not the largest allocation.
    ///
    /// ```
    /// use morph_arena::ArenaConfig;
    /// assert_eq!(ArenaConfig::new().chunk_size(4096).get_chunk_size(), 4096);
    /// ```
    #[must_use]
    pub const fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Sets the retention cap: the most bytes of idle chunks the arena keeps
    /// for reuse after a [`reset`](Arena::reset) (or when a
    /// [`scope`](Arena::scope) ends). Chunks beyond it go back to the system.
    /// `0` keeps nothing; `usize::MAX` keeps everything (bumpalo's behaviour
    /// for its largest chunk).
    ///
    /// ```
    /// use morph_arena::ArenaConfig;
    /// assert_eq!(ArenaConfig::new().retained_bytes(0).get_retained_bytes(), 0);
    /// ```
    #[must_use]
    pub const fn retained_bytes(mut self, bytes: usize) -> Self {
        self.retained_bytes = bytes;
        self
    }

    /// The configured chunk size.
    ///
    /// ```
    /// assert_eq!(morph_arena::ArenaConfig::new().get_chunk_size(), 2 * 1024 * 1024);
    /// ```
    #[must_use]
    pub const fn get_chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The configured retention cap.
    ///
    /// ```
    /// assert_eq!(morph_arena::ArenaConfig::new().get_retained_bytes(), 16 * 1024 * 1024);
    /// ```
    #[must_use]
    pub const fn get_retained_bytes(&self) -> usize {
        self.retained_bytes
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ArenaError::ZeroChunkSize`], [`ArenaError::ChunkSizeTooSmall`] or
    /// [`ArenaError::ChunkSizeTooLarge`] when the chunk size is out of range.
    ///
    /// ```
    /// use morph_arena::{ArenaConfig, ArenaError};
    /// assert_eq!(ArenaConfig::new().chunk_size(0).validate(), Err(ArenaError::ZeroChunkSize));
    /// assert!(ArenaConfig::new().validate().is_ok());
    /// ```
    pub const fn validate(&self) -> Result<(), ArenaError> {
        if self.chunk_size == 0 {
            return Err(ArenaError::ZeroChunkSize);
        }
        if self.chunk_size < Self::MIN_CHUNK_SIZE {
            return Err(ArenaError::ChunkSizeTooSmall {
                requested: self.chunk_size,
                minimum: Self::MIN_CHUNK_SIZE,
            });
        }
        if self.chunk_size > Self::MAX_CHUNK_SIZE {
            return Err(ArenaError::ChunkSizeTooLarge {
                requested: self.chunk_size,
                maximum: Self::MAX_CHUNK_SIZE,
            });
        }
        Ok(())
    }

    /// Validates the configuration and creates an empty arena with it. No
    /// memory is reserved until the first allocation.
    ///
    /// # Errors
    ///
    /// As [`validate`](ArenaConfig::validate).
    ///
    /// ```
    /// use morph_arena::{ArenaConfig, ArenaError};
    /// let err = ArenaConfig::new().chunk_size(8).build().unwrap_err();
    /// assert!(matches!(err, ArenaError::ChunkSizeTooSmall { requested: 8, .. }));
    /// ```
    pub fn build(self) -> Result<Arena, ArenaError> {
        Arena::with_config(self)
    }
}

impl Default for ArenaConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything that can go wrong when configuring an arena or allocating
/// from it. The messages say what to change.
///
/// ```
/// use morph_arena::{Arena, ArenaError};
/// use std::alloc::Layout;
///
/// let arena = Arena::new();
/// let huge = Layout::from_size_align(isize::MAX as usize - 8, 8).unwrap();
/// let err = arena.try_alloc_layout(huge).unwrap_err();
/// assert!(matches!(err, ArenaError::AllocationTooLarge { .. }));
/// println!("{err}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArenaError {
    /// The configured chunk size is zero.
    ZeroChunkSize,
    /// The configured chunk size cannot hold the chunk header and a useful
    /// amount of data.
    ChunkSizeTooSmall {
        /// The configured size.
        requested: usize,
        /// The smallest accepted size.
        minimum: usize,
    },
    /// The configured chunk size exceeds what the system allocator accepts.
    ChunkSizeTooLarge {
        /// The configured size.
        requested: usize,
        /// The largest accepted size.
        maximum: usize,
    },
    /// An allocation request whose size (plus alignment padding and chunk
    /// header), or a slice length times its element size, exceeds
    /// `isize::MAX` bytes.
    AllocationTooLarge {
        /// Requested size in bytes (`usize::MAX` if the computation overflowed).
        size: usize,
        /// Requested alignment.
        align: usize,
    },
    /// The system allocator could not provide a new chunk.
    OutOfMemory {
        /// Size of the chunk that was requested.
        chunk_bytes: usize,
    },
}

impl fmt::Display for ArenaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArenaError::ZeroChunkSize => f.write_str(
                "arena chunk size is 0; use a positive size such as 2 MiB (the default)",
            ),
            ArenaError::ChunkSizeTooSmall { requested, minimum } => write!(
                f,
                "arena chunk size {requested} bytes is below the minimum of {minimum} bytes; raise it"
            ),
            ArenaError::ChunkSizeTooLarge { requested, maximum } => write!(
                f,
                "arena chunk size {requested} bytes exceeds the maximum of {maximum} bytes; lower it"
            ),
            ArenaError::AllocationTooLarge { size, align } => write!(
                f,
                "arena allocation of {size} bytes (alignment {align}) exceeds isize::MAX bytes with \
                 padding and header; split the allocation"
            ),
            ArenaError::OutOfMemory { chunk_bytes } => write!(
                f,
                "the system allocator refused a {chunk_bytes}-byte arena chunk (out of memory)"
            ),
        }
    }
}

impl std::error::Error for ArenaError {}

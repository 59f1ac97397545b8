//! The one error type of this crate.

use std::fmt;
use std::path::PathBuf;

/// What went wrong writing or reading a stats file.
///
/// ```
/// use morph_metrics::MorphMemStats;
///
/// let err = MorphMemStats::load_stats("/no/such/stats.json").unwrap_err();
/// assert!(err.to_string().starts_with("cannot read or write stats file /no/such/stats.json"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MetricsError {
    /// The file could not be created, written or read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file's contents are not a stats snapshot (or could not be encoded).
    Serialize {
        /// The file.
        path: PathBuf,
        /// What the JSON codec said.
        source: serde_json::Error,
    },
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::Io { path, source } => {
                write!(
                    f,
                    "cannot read or write stats file {}: {source}",
                    path.display()
                )
            }
            MetricsError::Serialize { path, source } => {
                write!(
                    f,
                    "stats file {} is not a valid stats snapshot: {source}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for MetricsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetricsError::Io { source, .. } => Some(source),
            MetricsError::Serialize { source, .. } => Some(source),
        }
    }
}

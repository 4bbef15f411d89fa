//! The one error type of packaging.

use std::path::PathBuf;

/// Everything that can go wrong while building or reading a package.
///
/// Every variant names the path, field or value at fault and, where it is known, what to do
/// about it. No variant carries file contents or environment values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The source directory does not exist.
    #[error("source directory {path} does not exist: pass the directory that holds the function code")]
    SourceMissing {
        /// The path that was given.
        path: PathBuf,
    },
    /// The source path exists but is not a directory.
    #[error("source {path} is not a directory: pass the directory that holds the function code")]
    SourceNotDirectory {
        /// The path that was given.
        path: PathBuf,
    },
    /// Nothing is left to package once the ignore rules are applied.
    #[error(
        "source directory {path} has no files to package (after .faasignore/.funcignore/.gcloudignore and the default rules)"
    )]
    EmptySource {
        /// The source directory.
        path: PathBuf,
    },
    /// The output zip would be written inside the tree being packaged.
    #[error(
        "output {output} is inside the source directory {source_dir}: write the zip outside the tree (e.g. ./dist/function.zip next to ./src)"
    )]
    OutputInsideSource {
        /// The output path.
        output: PathBuf,
        /// The source directory.
        source_dir: PathBuf,
    },
    /// A builder option or environment variable has a value that cannot be used.
    #[error("{field}: {value:?} is invalid: {reason}")]
    InvalidOption {
        /// The option or variable.
        field: String,
        /// The value.
        value: String,
        /// Why, and the accepted form.
        reason: String,
    },
    /// The runtime name is not one this crate knows.
    #[error("field `runtime`: unknown runtime {value:?}; accepted: {accepted}")]
    UnknownRuntime {
        /// The runtime as given.
        value: String,
        /// The accepted runtime names, comma separated.
        accepted: String,
    },
    /// The handler string cannot be understood for the runtime.
    #[error("field `handler`: {value:?} is not a valid handler for {runtime}: {reason}")]
    InvalidHandler {
        /// The runtime.
        runtime: String,
        /// The handler as given.
        value: String,
        /// Why it is rejected and the expected form.
        reason: String,
    },
    /// The file the handler names is not in the package.
    #[error(
        "field `handler`: {handler:?} needs one of [{expected}] in the package, and none is there; files at the top: [{found}]"
    )]
    HandlerMissing {
        /// The handler as given.
        handler: String,
        /// The candidate paths, comma separated.
        expected: String,
        /// A few of the paths that are in the package, comma separated.
        found: String,
    },
    /// The runtime's entry file exists but is not executable.
    #[error("{path} must be executable for runtime {runtime}: run `chmod +x {path}` before packaging")]
    NotExecutable {
        /// The path inside the package.
        path: String,
        /// The runtime.
        runtime: String,
    },
    /// A symbolic link points outside the source tree.
    #[error(
        "symlink {link} points outside the source tree (to {target}): copy the file into the tree or list the link in .faasignore"
    )]
    SymlinkEscapes {
        /// The link, relative to the source directory.
        link: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A file cannot be read, or is not a regular file.
    #[error("cannot read {path}: {reason}; fix its permissions or list it in .faasignore")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The package is over a size limit the caller set.
    #[error(
        "{what} size {size} bytes is over the limit of {limit} bytes by {over} bytes; largest entries: {largest}; exclude files with .faasignore or move dependencies to a layer"
    )]
    TooLarge {
        /// `"zipped"` or `"unzipped"`.
        what: &'static str,
        /// The size found.
        size: u64,
        /// The limit.
        limit: u64,
        /// `size - limit`.
        over: u64,
        /// The largest entries, `path (bytes)`, comma separated.
        largest: String,
    },
    /// Installing dependencies with pip or npm failed.
    #[error("installing dependencies with `{command}` failed ({status}): {stderr_tail}")]
    Dependencies {
        /// The command line that ran.
        command: String,
        /// Its exit status, or why it could not start.
        status: String,
        /// The last lines it wrote to stderr.
        stderr_tail: String,
    },
    /// A zip being read holds an entry that would land outside the extraction directory.
    #[error("zip {path} holds an unsafe entry name {entry:?} (absolute or with `..`): refusing to read it")]
    UnsafeEntry {
        /// The zip file.
        path: PathBuf,
        /// The entry name.
        entry: String,
    },
    /// A zip holds two entries with the same name (which one unpacks depends on the tool).
    #[error("zip {path} holds the entry {entry:?} twice: rebuild it so that every path appears once")]
    DuplicateEntry {
        /// The zip file.
        path: PathBuf,
        /// The entry name.
        entry: String,
    },
    /// A file name in the source tree cannot be stored portably in a zip.
    #[error("source file {name:?} has a `\\` in its name, which unzip tools read as a directory separator: rename it")]
    UnportableName {
        /// The file's path, relative to the source directory.
        name: String,
    },
    /// An I/O error on a path.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The zip library reported an error.
    #[error("zip error on {path}: {message}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The library's message.
        message: String,
    },
}

impl PackageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PackageError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn zip(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        PackageError::Zip {
            path: path.into(),
            message: err.to_string(),
        }
    }
}

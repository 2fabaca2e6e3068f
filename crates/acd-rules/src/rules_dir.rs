//! Reading the rules directory: the rule files in it, and nothing else.
//!
//! Supervisors may edit the rules directory, while the engine reading it may read far more: its
//! IP Office password file, its own environment in procfs. Whatever the engine reads as rules
//! can be quoted back in a diagnostic (a snippet of the line that does not parse), so an entry
//! is read only if it is a regular file inside the directory. Every `*.toml` entry that is not
//! one is refused by name, without reading it: a symlink leaving the directory, a dangling or
//! looping symlink, a directory, a FIFO, socket or device, an entry the engine cannot read. None
//! is ever skipped quietly, since a rule file that silently went missing changes routing, and
//! the whole directory is refused, so the engine keeps its last good rules.
//!
//! Symlinks that stay inside the directory are followed: configuration tools (Kubernetes
//! ConfigMaps among them) publish files as links into a hidden subdirectory. Names starting
//! with a dot are not rule files: editors keep lock files (`.#rules.toml`, a dangling link
//! while a file is edited) and temporary copies under such names.

use crate::{without_bom, LoadError, MAX_RULES_BYTES};
use acd_store::SourceFile;
use std::ffi::OsString;
use std::fmt;
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

/// Why a `*.toml` entry of the rules directory was not read.
#[derive(Debug)]
pub enum EntryProblem {
    /// A symlink whose target resolves outside the rules directory.
    LeavesDirectory {
        target: PathBuf,
    },
    /// A symlink to nothing.
    Dangling,
    /// A symlink that leads back to itself.
    Loop,
    Directory,
    /// A FIFO, socket or device.
    NotRegular {
        kind: &'static str,
    },
    /// The engine may not read it (or the system would not say what it is).
    Unreadable(std::io::Error),
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryProblem::LeavesDirectory { target } => write!(
                f,
                "is a symbolic link leading out of the rules directory (to {}); rule files must \
                 be in the directory itself: copy the file in instead",
                target.display()
            ),
            EntryProblem::Dangling => f.write_str(
                "is a symbolic link to a file that does not exist; remove the link or restore \
                 the file",
            ),
            EntryProblem::Loop => f.write_str(
                "is a symbolic link that loops back on itself; remove it or point it at a file",
            ),
            EntryProblem::Directory => f.write_str(
                "is a directory; rule files are read from the rules directory itself, not from \
                 subdirectories: rename it so its name does not end in .toml",
            ),
            EntryProblem::NotRegular { kind } => write!(
                f,
                "is a {kind}, not a file; remove it from the rules directory"
            ),
            EntryProblem::Unreadable(e) => write!(
                f,
                "cannot be read ({e}); make it readable by the engine's user or remove it"
            ),
        }
    }
}

/// One refused entry: its name in the directory and why.
#[derive(Debug)]
pub struct RefusedEntry {
    pub name: String,
    pub problem: EntryProblem,
}

impl fmt::Display for RefusedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.problem)
    }
}

/// The refused entries as the lines of an error message.
pub(crate) fn list(entries: &[RefusedEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("\n  - {e}"))
        .collect::<String>()
}

/// Reads every `*.toml` file directly in `dir`, sorted by name (which is also the order in
/// which their routes are tried). Refuses the directory, reading none of its files, if any
/// `*.toml` entry is not a regular file inside it.
pub fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, LoadError> {
    let read_dir_err = |source| LoadError::ReadDir {
        path: dir.to_path_buf(),
        source,
    };
    let root = std::fs::canonicalize(dir).map_err(read_dir_err)?;
    let mut names: Vec<OsString> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_err)? {
        let name = entry.map_err(read_dir_err)?.file_name();
        if is_rule_file_name(&name) {
            names.push(name);
        }
    }
    names.sort();
    let mut opened = Vec::new();
    let mut refused = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let shown = name.to_string_lossy().into_owned();
        match open_rule_file(&root, &path) {
            Ok(file) => opened.push((shown, path, file)),
            Err(problem) => refused.push(RefusedEntry {
                name: shown,
                problem,
            }),
        }
    }
    if !refused.is_empty() {
        return Err(LoadError::Refused {
            dir: dir.to_path_buf(),
            entries: refused,
        });
    }
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for (name, path, file) in opened {
        let text = read_bounded(dir, &path, file, &mut total)?;
        files.push(SourceFile::new(name, without_bom(text)));
    }
    files.sort();
    Ok(files)
}

/// `*.toml`, and not hidden.
fn is_rule_file_name(name: &std::ffi::OsStr) -> bool {
    let path = Path::new(name);
    path.extension().and_then(|e| e.to_str()) == Some("toml")
        && !name.as_encoded_bytes().starts_with(b".")
}

/// Opens `path` if it is (or links, inside `root`, to) a regular file. The kind is checked
/// again on the open file, so an entry swapped for a FIFO or a link in between is refused too
/// (the open never follows a last link, and never waits for a FIFO's writer).
fn open_rule_file(root: &Path, path: &Path) -> Result<File, EntryProblem> {
    let own = std::fs::symlink_metadata(path).map_err(EntryProblem::Unreadable)?;
    let resolved = if own.file_type().is_symlink() {
        match std::fs::canonicalize(path) {
            Ok(target) if target.starts_with(root) => target,
            Ok(target) => return Err(EntryProblem::LeavesDirectory { target }),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(EntryProblem::Loop),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EntryProblem::Dangling)
            }
            Err(e) => return Err(EntryProblem::Unreadable(e)),
        }
    } else {
        path.to_path_buf()
    };
    let meta = std::fs::metadata(&resolved).map_err(EntryProblem::Unreadable)?;
    check_kind(&meta)?;
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&resolved)
    };
    let file = file.map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => EntryProblem::NotRegular {
            kind: "symbolic link (swapped in while it was read)",
        },
        _ => EntryProblem::Unreadable(e),
    })?;
    check_kind(&file.metadata().map_err(EntryProblem::Unreadable)?)?;
    Ok(file)
}

fn check_kind(meta: &Metadata) -> Result<(), EntryProblem> {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = meta.file_type();
    if kind.is_file() {
        Ok(())
    } else if kind.is_dir() {
        Err(EntryProblem::Directory)
    } else {
        let kind = if kind.is_fifo() {
            "FIFO (named pipe)"
        } else if kind.is_socket() {
            "socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "device"
        } else {
            "special file"
        };
        Err(EntryProblem::NotRegular { kind })
    }
}

/// Reads one file, counting it into `total` and refusing it once the directory's files pass
/// [`MAX_RULES_BYTES`]: the size is checked before reading, and the read itself stops at the
/// limit, so a file that grows meanwhile is refused too.
fn read_bounded(dir: &Path, path: &Path, file: File, total: &mut u64) -> Result<String, LoadError> {
    use std::io::Read as _;
    let read_err = |source| LoadError::ReadFile {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |bytes| LoadError::TooLarge {
        dir: dir.to_path_buf(),
        path: path.to_path_buf(),
        bytes,
        limit: MAX_RULES_BYTES,
    };
    let size = file.metadata().map_err(read_err)?.len();
    if total.saturating_add(size) > MAX_RULES_BYTES {
        return Err(too_large(total.saturating_add(size)));
    }
    let room = MAX_RULES_BYTES - *total;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(room + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let read = bytes.len() as u64;
    if read > room {
        return Err(too_large(total.saturating_add(read)));
    }
    *total += read;
    String::from_utf8(bytes)
        .map_err(|e| read_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt as _;
    use std::os::unix::fs::symlink;

    const SECRET: &str = "Hunter2-from-the-password-file";

    /// A rules directory with one good file, and a secret file beside it (outside).
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let top = tempfile::tempdir().unwrap();
        let rules = top.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        std::fs::write(rules.join("10-a.toml"), "[skills]\n").unwrap();
        let secret = top.path().join("pbx-password");
        std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
        (top, rules, secret)
    }

    fn refused(rules: &Path) -> (Vec<(String, String)>, String) {
        let err = read_dir(rules).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains(SECRET), "{text}");
        let LoadError::Refused { entries, .. } = err else {
            panic!("not a refusal: {text}")
        };
        let entries = entries
            .iter()
            .map(|e| (e.name.clone(), e.problem.to_string()))
            .collect();
        (entries, text)
    }

    #[test]
    fn a_link_to_a_file_outside_is_refused_without_reading_it() {
        let (_top, rules, secret) = setup();
        symlink(&secret, rules.join("20-x.toml")).unwrap();
        let (entries, text) = refused(&rules);
        assert_eq!(entries.len(), 1, "{text}");
        assert_eq!(entries[0].0, "20-x.toml");
        assert!(
            entries[0].1.contains("out of the rules directory"),
            "{text}"
        );
        assert!(text.contains("pbx-password"), "the target is named: {text}");
    }

    #[test]
    fn a_link_to_the_process_environment_is_refused() {
        let (_top, rules, _) = setup();
        symlink("/proc/self/environ", rules.join("env.toml")).unwrap();
        let (entries, text) = refused(&rules);
        assert!(
            entries[0].1.contains("out of the rules directory"),
            "{text}"
        );
        let path = std::env::var("PATH").unwrap_or_default();
        assert!(path.is_empty() || !text.contains(&path), "{text}");
    }

    #[test]
    fn a_link_through_a_subdirectory_that_leaves_is_refused() {
        let (top, rules, _) = setup();
        symlink(top.path(), rules.join("up")).unwrap();
        symlink("up/pbx-password", rules.join("x.toml")).unwrap();
        let (entries, text) = refused(&rules);
        assert!(
            entries[0].1.contains("out of the rules directory"),
            "{text}"
        );
    }

    #[test]
    fn dangling_and_looping_links_and_directories_are_refused_each_by_name() {
        let (_top, rules, _) = setup();
        symlink("missing.conf", rules.join("dangling.toml")).unwrap();
        symlink("loop-b.toml", rules.join("loop-a.toml")).unwrap();
        symlink("loop-a.toml", rules.join("loop-b.toml")).unwrap();
        std::fs::create_dir(rules.join("x.toml")).unwrap();
        let (entries, text) = refused(&rules);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["dangling.toml", "loop-a.toml", "loop-b.toml", "x.toml"],
            "{text}"
        );
        assert!(entries[0].1.contains("does not exist"), "{text}");
        assert!(entries[1].1.contains("loops"), "{text}");
        assert!(entries[3].1.contains("is a directory"), "{text}");
    }

    #[test]
    fn fifos_and_sockets_are_refused_without_waiting_for_them() {
        let (_top, rules, _) = setup();
        let fifo =
            std::ffi::CString::new(rules.join("pipe.toml").into_os_string().into_vec()).unwrap();
        // SAFETY: a valid, NUL-terminated path; mkfifo only creates a directory entry.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(rules.join("sock.toml")).unwrap();
        let (entries, text) = refused(&rules);
        assert_eq!(entries.len(), 2, "{text}");
        assert!(entries[0].1.contains("FIFO"), "{text}");
        assert!(entries[1].1.contains("socket"), "{text}");
    }

    #[test]
    fn an_unreadable_file_is_refused_by_name() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_top, rules, _) = setup();
        let file = rules.join("20-b.toml");
        std::fs::write(&file, "[skills]\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&file).is_ok() {
            eprintln!("SKIPPED: running as root, a mode-000 file is still readable");
            return;
        }
        let (entries, text) = refused(&rules);
        assert_eq!(entries[0].0, "20-b.toml");
        assert!(entries[0].1.contains("cannot be read"), "{text}");
    }

    #[test]
    fn links_inside_the_directory_are_followed_and_hidden_names_ignored() {
        let (_top, rules, _) = setup();
        // As a Kubernetes ConfigMap publishes its files.
        std::fs::create_dir(rules.join("..2026_12_07")).unwrap();
        std::fs::write(rules.join("..2026_12_07/20-b.toml"), "[queues.Sales]\n").unwrap();
        symlink("..2026_12_07", rules.join("..data")).unwrap();
        symlink("..data/20-b.toml", rules.join("20-b.toml")).unwrap();
        // An editor's lock file: a dangling link under a hidden name.
        symlink("user@host.1234", rules.join(".#10-a.toml")).unwrap();
        std::fs::write(rules.join("README.txt"), "not rules").unwrap();
        let files = read_dir(&rules).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["10-a.toml", "20-b.toml"]);
        assert_eq!(files[1].text, "[queues.Sales]\n");
    }
}

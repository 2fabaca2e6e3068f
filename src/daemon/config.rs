//! The daemon's configuration file: where IP Office is, who the engine logs in as, which
//! queues it controls, where it keeps its data and serves its metrics.
//!
//! Every value is checked at load time and every mistake is reported with the key it concerns,
//! because an operator reading `journalctl` at 3 a.m. should not have to guess.

use super::http::HttpLimits;
use crate::wire::tls::TlsOptions;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variables that override the file (handy in containers and systemd drop-ins).
pub const ENV_PASSWORD: &str = "ACD_PBX_PASSWORD";
pub const ENV_USERNAME: &str = "ACD_PBX_USERNAME";
pub const ENV_ENDPOINTS: &str = "ACD_PBX_ENDPOINTS";
pub const ENV_METRICS_LISTEN: &str = "ACD_METRICS_LISTEN";
pub const ENV_DATA_DIR: &str = "ACD_DATA_DIR";
pub const ENV_RULES_DIR: &str = "ACD_RULES_DIR";
pub const ENV_LOG_FORMAT: &str = "ACD_LOG_FORMAT";

/// I/O causes are part of the message and not a `source()`, so a printed chain shows them once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("cannot read the password file {path} (pbx.password_file): {error}")]
    PasswordFile {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything the config file says: what the run loop needs, the limits of the HTTP port, and
/// the warnings to log once logging is up (the file is read before).
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub daemon: DaemonConfig,
    pub http: HttpLimits,
    /// Settings that work but should be changed, each with what to do.
    pub warnings: Vec<String>,
}

impl ConfigFile {
    /// Loads `path`, applies environment overrides from `env`, and checks every value.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path, env)
    }

    /// Logs [`ConfigFile::warnings`]; call once the subscriber is installed.
    pub fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
    }
}

/// The whole configuration of the run loop, as parsed and checked.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub pbx: PbxConfig,
    pub routing: RoutingSection,
    pub data_dir: PathBuf,
    pub metrics_listen: SocketAddr,
    pub log_format: LogFormat,
    pub log_level: String,
    /// How long SIGTERM waits for in-flight commands before exiting.
    pub drain_timeout: Duration,
    /// `[twin]`: run as one of a hot twin led through etcd; `None`: alone, always sending.
    pub twin: Option<super::leadership::TwinSettings>,
}

#[derive(Clone, Debug)]
pub struct PbxConfig {
    /// Primary first, then an optional secondary for failover.
    pub endpoints: Vec<String>,
    pub username: String,
    /// Masked by its type: `Debug` and `Display` print `***`.
    pub password: crate::wire::secret::Secret,
    pub unframed: bool,
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the server certificate (DER), 32 bytes.
    pub pin_sha256: Option<[u8; 32]>,
    pub insecure: bool,
    pub request_timeout: Duration,
    pub subscription_timeout: Option<Duration>,
    /// Subscribe to routed queues with the ephemeral flag (calls reported only while they
    /// queue). Off: IP Office reports each call for its whole life until the engine sends
    /// Finish.
    pub ephemeral_queues: bool,
    /// Pings, write and TCP keepalive deadlines on the link itself.
    pub deadlines: super::pbx_link::LinkDeadlines,
}

#[derive(Debug, Clone)]
pub struct RoutingSection {
    /// IP Office queue names the engine controls; the others keep their hunt-group behaviour.
    pub queues: Vec<String>,
    pub rules_dir: PathBuf,
    /// Watch `rules_dir` and apply valid changes automatically (SIGHUP always does).
    pub watch_rules: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    pbx: RawPbx,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    shutdown: RawShutdown,
    #[serde(default)]
    twin: Option<RawTwin>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwin {
    #[serde(default)]
    etcd: Vec<String>,
    instance: Option<String>,
    cluster: Option<String>,
    lease_ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPbx {
    #[serde(default)]
    endpoints: Vec<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default)]
    framing: Option<String>,
    #[serde(default)]
    tls: RawTls,
    #[serde(default)]
    request_timeout: Option<String>,
    #[serde(default)]
    subscription_timeout: Option<String>,
    #[serde(default)]
    ephemeral_queues: Option<bool>,
    // The link's own deadlines (see `link_deadlines`).
    ping_interval: Option<String>,
    pong_timeout: Option<String>,
    write_timeout: Option<String>,
    tcp_keepalive: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
    pin_sha256: Option<String>,
    #[serde(default)]
    insecure: bool,
    /// Lets `ws://` addresses through: for a lab or the simulator only.
    #[serde(default)]
    allow_plain_ws: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    #[serde(default)]
    queues: Vec<String>,
    rules_dir: Option<PathBuf>,
    watch_rules: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
    max_connections: Option<usize>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawShutdown {
    drain_timeout: Option<String>,
}

/// Where the engine keeps its rules store by default.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/acd";
pub const DEFAULT_RULES_DIR: &str = "/etc/acd/routing-rules";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

impl DaemonConfig {
    /// [`ConfigFile::load`], keeping only what the run loop needs.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        ConfigFile::load(path, env).map(|file| file.daemon)
    }

    /// [`ConfigFile::parse`], keeping only what the run loop needs.
    pub fn parse(
        text: &str,
        origin: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        ConfigFile::parse(text, origin, env).map(|file| file.daemon)
    }
}

impl ConfigFile {
    /// Parses configuration text; `origin` names it in errors.
    pub fn parse(
        text: &str,
        origin: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: parse_error_message(text, &e),
        })?;
        let base_dir = origin.parent().unwrap_or(Path::new("."));
        let deadlines = link_deadlines(&raw.pbx)?;

        let endpoints = match env(ENV_ENDPOINTS) {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => raw.pbx.endpoints,
        };
        if endpoints.is_empty() {
            return Err(ConfigError::Invalid {
                key: "pbx.endpoints",
                message: "give at least one IP Office address, e.g. [\"wss://192.0.2.10:443\"]"
                    .into(),
            });
        }
        if endpoints.len() > 2 {
            return Err(ConfigError::Invalid {
                key: "pbx.endpoints",
                message: "at most two addresses: the primary and its secondary (both used at once, live-live)"
                    .into(),
            });
        }
        for e in &endpoints {
            warnings.extend(check_endpoint(e, raw.pbx.tls.allow_plain_ws)?);
        }

        let username = env(ENV_USERNAME)
            .or(raw.pbx.username)
            .filter(|u| !u.is_empty())
            .ok_or(ConfigError::Invalid {
                key: "pbx.username",
                message: "the IP Office service user name is required".into(),
            })?;
        let password = match env(ENV_PASSWORD) {
            Some(p) => p,
            None => match (raw.pbx.password, raw.pbx.password_file) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::Invalid {
                        key: "pbx.password",
                        message: "set either password or password_file, not both".into(),
                    })
                }
                (Some(p), None) => {
                    warnings.extend(inline_password_warning(origin));
                    p
                }
                (None, Some(file)) => {
                    let file = resolve(base_dir, &file);
                    let p = std::fs::read_to_string(&file).map_err(|error| {
                        ConfigError::PasswordFile {
                            path: file.clone(),
                            error,
                        }
                    })?;
                    warnings.extend(password_file_warning(&file));
                    p.trim_end_matches(['\n', '\r']).to_string()
                }
                (None, None) => {
                    return Err(ConfigError::Invalid {
                        key: "pbx.password",
                        message: format!(
                            "give the service user's password as password_file (recommended), \
                             password, or the {ENV_PASSWORD} environment variable"
                        ),
                    })
                }
            },
        };
        if password.is_empty() {
            return Err(ConfigError::Invalid {
                key: "pbx.password",
                message: "the password is empty".into(),
            });
        }

        let unframed = match raw.pbx.framing.as_deref() {
            None | Some("framed") => false,
            Some("unframed") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "pbx.framing",
                    message: format!("`{other}` is not one of \"framed\", \"unframed\""),
                })
            }
        };
        let pin_sha256 = raw
            .pbx
            .tls
            .pin_sha256
            .as_deref()
            .map(parse_fingerprint)
            .transpose()?;
        let request_timeout =
            parse_duration("pbx.request_timeout", raw.pbx.request_timeout.as_deref())?
                .unwrap_or(Duration::from_secs(10));
        let subscription_timeout = parse_duration(
            "pbx.subscription_timeout",
            raw.pbx.subscription_timeout.as_deref(),
        )?;
        if let Some(t) = subscription_timeout {
            if t.as_secs() < 60 || t.as_secs() > 86_400 {
                return Err(ConfigError::Invalid {
                    key: "pbx.subscription_timeout",
                    message: "must be between 60s and 24h (or left out: never expires)".into(),
                });
            }
        }

        let metrics_text = env(ENV_METRICS_LISTEN)
            .or(raw.metrics.listen)
            .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.to_string());
        let metrics_listen: SocketAddr =
            metrics_text.parse().map_err(|_| ConfigError::Invalid {
                key: "metrics.listen",
                message: format!("`{metrics_text}` is not an address like 127.0.0.1:9464"),
            })?;

        let defaults = HttpLimits::default();
        let max_connections = raw
            .metrics
            .max_connections
            .unwrap_or(defaults.max_connections);
        if max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "metrics.max_connections",
                message: "must be at least 1".into(),
            });
        }
        let http = HttpLimits {
            max_connections,
            header_read_timeout: parse_duration(
                "metrics.header_read_timeout",
                raw.metrics.header_read_timeout.as_deref(),
            )?
            .unwrap_or(defaults.header_read_timeout),
            idle_timeout: parse_duration(
                "metrics.idle_timeout",
                raw.metrics.idle_timeout.as_deref(),
            )?
            .unwrap_or(defaults.idle_timeout),
        };
        for (key, value) in [
            ("metrics.header_read_timeout", http.header_read_timeout),
            ("metrics.idle_timeout", http.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    key,
                    message: "must be above zero".into(),
                });
            }
        }

        let data_dir = env(ENV_DATA_DIR)
            .map(PathBuf::from)
            .or(raw.storage.data_dir.map(|d| resolve(base_dir, &d)))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let rules_dir = env(ENV_RULES_DIR)
            .map(PathBuf::from)
            .or(raw.routing.rules_dir.map(|d| resolve(base_dir, &d)))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RULES_DIR));

        let log_format = match env(ENV_LOG_FORMAT).as_deref() {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "log.format",
                    message: format!("`{other}` is not one of \"text\", \"json\""),
                })
            }
            None => raw.log.format.unwrap_or_default(),
        };
        let drain_timeout = parse_duration(
            "shutdown.drain_timeout",
            raw.shutdown.drain_timeout.as_deref(),
        )?
        .unwrap_or(Duration::from_secs(10));

        let twin = raw.twin.map(twin_settings).transpose()?;

        let tls = TlsOptions {
            ca_file: raw.pbx.tls.ca_file.map(|f| resolve(base_dir, &f)),
            pin_sha256,
            insecure: raw.pbx.tls.insecure,
        };
        warnings.extend(tls.precedence_warning());

        let daemon = DaemonConfig {
            pbx: PbxConfig {
                endpoints,
                username,
                password: password.into(),
                unframed,
                ca_file: tls.ca_file,
                pin_sha256: tls.pin_sha256,
                insecure: tls.insecure,
                request_timeout,
                subscription_timeout,
                ephemeral_queues: raw.pbx.ephemeral_queues.unwrap_or(true),
                deadlines,
            },
            routing: RoutingSection {
                queues: raw.routing.queues,
                rules_dir,
                watch_rules: raw.routing.watch_rules.unwrap_or(true),
            },
            data_dir,
            metrics_listen,
            log_format,
            log_level: raw.log.level.unwrap_or_else(|| "info".into()),
            drain_timeout,
            twin,
        };
        Ok(ConfigFile {
            daemon,
            http,
            warnings,
        })
    }
}

/// Where the twin's etcd is, what this engine is called there, and the lease. The TTL is at
/// least 2 s (etcd raises shorter ones, and the leader renews at a third of it) and at most a
/// minute (a dead leader's calls would wait that long).
fn twin_settings(raw: RawTwin) -> Result<super::leadership::TwinSettings, ConfigError> {
    if raw.etcd.is_empty() {
        return Err(ConfigError::Invalid {
            key: "twin.etcd",
            message: "give the etcd client URLs, e.g. [\"http://127.0.0.1:2379\"] (or remove \
                      [twin] to run alone)"
                .into(),
        });
    }
    if let Err(e) = super::leadership::etcd::Etcd::new(&raw.etcd, Duration::from_secs(1)) {
        return Err(ConfigError::Invalid {
            key: "twin.etcd",
            message: e.to_string(),
        });
    }
    let instance = match raw.instance {
        Some(i) => i,
        None => host_name().ok_or(ConfigError::Invalid {
            key: "twin.instance",
            message: "the host name cannot be read: give this engine a name".into(),
        })?,
    };
    if instance.is_empty() || instance.chars().any(char::is_control) {
        return Err(ConfigError::Invalid {
            key: "twin.instance",
            message: "must be a non-empty name without control characters".into(),
        });
    }
    let cluster = raw.cluster.unwrap_or_else(|| "acd".into());
    if cluster.is_empty()
        || !cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ConfigError::Invalid {
            key: "twin.cluster",
            message: format!(
                "`{cluster}` must be letters, digits, '-', '_' or '.' (it is part of the etcd \
                 key /acd/<cluster>/leader)"
            ),
        });
    }
    let lease_ttl = parse_duration("twin.lease_ttl", raw.lease_ttl.as_deref())?
        .unwrap_or(Duration::from_secs(2));
    if lease_ttl < Duration::from_secs(2)
        || lease_ttl > Duration::from_secs(60)
        || lease_ttl.subsec_nanos() != 0
    {
        return Err(ConfigError::Invalid {
            key: "twin.lease_ttl",
            message: "must be whole seconds between 2s and 60s (etcd's leases count in seconds; \
                      the twin takes over about one TTL after the leader dies)"
                .into(),
        });
    }
    Ok(super::leadership::TwinSettings {
        etcd: raw.etcd,
        instance,
        cluster,
        lease_ttl,
    })
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Like ssh with a private key: a password file others can read is a leak waiting to happen,
/// but refusing to start would take routing down over a file mode, so it is a warning.
fn password_file_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the password file {} is accessible to group or others (mode {mode:03o}); \
             make it private to the engine's user: chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

/// A password written in the config file is as exposed as a password file with the file's
/// mode: warned about the same way.
fn inline_password_warning(config: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(config).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the config file {} holds the IP Office password (pbx.password) and is accessible \
             to group or others (mode {mode:03o}); make it private to the engine's user: \
             chmod 600 {}, or move the password to a private pbx.password_file",
            config.display(),
            config.display()
        )
    })
}

/// Where and what, without quoting the offending line: it may hold the password (an unquoted
/// or misspelt `password = …`), and error messages end up in the journal.
fn parse_error_message(text: &str, e: &toml::de::Error) -> String {
    let position = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.len() - line_start + 1;
        match key_on_line(&text[line_start..]) {
            Some(key) => format!("line {line}, column {column} (`{key}`): "),
            None => format!("line {line}, column {column}: "),
        }
    });
    format!(
        "{}{}",
        position.unwrap_or_default(),
        without_values(e.message().trim_end())
    )
}

/// The key of a `key = value` line, so an error about its value can name it without quoting
/// the value; `None` for a line that is not one (a table header, a line without `=`).
fn key_on_line(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    (!key.is_empty() && key.chars().all(plain)).then_some(key)
}

/// serde's "invalid type: integer `98765432`, expected a string" quotes the value it got,
/// which may be the password given unquoted: the kind of value is enough to fix it. Field
/// names (also quoted, in "unknown field `pasword`") are kept.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = ["invalid type: ", "invalid value: "]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| i + p.len()))
        .min()
    {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // "integer `98765432`", "floating point `1.5`" or "string \"abc\"": the kind, then
        // the value up to the comma.
        let value_end = rest.find(", expected").unwrap_or(rest.len());
        let kind_end = rest[..value_end].find(['`', '"']).unwrap_or(value_end);
        out.push_str(rest[..kind_end].trim_end());
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Checks one IP Office address, returning the warning a lab-only `ws://` deserves. Errors
/// show the address with any user-info masked: `wss://acd:PASSWORD@host` must not put the
/// password in the journal while refusing it.
fn check_endpoint(e: &str, allow_plain_ws: bool) -> Result<Option<String>, ConfigError> {
    let shown = without_user_info(e);
    let invalid = |message: String| ConfigError::Invalid {
        key: "pbx.endpoints",
        message,
    };
    let (plain, rest) = match (e.strip_prefix("wss://"), e.strip_prefix("ws://")) {
        (Some(rest), _) => (false, rest),
        (None, Some(rest)) => (true, rest),
        (None, None) => {
            return Err(invalid(format!(
                "`{shown}` must start with wss:// (IP Office serves MT-CTI3 over HTTPS only)"
            )))
        }
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(invalid(format!(
            "`{shown}` holds a user name or password before the host; remove it: the user \
             name goes in pbx.username, the password in pbx.password_file"
        )));
    }
    if authority.is_empty() {
        return Err(invalid(format!("`{shown}` has no host")));
    }
    if !plain {
        return Ok(None);
    }
    if !allow_plain_ws {
        return Err(invalid(format!(
            "`{shown}` is unencrypted: the service user's password and every call would \
             travel in clear text. Use wss:// (IP Office serves MT-CTI3 over HTTPS); for a \
             lab or a simulator only, set allow_plain_ws = true under [pbx.tls]"
        )));
    }
    Ok(Some(format!(
        "pbx.endpoints: `{shown}` is UNENCRYPTED (pbx.tls.allow_plain_ws = true): the \
         service user's password and every call travel in clear text; for a lab or a \
         simulator only, use wss:// with IP Office"
    )))
}

/// The address with whatever precedes an `@` in its authority replaced by `***`.
fn without_user_info(e: &str) -> String {
    let Some((scheme, rest)) = e.split_once("://") else {
        return match e.rfind('@') {
            Some(at) => format!("***{}", &e[at..]),
            None => e.to_string(),
        };
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => e.to_string(),
    }
}

/// Parses `ab:cd:…` or plain hex SHA-256 fingerprints, as browsers and openssl print them.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], ConfigError> {
    acd_wire::fingerprint::Fingerprint::parse(text)
        .map(|f| f.0)
        .map_err(|e| ConfigError::Invalid {
            key: "pbx.tls.pin_sha256",
            message: e.to_string(),
        })
}

/// `[pbx]`'s deadlines on the link itself: `ping_interval`, `write_timeout` and
/// `tcp_keepalive` are off at "0s"; `pong_timeout` must be above zero.
fn link_deadlines(raw: &RawPbx) -> Result<super::pbx_link::LinkDeadlines, ConfigError> {
    let defaults = super::pbx_link::LinkDeadlines::default();
    let optional = |key, text: &Option<String>, default| {
        parse_duration(key, text.as_deref())
            .map(|d| d.map_or(default, |d| Some(d).filter(|d| !d.is_zero())))
    };
    let pong_timeout = parse_duration("pbx.pong_timeout", raw.pong_timeout.as_deref())?
        .unwrap_or(defaults.pong_timeout);
    if pong_timeout.is_zero() {
        return Err(ConfigError::Invalid {
            key: "pbx.pong_timeout",
            message: "must be above zero (turn pings off with ping_interval = \"0s\")".into(),
        });
    }
    Ok(super::pbx_link::LinkDeadlines {
        ping_interval: optional(
            "pbx.ping_interval",
            &raw.ping_interval,
            defaults.ping_interval,
        )?,
        pong_timeout,
        write_timeout: optional(
            "pbx.write_timeout",
            &raw.write_timeout,
            defaults.write_timeout,
        )?,
        tcp_keepalive: optional(
            "pbx.tcp_keepalive",
            &raw.tcp_keepalive,
            defaults.tcp_keepalive,
        )?,
    })
}

fn parse_duration(key: &'static str, text: Option<&str>) -> Result<Option<Duration>, ConfigError> {
    text.map(|t| {
        humantime::parse_duration(t).map_err(|e| ConfigError::Invalid {
            key,
            message: format!("`{t}` is not a duration like \"10s\" or \"1h\": {e}"),
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const MINIMAL: &str = r#"
        [pbx]
        endpoints = ["wss://192.0.2.10:443"]
        username = "acd"
        password = "s3cret"
    "#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = DaemonConfig::parse(MINIMAL, Path::new("/etc/acd/acd.toml"), &no_env).unwrap();
        assert_eq!(c.metrics_listen.to_string(), DEFAULT_METRICS_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.pbx.request_timeout, Duration::from_secs(10));
        assert!(!c.pbx.unframed);
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "password leaked in Debug"
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| match k {
            ENV_PASSWORD => Some("from-env".to_string()),
            ENV_METRICS_LISTEN => Some("0.0.0.0:9999".to_string()),
            _ => None,
        };
        let c = DaemonConfig::parse(MINIMAL, Path::new("acd.toml"), &env).unwrap();
        assert_eq!(c.pbx.password.expose(), "from-env");
        assert_eq!(c.metrics_listen.port(), 9999);
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            ("[pbx]\nusername=\"a\"\npassword=\"b\"", "pbx.endpoints"),
            (
                "[pbx]\nendpoints=[\"http://x\"]\nusername=\"a\"\npassword=\"b\"",
                "pbx.endpoints",
            ),
            ("[pbx]\nendpoints=[\"wss://x\"]\npassword=\"b\"", "pbx.username"),
            ("[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"", "pbx.password"),
            (
                "[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"\npassword=\"b\"\nframing=\"zip\"",
                "pbx.framing",
            ),
            (
                "[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"\npassword=\"b\"\n[pbx.tls]\npin_sha256=\"abc\"",
                "pbx.tls.pin_sha256",
            ),
            (
                "[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"\npassword=\"b\"\n[metrics]\nlisten=\"nope\"",
                "metrics.listen",
            ),
            (
                "[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"\npassword=\"b\"\nsubscription_timeout=\"5s\"",
                "pbx.subscription_timeout",
            ),
        ];
        for (text, key) in cases {
            let err = DaemonConfig::parse(text, Path::new("acd.toml"), &no_env).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn parse_errors_never_quote_the_password() {
        for text in [
            "[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"\npassword=Hunter2Secret\n",
            "[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"\npasword=\"Hunter2Secret\"\n",
        ] {
            let err = DaemonConfig::parse(text, Path::new("acd.toml"), &no_env).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("Hunter2Secret"), "{shown}");
            assert!(shown.contains("line 4"), "{shown}");
        }
    }

    #[test]
    fn type_errors_name_the_kind_of_value_but_not_the_value() {
        for (value, kind) in [
            ("98765432", "integer"),
            ("98765.432", "floating point"),
            ("true", "boolean"),
            ("[\"Hunter2Secret\"]", "sequence"),
        ] {
            let text =
                format!("[pbx]\nendpoints=[\"wss://x\"]\nusername=\"a\"\npassword={value}\n");
            let err = DaemonConfig::parse(&text, Path::new("acd.toml"), &no_env).unwrap_err();
            let shown = format!("{err} {err:?}");
            let secret = value.trim_matches(['[', ']', '"']);
            assert!(!shown.contains(secret), "{shown}");
            assert!(
                shown.contains(&format!("invalid type: {kind}, expected")),
                "{shown}"
            );
            assert!(shown.contains("line 4"), "{shown}");
        }
        assert_eq!(
            without_values(
                "invalid value: string \"x\", expected one of a, b; unknown field `pasword`"
            ),
            "invalid value: string, expected one of a, b; unknown field `pasword`"
        );
    }

    #[test]
    fn credentials_in_an_address_are_refused_without_echo() {
        for endpoint in [
            "wss://acd:Hunter2Secret@192.0.2.10:443",
            "wss://Hunter2Secret@192.0.2.10",
            "ws://acd:Hunter2Secret@192.0.2.10/x@y",
            "https://acd:Hunter2Secret@192.0.2.10",
        ] {
            let text =
                format!("[pbx]\nendpoints=[\"{endpoint}\"]\nusername=\"a\"\npassword=\"b\"\n");
            let err = DaemonConfig::parse(&text, Path::new("acd.toml"), &no_env).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("Hunter2Secret"), "{shown}");
            assert!(
                shown.contains("pbx.endpoints") && shown.contains("***@"),
                "{shown}"
            );
        }
        let env = |k: &str| (k == ENV_ENDPOINTS).then(|| "wss://a:Hunter2Secret@h".to_string());
        let err = DaemonConfig::parse(MINIMAL, Path::new("acd.toml"), &env).unwrap_err();
        assert!(!err.to_string().contains("Hunter2Secret"), "{err}");
    }

    #[test]
    fn plain_ws_needs_the_lab_setting_and_is_then_warned_about() {
        let text = "[pbx]\nendpoints=[\"ws://192.0.2.10:80\"]\nusername=\"a\"\npassword=\"b\"\n";
        let err = ConfigFile::parse(text, Path::new("acd.toml"), &no_env).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("pbx.endpoints") && shown.contains("allow_plain_ws"),
            "{shown}"
        );
        let lab = format!("{text}[pbx.tls]\nallow_plain_ws = true\n");
        let parsed = ConfigFile::parse(&lab, Path::new("acd.toml"), &no_env).unwrap();
        let [warning] = parsed.warnings.as_slice() else {
            panic!("{:?}", parsed.warnings)
        };
        assert!(warning.contains("UNENCRYPTED") && warning.contains("ws://192.0.2.10:80"));
        // wss:// needs no setting and gets no warning, with the setting or without.
        let wss = lab.replace("ws://", "wss://");
        let parsed = ConfigFile::parse(&wss, Path::new("acd.toml"), &no_env).unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    }

    #[test]
    fn an_inline_password_in_a_config_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acd.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false), (0o400, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let parsed = ConfigFile::load(&path, &no_env).unwrap();
            assert_eq!(
                parsed.warnings.len(),
                usize::from(warned),
                "{mode:o}: {:?}",
                parsed.warnings
            );
            for w in &parsed.warnings {
                assert!(
                    w.contains("chmod 600") && w.contains("acd.toml") && !w.contains("s3cret"),
                    "{w}"
                );
            }
        }
        // The password from the environment, a private file: nothing in the config to warn about.
        std::fs::write(&path, MINIMAL.replace("password = \"s3cret\"", "")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let env = |k: &str| (k == ENV_PASSWORD).then(|| "from-env".to_string());
        assert!(ConfigFile::load(&path, &env).unwrap().warnings.is_empty());
    }

    #[test]
    fn a_missing_file_is_reported_once_in_a_chain() {
        let err = DaemonConfig::load(Path::new("/nonexistent/acd.toml"), &no_env).unwrap_err();
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert_eq!(chain.matches("No such file").count(), 1, "{chain}");
    }

    fn with_password_file(mode: u32) -> (tempfile::TempDir, PathBuf, ConfigFile) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pbx-password");
        std::fs::write(&file, "s3cret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let text = "[pbx]\nendpoints = [\"wss://192.0.2.10\"]\nusername = \"acd\"\n\
                    password_file = \"pbx-password\"\n";
        let parsed = ConfigFile::parse(text, &dir.path().join("acd.toml"), &no_env).unwrap();
        (dir, file, parsed)
    }

    #[test]
    fn a_password_file_others_can_read_is_warned_about_with_the_fix() {
        for mode in [0o644, 0o640, 0o604, 0o660] {
            let (_dir, file, parsed) = with_password_file(mode);
            assert_eq!(parsed.daemon.pbx.password.expose(), "s3cret");
            let [warning] = parsed.warnings.as_slice() else {
                panic!("{mode:o}: {:?}", parsed.warnings)
            };
            assert!(warning.contains(&file.display().to_string()), "{warning}");
            assert!(warning.contains("chmod 600"), "{warning}");
            assert!(!warning.contains("s3cret"), "{warning}");
        }
        for mode in [0o600, 0o400] {
            let (_dir, _file, parsed) = with_password_file(mode);
            assert!(
                parsed.warnings.is_empty(),
                "{mode:o}: {:?}",
                parsed.warnings
            );
        }
    }

    #[test]
    fn tls_settings_that_cannot_all_apply_are_warned_about() {
        let text = format!(
            "{MINIMAL}\n[pbx.tls]\nca_file = \"ca.pem\"\npin_sha256 = \"{}\"\n",
            "ab".repeat(32)
        );
        let parsed = ConfigFile::parse(&text, Path::new("acd.toml"), &no_env).unwrap();
        assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
        assert!(parsed.warnings[0].contains("pin_sha256 wins"));
    }

    #[test]
    fn http_limits_have_defaults_and_can_be_set() {
        let c = ConfigFile::parse(MINIMAL, Path::new("acd.toml"), &no_env).unwrap();
        assert_eq!(c.http, HttpLimits::default());
        let text = format!(
            "{MINIMAL}\n[metrics]\nmax_connections = 8\nheader_read_timeout = \"2s\"\n\
             idle_timeout = \"5s\"\n"
        );
        let c = ConfigFile::parse(&text, Path::new("acd.toml"), &no_env).unwrap();
        assert_eq!(c.http.max_connections, 8);
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.http.idle_timeout, Duration::from_secs(5));
        let zero = format!("{MINIMAL}\n[metrics]\nmax_connections = 0\n");
        let err = ConfigFile::parse(&zero, Path::new("acd.toml"), &no_env).unwrap_err();
        assert!(err.to_string().contains("metrics.max_connections"), "{err}");
        let zero = format!("{MINIMAL}\n[metrics]\nheader_read_timeout = \"0s\"\n");
        let err = ConfigFile::parse(&zero, Path::new("acd.toml"), &no_env).unwrap_err();
        assert!(
            err.to_string().contains("metrics.header_read_timeout"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = format!("{MINIMAL}\n[metrics]\nlisten_addr = \"127.0.0.1:1\"");
        let err = DaemonConfig::parse(&text, Path::new("acd.toml"), &no_env).unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn twin_defaults_and_checks() {
        let c = DaemonConfig::parse(MINIMAL, Path::new("acd.toml"), &no_env).unwrap();
        assert_eq!(c.twin, None, "alone unless [twin] is given");
        let text =
            format!("{MINIMAL}\n[twin]\netcd = [\"http://127.0.0.1:2379\"]\ninstance = \"a\"\n");
        let twin = DaemonConfig::parse(&text, Path::new("acd.toml"), &no_env)
            .unwrap()
            .twin
            .unwrap();
        assert_eq!(twin.lease_ttl, Duration::from_secs(2));
        assert_eq!(twin.cluster, "acd");
        assert_eq!(twin.key(), "/acd/acd/leader");
        for (extra, key) in [
            ("etcd = []", "twin.etcd"),
            ("etcd = [\"https://x:2379\"]", "twin.etcd"),
            (
                "etcd = [\"http://x:1\"]\nlease_ttl = \"1s\"",
                "twin.lease_ttl",
            ),
            (
                "etcd = [\"http://x:1\"]\nlease_ttl = \"2500ms\"",
                "twin.lease_ttl",
            ),
            ("etcd = [\"http://x:1\"]\ncluster = \"a/b\"", "twin.cluster"),
            ("etcd = [\"http://x:1\"]\ninstance = \"\"", "twin.instance"),
        ] {
            let text = format!("{MINIMAL}\n[twin]\n{extra}\n");
            let err = DaemonConfig::parse(&text, Path::new("acd.toml"), &no_env).unwrap_err();
            assert!(err.to_string().contains(key), "{extra}: {err}");
        }
    }

    #[test]
    fn fingerprints_accept_colons() {
        let hex64 = "AB".repeat(32);
        let colons: Vec<String> = (0..32).map(|_| "ab".to_string()).collect();
        assert_eq!(parse_fingerprint(&hex64).unwrap(), [0xab; 32]);
        assert_eq!(parse_fingerprint(&colons.join(":")).unwrap(), [0xab; 32]);
    }
}

//! The command line of the `sol` binary, and the start-up order: configuration (its
//! memory ceiling checked against `memory_limit`), logging, pid file, listeners, drop of
//! root, store, run.
//!
//! ```text
//! sol [-c FILE | -p PORT] [-v]     run the broker
//! sol --version                    print "sol VERSION"
//! sol check -c FILE                validate a configuration, print its listeners and
//!                                  the memory ceiling of its caps
//! sol passwd [-c|-D|-b] FILE USER [PASSWORD]
//!                                  set or delete a user in a password file
//!                                  (see [`crate::passwd`])
//! ```
//!
//! Started by systemd (`NOTIFY_SOCKET` set), the broker reports readiness, reloads, its
//! stop and watchdog pets through [`crate::notify`].
//!
//! Without `-c` or `-p`, Sol runs with the embedded defaults (loopback listeners on port
//! 1883, anonymous clients allowed). `-p PORT` is the same on another port; it cannot be
//! combined with `-c` (the file decides the listeners).
//!
//! Exit codes: [`EXIT_OK`], [`EXIT_CONFIG`], [`EXIT_USAGE`], [`EXIT_RUNTIME`]. This module
//! holds no protocol logic.

use crate::config::{Bind, BridgeConfig, BridgeProtocol, Config, Direction, OutboxPolicy};
use crate::pid_file::PidFile;
use crate::privilege::Dropped;
use crate::tls::TlsVersion;
use argh::FromArgs;
use std::path::PathBuf;

/// Normal exit.
pub const EXIT_OK: i32 = 0;
/// The configuration file is invalid or unreadable.
pub const EXIT_CONFIG: i32 = 1;
/// The command line is invalid.
pub const EXIT_USAGE: i32 = 2;
/// The broker failed at run time (a listener could not be bound, logging failed, ...).
pub const EXIT_RUNTIME: i32 = 3;

/// Sol, a small and predictable MQTT broker for embedded Linux.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(help_triggers("-h", "--help", "help"))]
struct Args {
    /// configuration file, in Mosquitto's syntax
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// listen on 127.0.0.1:PORT and [::1]:PORT with anonymous clients allowed (not with -c)
    #[argh(option, short = 'p')]
    port: Option<u16>,
    /// log every message type, including debug
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    /// a subcommand instead of running the broker
    #[argh(subcommand)]
    command: Option<Command>,
}

/// The subcommands.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
enum Command {
    /// `sol check`.
    Check(CheckArgs),
    /// `sol passwd`.
    Passwd(PasswdArgs),
}

/// Set or delete a user in a password file (Mosquitto's format; new entries are
/// PBKDF2-SHA512). Without -b the password is asked for (twice on a terminal, one line
/// from a pipe).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "passwd", help_triggers("-h", "--help", "help"))]
struct PasswdArgs {
    /// create the file, replacing it if it exists
    #[argh(switch, short = 'c')]
    create: bool,
    /// delete the user
    #[argh(switch, short = 'D')]
    delete: bool,
    /// batch mode: the password is the third argument
    #[argh(switch, short = 'b')]
    batch: bool,
    /// the password file
    #[argh(positional)]
    file: PathBuf,
    /// the username
    #[argh(positional)]
    user: String,
    /// the password (with -b only)
    #[argh(positional)]
    password: Option<String>,
}

/// Validate a configuration file: print its errors (exit 1), or its listeners and the
/// memory ceiling of its caps (exit 0).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "check", help_triggers("-h", "--help", "help"))]
struct CheckArgs {
    /// configuration file to check
    #[argh(option, short = 'c')]
    config: PathBuf,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Invocation {
    /// Print the version.
    Version,
    /// Validate a file.
    Check(PathBuf),
    /// Edit a password file.
    Passwd {
        /// The file.
        file: PathBuf,
        /// The user.
        user: String,
        /// What to do.
        edit: crate::passwd::Edit,
    },
    /// Run the broker.
    Run {
        /// Where the configuration comes from.
        source: Source,
        /// `-v`.
        verbose: bool,
    },
}

/// Where the broker's configuration comes from.
#[derive(Debug, PartialEq)]
enum Source {
    /// No `-c` or `-p`: the embedded defaults.
    Defaults,
    /// `-p PORT`: the embedded defaults on PORT.
    Port(u16),
    /// `-c FILE`.
    File(PathBuf),
}

/// Why the command line did not lead to an [`Invocation`].
#[derive(Debug, PartialEq)]
struct Exit {
    /// The exit code.
    code: i32,
    /// What to print: help on stdout for code 0, an error on stderr otherwise.
    message: String,
}

/// Entry point of the `sol` binary; returns the exit code.
pub fn main() -> i32 {
    let args: Vec<String> = match std::env::args_os().map(|a| a.into_string()).collect() {
        Ok(args) => args,
        Err(bad) => {
            eprintln!("sol: argument {bad:?} is not valid UTF-8");
            return EXIT_USAGE;
        }
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (name, rest) = match args.split_first() {
        Some((name, rest)) => (command_name(name), rest),
        None => ("sol", &[][..]),
    };
    match parse_args(name, rest) {
        Ok(invocation) => execute(invocation),
        Err(exit) => {
            if exit.code == EXIT_OK {
                println!("{}", exit.message);
            } else {
                eprintln!("{}", exit.message);
            }
            exit.code
        }
    }
}

/// The program name as invoked, without its directory.
fn command_name(arg0: &str) -> &str {
    arg0.rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("sol")
}

/// Parses the arguments after the program name.
fn parse_args(name: &str, args: &[&str]) -> Result<Invocation, Exit> {
    let args = Args::from_args(&[name], args).map_err(|early| Exit {
        code: if early.status.is_ok() {
            EXIT_OK
        } else {
            EXIT_USAGE
        },
        message: early.output.trim_end().to_string(),
    })?;
    let usage = |message: &str| Exit {
        code: EXIT_USAGE,
        message: format!("{name}: {message}\nRun {name} --help for more information."),
    };
    if args.version {
        return Ok(Invocation::Version);
    }
    match args.command {
        Some(_) if args.config.is_some() || args.port.is_some() || args.verbose => {
            return Err(usage(
                "options go after the subcommand (sol check -c FILE, sol passwd ...)",
            ));
        }
        Some(Command::Check(check)) => return Ok(Invocation::Check(check.config)),
        Some(Command::Passwd(p)) => return passwd_invocation(p).map_err(|m| usage(&m)),
        None => {}
    }
    let source = match (args.config, args.port) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "-p cannot be combined with -c: the configuration file decides the listeners",
            ))
        }
        (Some(file), None) => Source::File(file),
        (None, Some(port)) => Source::Port(port),
        (None, None) => Source::Defaults,
    };
    Ok(Invocation::Run {
        source,
        verbose: args.verbose,
    })
}

/// Checks the combination of `sol passwd` options.
fn passwd_invocation(p: PasswdArgs) -> Result<Invocation, String> {
    use crate::passwd::Edit;
    let edit = if p.delete {
        if p.create || p.batch || p.password.is_some() {
            return Err("-D takes no password and cannot be combined with -c or -b".into());
        }
        Edit::Delete
    } else {
        match (p.batch, p.password) {
            (true, None) => return Err("-b needs the password as third argument".into()),
            (false, Some(_)) => {
                return Err("a password argument needs -b (or leave it out to be asked)".into())
            }
            (_, password) => Edit::Set {
                create: p.create,
                password,
            },
        }
    };
    Ok(Invocation::Passwd {
        file: p.file,
        user: p.user,
        edit,
    })
}

/// Carries out an invocation; returns the exit code.
fn execute(invocation: Invocation) -> i32 {
    match invocation {
        Invocation::Version => {
            println!("sol {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        Invocation::Check(path) => match check(&path) {
            Ok(report) => {
                print!("{report}");
                EXIT_OK
            }
            Err(errors) => {
                eprintln!("{errors}");
                EXIT_CONFIG
            }
        },
        Invocation::Passwd { file, user, edit } => match crate::passwd::run(&file, &user, edit) {
            Ok(()) => EXIT_OK,
            Err(message) => {
                eprintln!("sol passwd: {message}");
                EXIT_CONFIG
            }
        },
        Invocation::Run { source, verbose } => run(source, verbose),
    }
}

/// Validates the file at `path` and the files it names; on success, the report `sol
/// check` prints (with warnings about listener addresses that are not this machine's and
/// files the broker's user could not read on reload).
fn check(path: &std::path::Path) -> Result<String, String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    if config.max_connections_auto {
        config.resolve_auto_connections(fd_limit());
    }
    config.load_auth().map_err(|errors| errors.to_string())?;
    memory_limit(path, &config)?;
    let mut report = check_report(&path.display().to_string(), &config);
    let mut warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    warnings.extend(foreign_addresses(&config));
    warnings.extend(missing_interfaces(&config));
    warnings.extend(unreadable_files(path, &config)?);
    warnings.extend(store_warnings(&config)?);
    for warning in warnings {
        report.push_str(&format!("\nwarning: {warning}"));
    }
    if report.ends_with(|c| c != '\n') {
        report.push('\n');
    }
    Ok(report)
}

/// Listeners whose address is not one of this machine's, as warnings: the broker would
/// not listen there, retrying the bind until the address appears (a DHCP lease, say). An
/// address is this machine's if a socket can be bound to it now (a UDP socket on an
/// ephemeral port, closed at once: the same test the broker's bind makes, without
/// listing the interfaces); a host name is resolved as the broker would resolve it.
fn foreign_addresses(config: &Config) -> Vec<String> {
    use std::net::{IpAddr, ToSocketAddrs, UdpSocket};
    let not_here = |ip: &IpAddr| matches!(UdpSocket::bind((*ip, 0)), Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable);
    let mut warnings = Vec::new();
    for listener in &config.listeners {
        let Bind::Host(host) = &listener.bind else {
            continue;
        };
        let named = format!("listener {} {host}", listener.port);
        let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match (host.as_str(), listener.port).to_socket_addrs() {
                Ok(addrs) => addrs.map(|a| a.ip()).collect(),
                Err(e) => {
                    warnings.push(format!(
                        "{named}: {host} does not resolve here ({e}); the broker retries \
                         until it does"
                    ));
                    continue;
                }
            },
        };
        if !addrs.is_empty() && addrs.iter().all(not_here) {
            warnings.push(format!(
                "{named}: {host} is not an address of this machine; the broker would not \
                 listen there until it is (it retries the bind)"
            ));
        }
    }
    warnings
}

/// The error of a configuration whose memory ceiling is above its `memory_limit`, as
/// `FILE: memory_limit: ...`.
fn memory_limit(path: &std::path::Path, config: &Config) -> Result<(), String> {
    match config.memory_limit_error(crate::net::SLOT_SIZES) {
        Some(error) => Err(format!("{}: {error}", path.display())),
        None => Ok(()),
    }
}

/// Listeners bound to a network interface this machine does not have (yet), as
/// warnings: the broker retries the bind until it appears (a PPP or Wi-Fi link).
fn missing_interfaces(config: &Config) -> Vec<String> {
    config
        .listeners
        .iter()
        .filter_map(|l| Some((l.port, l.bind_interface.as_deref()?)))
        .filter(|(_, name)| nix::net::if_::if_nametoindex(*name).is_err())
        .map(|(port, name)| {
            format!(
                "listener {port}: there is no network interface named {name} on this \
                 machine; the broker would not listen there until it appears (it retries \
                 the bind)"
            )
        })
        .collect()
}

/// The account the broker runs as: started as root, the configured `user` (see
/// [`crate::privilege`]); otherwise whoever starts it, assumed to be whoever runs `sol
/// check`. `None` if it cannot be told.
fn broker_account(config: &Config) -> Result<Option<crate::privilege::Account>, String> {
    use crate::privilege::Account;
    use nix::unistd::Uid;
    if Uid::effective().is_root() {
        crate::privilege::run_user(config.user.as_deref())
    } else {
        Ok(Account::current())
    }
}

/// Files read on reload that the broker's user cannot read, as warnings.
fn unreadable_files(path: &std::path::Path, config: &Config) -> Result<Vec<String>, String> {
    let Some(user) = broker_account(config)? else {
        return Ok(Vec::new());
    };
    let files = [
        Some(path),
        config.security.password_file.as_deref(),
        config.security.acl_file.as_deref(),
    ];
    let included = config.included.iter().map(|p| p.as_path());
    let mut warnings = Vec::new();
    for file in files.into_iter().flatten().chain(included) {
        if !crate::privilege::readable_by(file, &user).unwrap_or(false) {
            warnings.push(format!(
                "{} is not readable by user {}, which the broker runs as: a reload (SIGHUP) \
                 would fail to read it",
                file.display(),
                user.name
            ));
        }
    }
    Ok(warnings)
}

/// Problems the store would meet at start-up, as warnings: a relative location (it
/// depends on the directory the broker is started in), a directory the broker's user
/// could not write (it creates a missing one; the nearest existing one above must then be
/// writable).
fn store_warnings(config: &Config) -> Result<Vec<String>, String> {
    let p = &config.persistence;
    if !p.enabled {
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    let path = p.path();
    if path.is_relative() {
        warnings.push(format!(
            "the store file {} is relative to the directory the broker is started in (/ \
             under systemd); set persistence_location to an absolute directory",
            path.display()
        ));
        return Ok(warnings);
    }
    let Some(user) = broker_account(config)? else {
        return Ok(warnings);
    };
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    let existing = dir.ancestors().find(|d| d.is_dir()).unwrap_or(dir);
    if !crate::privilege::dir_writable_by(existing, &user).unwrap_or(false) {
        let warning = if existing == dir {
            format!(
                "the store directory {} is not writable by user {}, which the broker runs \
                 as: it would not start",
                dir.display(),
                user.name
            )
        } else {
            format!(
                "the store directory {} does not exist, and user {}, which the broker runs \
                 as, cannot create it in {}: it would not start unless it is created first \
                 (systemd's StateDirectory= does)",
                dir.display(),
                user.name,
                existing.display()
            )
        };
        warnings.push(warning);
    }
    Ok(warnings)
}

/// The text of a successful `sol check`: the file, its listeners, the memory ceiling.
fn check_report(file: &str, config: &Config) -> String {
    let mut out = format!("{file}: OK\n\nListeners:\n");
    for listener in &config.listeners {
        out.push_str(&format!("  {listener}\n"));
    }
    if !config.bridges.is_empty() {
        out.push_str("\nBridges:\n");
        for bridge in &config.bridges {
            out.push_str(&bridge_report(bridge));
        }
        out.push_str(if config.persistence.enabled {
            "  (outboxes: a window in RAM, the rest on disk in the store)\n"
        } else {
            "  (outboxes: in RAM; with persistence a window in RAM, the rest on disk)\n"
        });
    }
    let auto = if config.max_connections_auto {
        " (automatic, from the open file limit)"
    } else {
        ""
    };
    out.push_str(&format!(
        "\nMemory ceiling (worst case the caps allow; max_connections {}{auto}):\n",
        config.limits.max_connections
    ));
    for line in config
        .memory_ceiling(crate::net::SLOT_SIZES)
        .to_string()
        .lines()
    {
        out.push_str(&format!("  {line}\n"));
    }
    if config.memory.memory_limit != usize::MAX {
        out.push_str(&format!(
            "  memory_limit {}: the ceiling fits (Sol keeps the limit by refusing caps whose \
             worst case exceeds it)\n",
            crate::config::size(config.memory.memory_limit as u64)
        ));
    }
    out.push('\n');
    out.push_str(&persistence_report(config));
    if let Some(pid_file) = &config.pid_file {
        out.push_str(&format!("\nPid file: {}\n", pid_file.display()));
    }
    out
}

/// One bridge in `sol check`: its name, upstream addresses, protocol, TLS and client id,
/// its topic mappings (direction, QoS, local and remote filters), and its outbox budget.
fn bridge_report(b: &BridgeConfig) -> String {
    let addresses: Vec<String> = b.addresses.iter().map(ToString::to_string).collect();
    let protocol = match b.protocol {
        BridgeProtocol::V31 => "3.1",
        BridgeProtocol::V311 => "3.1.1",
        BridgeProtocol::V5 => "5.0",
    };
    let tls = match b.tls.as_ref().map(|t| t.settings.min_version) {
        None => "no TLS",
        Some(TlsVersion::Tls12) => "TLS 1.2+",
        Some(TlsVersion::Tls13) => "TLS 1.3",
    };
    let mut out = format!(
        "  {}: {}{}, MQTT {protocol}, {tls}, client id {}\n",
        b.name,
        addresses.join(", "),
        if b.round_robin { " (round robin)" } else { "" },
        b.remote_clientid
    );
    for t in &b.topics {
        let (local, remote) = (t.local_filter(), t.remote_filter());
        let (name, mapping) = match t.direction {
            Direction::Out => ("out", format!("local {local} -> remote {remote}")),
            Direction::In => ("in", format!("remote {remote} -> local {local}")),
            Direction::Both => ("both", format!("local {local} <-> remote {remote}")),
        };
        out.push_str(&format!("    {name} QoS {}: {mapping}\n", t.qos as u8));
    }
    let o = &b.outbox;
    out.push_str(&format!(
        "    outbox: {} messages, {}, {} when full, QoS 0 {}\n",
        o.max_messages,
        crate::config::size(o.max_bytes as u64),
        match o.policy {
            OutboxPolicy::DropOldest => "drops the oldest",
            OutboxPolicy::RefuseNew => "refuses new messages",
        },
        if o.queue_qos0 { "queued" } else { "not queued" }
    ));
    out
}

/// The persistence section of `sol check`: where the store is, what a crash or a power
/// cut can lose, and the disk budget the caps imply.
fn persistence_report(config: &Config) -> String {
    let p = &config.persistence;
    if !p.enabled {
        return "Persistence: off (retained messages and persistent sessions are lost at a \
                restart; `persistence true` keeps them)\n"
            .to_string();
    }
    let mut out = format!("Persistence: on, store file {}\n", p.path().display());
    let n = p.autosave_interval;
    let saves = match (n, p.autosave_on_changes) {
        (0, _) => "  saves: only at a clean stop (autosave_interval 0): a crash or power cut \
                   loses every change since the start"
            .to_string(),
        (n, true) => format!(
            "  saves: after every {n} changes (autosave_on_changes): a crash or power cut \
             loses up to {n} changes, however old"
        ),
        (n, false) => format!(
            "  saves: a change is written within {n} s (autosave_interval): a crash or power \
             cut loses at most the last {n} s of changes"
        ),
    };
    out.push_str(&saves);
    out.push('\n');
    out.push_str(if p.sync {
        "  acknowledgements: a QoS 1/2 PUBLISH is acknowledged once it is on disk \
         (persistence_sync): nothing acknowledged is lost; one fsync per burst of messages\n"
    } else {
        "  acknowledgements: at once (persistence_sync false): an acknowledged message can \
         be lost with the changes above\n"
    });
    let budget = crate::store::DiskBudget::of(&config.limits, n, p.autosave_on_changes);
    out.push_str(&format!(
        "  disk: with every cap full the live state is {} and the file stays within {} \
         (compaction keeps at most half of it dead); a save writes only what changed since \
         the last one",
        crate::config::size(budget.max_live),
        crate::config::size(budget.max_file)
    ));
    match budget.max_per_hour {
        Some(hour) => out.push_str(&format!(
            ": at most {} an hour at this interval, if every item changed in every \
             interval (docs/persistence.md has measured figures)\n",
            crate::config::size(hour)
        )),
        None => out.push_str(" (docs/persistence.md has measured figures)\n"),
    }
    out
}

/// The soft `RLIMIT_NOFILE`, or 1024 if it cannot be read.
/// glibc only (Debian's and Raspberry Pi OS's builds; musl has no such heuristic):
/// fixes malloc's mmap threshold at its initial 128 KiB. By default glibc raises it to
/// the size of each large block freed, so that the next ones come from the heap, which
/// keeps its high-water mark resident: a store compaction's plan (hundreds of KiB for a
/// full bridge outbox) then left RSS that much higher for good (+672 KiB measured in a
/// 3-minute outage, +64 KiB with the threshold fixed). Large blocks are mapped and
/// returned to the system when freed.
fn fixed_mmap_threshold() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a parameter of the allocator; called before any thread
    // but the main one exists.
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

// `rlim_t` is u32 on 32-bit glibc (armv7-unknown-linux-gnueabihf), u64 elsewhere.
#[allow(clippy::useless_conversion)]
fn fd_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _hard)| u64::from(soft))
}

/// Runs the broker, then gives the log writers a bounded time to write what they hold.
fn run(source: Source, verbose: bool) -> i32 {
    fixed_mmap_threshold();
    let code = run_broker(source, verbose);
    crate::log::flush();
    code
}

/// Runs the broker: configuration, logging, listeners, signals, readiness (systemd), reactor.
fn run_broker(source: Source, verbose: bool) -> i32 {
    let config = match source {
        Source::Defaults => Config::embedded_defaults(),
        Source::Port(port) => Config::loopback(port),
        Source::File(path) => match Config::load(&path) {
            Ok(config) => config,
            Err(errors) => {
                eprintln!("{errors}");
                return EXIT_CONFIG;
            }
        },
    };
    if let Some(path) = &config.source {
        let mut sized = config.clone();
        sized.resolve_auto_connections(fd_limit());
        if let Err(e) = memory_limit(path, &sized) {
            eprintln!("{e}");
            return EXIT_CONFIG;
        }
    }
    if let Err(e) = crate::log::init(&config.log, verbose) {
        eprintln!("sol: {e}");
        return EXIT_RUNTIME;
    }
    ::log::info!("sol {} starting", env!("CARGO_PKG_VERSION"));
    match &config.source {
        Some(path) => ::log::info!("Config loaded from {}.", path.display()),
        None => ::log::info!("Using the embedded defaults: loopback listeners only."),
    }
    for warning in &config.warnings {
        ::log::warn!("{warning}");
    }
    // Before the listeners and the drop of root, as Mosquitto; removed when `run` returns.
    let _pid_file = match config.pid_file.as_deref().map(PidFile::write).transpose() {
        Ok(pid_file) => pid_file,
        Err(e) => {
            report_runtime_error(&e);
            return EXIT_RUNTIME;
        }
    };
    let mut notifier = crate::notify::Notifier::from_env();
    let user = config.user.clone();
    let store = config.persistence.store_settings();
    let started = crate::net::Server::new(config).and_then(|mut server| {
        server.enable_signals()?;
        Ok(server)
    });
    let mut server = match started {
        Ok(server) => server,
        Err(e) => {
            report_runtime_error(&format!("cannot start: {e}"));
            notifier.status(&format!("cannot start: {e}"));
            return EXIT_RUNTIME;
        }
    };
    match crate::privilege::drop_root(user.as_deref()) {
        Ok(Dropped::NotRoot) => {}
        Ok(Dropped::StayedRoot) => ::log::warn!("running as root: `user root` is configured"),
        Ok(Dropped::To(name)) => ::log::info!("listeners bound; now running as user {name}"),
        Err(e) => {
            report_runtime_error(&format!("refusing to run as root: {e}"));
            notifier.status(&format!("refusing to run as root: {e}"));
            return EXIT_RUNTIME;
        }
    }
    if let Some(settings) = store {
        if let Err(e) = server.start_store(settings) {
            report_runtime_error(&format!("cannot open the store: {e}"));
            notifier.status(&format!("cannot open the store: {e}"));
            return EXIT_RUNTIME;
        }
    }
    server.set_notifier(notifier);
    match server.run() {
        Ok(()) => {
            ::log::info!("sol {} terminating", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        Err(e) => {
            report_runtime_error(&format!("stopped: {e}"));
            EXIT_RUNTIME
        }
    }
}

/// Logs a fatal error, and prints it to stderr unless the log already did.
fn report_runtime_error(message: &str) {
    ::log::error!("Error: {message}");
    if !crate::log::errors_reach_stderr() {
        eprintln!("sol: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, Exit> {
        parse_args("sol", args)
    }

    #[test]
    fn no_arguments_run_the_embedded_defaults() {
        assert_eq!(
            parse(&[]),
            Ok(Invocation::Run {
                source: Source::Defaults,
                verbose: false
            })
        );
    }

    #[test]
    fn config_port_and_verbose() {
        assert_eq!(
            parse(&["-c", "/etc/sol.conf", "-v"]),
            Ok(Invocation::Run {
                source: Source::File("/etc/sol.conf".into()),
                verbose: true
            })
        );
        assert_eq!(
            parse(&["-p", "1884"]),
            Ok(Invocation::Run {
                source: Source::Port(1884),
                verbose: false
            })
        );
        assert_eq!(parse(&["--version"]), Ok(Invocation::Version));
    }

    #[test]
    fn check_takes_its_own_file() {
        assert_eq!(
            parse(&["check", "-c", "sol.conf"]),
            Ok(Invocation::Check("sol.conf".into()))
        );
        let exit = parse(&["-c", "a.conf", "check", "-c", "b.conf"]).expect_err("ambiguous");
        assert_eq!(exit.code, EXIT_USAGE);
        assert_eq!(parse(&["check"]).expect_err("no file").code, EXIT_USAGE);
    }

    #[test]
    fn usage_errors_exit_2() {
        let exit = parse(&["-c", "sol.conf", "-p", "1884"]).expect_err("both");
        assert_eq!(exit.code, EXIT_USAGE);
        assert!(exit.message.starts_with(
            "sol: -p cannot be combined with -c: the configuration file decides the listeners"
        ));
        assert_eq!(parse(&["-p", "70000"]).expect_err("port").code, EXIT_USAGE);
        assert_eq!(parse(&["--bogus"]).expect_err("unknown").code, EXIT_USAGE);
        assert_eq!(parse(&["-c"]).expect_err("missing").code, EXIT_USAGE);
    }

    #[test]
    fn help_exits_0() {
        let exit = parse(&["--help"]).expect_err("help");
        assert_eq!(exit.code, EXIT_OK);
        assert!(exit.message.contains("-c, --config"));
    }

    #[test]
    fn dash_h_is_help_for_sol_and_its_subcommands() {
        for (args, shows) in [
            (&["-h"][..], "-c, --config"),
            (&["check", "-h"], "configuration file to check"),
            (&["passwd", "-h"], "delete the user"),
        ] {
            let exit = parse(args).expect_err("help");
            assert_eq!(exit.code, EXIT_OK, "{args:?}");
            assert!(exit.message.contains(shows), "{args:?}: {}", exit.message);
            let long: Vec<&str> = args
                .iter()
                .map(|&a| if a == "-h" { "--help" } else { a })
                .collect();
            assert_eq!(parse(&long), Err(exit), "-h and --help say the same");
        }
    }

    #[test]
    fn command_name_drops_the_directory() {
        assert_eq!(command_name("/usr/sbin/sol"), "sol");
        assert_eq!(command_name("sol"), "sol");
        assert_eq!(command_name("/"), "sol");
    }

    #[test]
    fn check_reports_listeners_and_ceiling() {
        let config =
            Config::parse("listener 1883\nlistener 0 /run/sol.sock\n", "x").expect("valid");
        let report = check_report("sol.conf", &config);
        assert!(report.starts_with(
            "sol.conf: OK\n\nListeners:\n  *:1883, anonymous refused\n  unix:/run/sol.sock, anonymous refused\n\nMemory ceiling"
        ), "{report}");
        assert!(report.contains("  total "), "{report}");
    }

    #[test]
    fn check_reports_each_bridge_and_its_outbox() {
        let config = Config::parse(
            "connection cloud\naddress mqtt.example.com:8883 [::1]:1884\nround_robin true\n\
             remote_clientid gw1\nbridge_protocol_version mqttv50\n\
             topic sensors/# out 1 site/ gw1/\ntopic cmd/# in 2 \"\" gw1/\ntopic a/# both\n\
             bridge_outbox_messages 500\nbridge_outbox_bytes 1M\n\
             bridge_outbox_policy refuse_new\nbridge_outbox_qos0 true\n",
            "x",
        )
        .expect("valid");
        let report = check_report("sol.conf", &config);
        assert!(
            report.contains(
                "\nBridges:\n  cloud: mqtt.example.com:8883, [::1]:1884 (round robin), MQTT \
                 5.0, no TLS, client id gw1\n\
                 \x20   out QoS 1: local site/sensors/# -> remote gw1/sensors/#\n\
                 \x20   in QoS 2: remote gw1/cmd/# -> local cmd/#\n\
                 \x20   both QoS 0: local a/# <-> remote a/#\n\
                 \x20   outbox: 500 messages, 1.0 MiB, refuses new messages when full, QoS 0 \
                 queued\n"
            ),
            "{report}"
        );
        assert!(report.contains("\n  bridge outboxes "), "{report}");
        let plain = check_report(
            "sol.conf",
            &Config::parse("listener 1883\n", "x").expect("ok"),
        );
        assert!(!plain.contains("Bridges:"), "{plain}");
    }

    #[test]
    fn check_reports_persistence_and_its_disk_budget() {
        let off = check_report(
            "sol.conf",
            &Config::parse("listener 1883\n", "x").expect("ok"),
        );
        assert!(off.contains("\nPersistence: off "), "{off}");
        let config = Config::parse(
            "persistence true\npersistence_location /var/lib/sol\nautosave_interval 300\n\
             persistence_sync true\n",
            "x",
        )
        .expect("valid");
        let report = check_report("sol.conf", &config);
        let budget = crate::store::DiskBudget::of(&config.limits, 300, false);
        for expected in [
            "\nPersistence: on, store file /var/lib/sol/sol.db\n".to_string(),
            "a change is written within 300 s".to_string(),
            "acknowledged once it is on disk (persistence_sync)".to_string(),
            format!(
                "the file stays within {}",
                crate::config::size(budget.max_file)
            ),
            format!(
                "at most {} an hour",
                crate::config::size(budget.max_per_hour.expect("timed saves"))
            ),
        ] {
            assert!(report.contains(&expected), "{expected:?} in\n{report}");
        }
        let stop_only = Config::parse("persistence true\nautosave_interval 0\n", "x").expect("ok");
        assert!(check_report("sol.conf", &stop_only).contains("only at a clean stop"));
        assert!(store_warnings(&stop_only)
            .expect("no account lookup for a relative path")
            .iter()
            .any(|w| w.contains("relative to the directory the broker is started in")));
    }

    #[test]
    fn default_ceiling_fits_a_64_mb_router_and_matches_the_documentation() {
        let slots = crate::net::SLOT_SIZES;
        let ceiling = Config::embedded_defaults().memory_ceiling(slots);
        assert!(ceiling.total() < 56 << 20, "defaults fit a 64 MB router");
        // docs/configuration.md gives the figures of a 64-bit release build with TLS (a
        // debug build's reactor slot is 8 bytes larger: mio's selector id). CI runs the
        // unit tests in the release profile too.
        if cfg!(not(all(
            target_pointer_width = "64",
            feature = "tls",
            not(debug_assertions)
        ))) {
            return;
        }
        let doc = include_str!("../docs/configuration.md");
        let table = ceiling.to_string();
        let figure = |name: &str| {
            let line = table.lines().find(|l| l.starts_with(name)).expect(name);
            let rest = line[name.len()..].trim_start();
            // "54.7 MiB  formula": the number and its unit.
            rest.split(' ').take(2).collect::<Vec<_>>().join(" ")
        };
        let documented = [
            format!("prints a ceiling of {} on a 64-bit build", figure("total")),
            format!("({} of it for 10,000 distinct", figure("subscriptions")),
            format!("`max_connections x {}`", slots.slot_state()),
            format!(
                "`sessions x ({} + max_client_id_length",
                crate::broker::SESSION_BYTES
            ),
            format!(
                "(levels x {} + max_topic_length + 16 + {})",
                crate::broker::NODE_BYTES,
                crate::broker::SUBSCRIPTION_BYTES
            ),
        ];
        for text in documented {
            assert!(
                doc.contains(&text),
                "docs/configuration.md should say: {text}"
            );
        }
    }

    #[test]
    fn check_fails_with_file_line_errors() {
        let errors = check(std::path::Path::new("/nonexistent/sol.conf")).expect_err("missing");
        assert!(errors.starts_with("/nonexistent/sol.conf"), "{errors}");
    }

    #[test]
    fn check_warns_about_addresses_not_on_this_machine() {
        let dir = std::env::temp_dir().join(format!("sol-check-addr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let conf = dir.join("sol.conf");
        // 192.0.2.0/24 is TEST-NET-1: documentation only, never a host's address.
        std::fs::write(&conf, "listener 18832 192.0.2.1\nlistener 1883 127.0.0.1\n").expect("conf");
        let report = check(&conf).expect("valid");
        assert!(
            report.contains(
                "warning: listener 18832 192.0.2.1: 192.0.2.1 is not an address of this \
                 machine; the broker would not listen there until it is (it retries the bind)"
            ),
            "{report}"
        );
        assert!(!report.contains("listener 1883 127.0.0.1:"), "{report}");
        std::fs::write(
            &conf,
            "listener 1883 ::1\nlistener 1884 0.0.0.0\nlistener 1885 localhost\n",
        )
        .expect("conf");
        let report = check(&conf).expect("valid");
        assert!(!report.contains("warning: listener"), "{report}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn check_reads_the_password_and_acl_files() {
        let dir = std::env::temp_dir().join(format!("sol-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let conf = dir.join("sol.conf");
        let acl = dir.join("acl");
        std::fs::write(&conf, format!("acl_file {}\n", acl.display())).expect("conf");
        std::fs::write(&acl, "topic read #\ntopic sideways x\n").expect("acl");
        let errors = check(&conf).expect_err("bad ACL line");
        assert!(
            errors.contains("acl: line 2: topic: access must be"),
            "{errors}"
        );
        std::fs::write(&acl, "topic read #\n").expect("acl");
        assert!(check(&conf).expect("valid").contains(": OK"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

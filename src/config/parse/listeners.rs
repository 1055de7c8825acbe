//! Listener keys: `listener`, the deprecated default listener (`port`, `bind_address`),
//! `socket_domain`, what a listener speaks and where (`protocol`, `bind_interface`,
//! `http_dir`), and the final listener list with its checks across listeners (the same
//! socket twice, an address of the other family).
//!
//! Addresses are kept as written; this file must not resolve names or touch sockets
//! (`net` binds). It does refuse the shorthand IPv4 forms the system's resolver would
//! read as another address.

use super::super::value;
use super::super::{
    loopback_listeners, Bind, ListenerConfig, ListenerProtocol, SocketDomain, DEFAULT_PORT,
    DEFAULT_WEBSOCKETS_HEADERS_SIZE, MAX_UNIX_SOCKET_PATH,
};
use super::clients::PendingClients;
use super::tls::PendingTls;
use super::{Parser, Scope};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// A `listener` line and the listener-scoped settings that followed it.
pub(super) struct PendingListener {
    /// The `listener` line.
    pub(super) line: usize,
    /// The port given.
    pub(super) port: u16,
    /// The address given.
    pub(super) bind: Bind,
    /// `socket_domain`, with its line.
    pub(super) socket_domain: Option<(SocketDomain, usize)>,
    /// `allow_anonymous` under `per_listener_settings true`.
    pub(super) allow_anonymous: Option<bool>,
    /// The TLS keys given for this listener, each with its line.
    pub(super) tls: PendingTls,
    /// `mount_point`, `use_username_as_clientid` and `max_qos` given for this listener.
    pub(super) clients: PendingClients,
    /// `protocol`, `bind_interface` and `http_dir`.
    pub(super) kind: ListenerKind,
}

/// What a listener speaks and where (`protocol`, `bind_interface`, `http_dir`), each as
/// given, with its line.
#[derive(Default)]
pub(super) struct ListenerKind {
    /// `protocol`, with its line.
    protocol: Option<(ListenerProtocol, usize)>,
    /// `bind_interface`.
    interface: Option<(String, usize)>,
    /// `http_dir`.
    http_dir: Option<(PathBuf, usize)>,
}

/// Longest network interface name Linux allows (`IFNAMSIZ` less the NUL).
const MAX_INTERFACE_NAME: usize = 15;

/// The deprecated default listener of `port` and `bind_address` and the settings given
/// before the first `listener` line.
#[derive(Default)]
pub(super) struct DefaultListener {
    /// `port`, with its line.
    pub(super) port: Option<(u16, usize)>,
    /// `bind_address`, with its line.
    pub(super) bind: Option<(String, usize)>,
    /// `socket_domain` before any `listener`, with its line.
    pub(super) socket_domain: Option<(SocketDomain, usize)>,
    /// `allow_anonymous` before any `listener` under `per_listener_settings true`.
    pub(super) allow_anonymous: Option<(bool, usize)>,
    /// `protocol`, `bind_interface` and `http_dir` before any `listener`.
    pub(super) kind: ListenerKind,
}

impl Parser<'_> {
    /// `listener PORT [ADDRESS|PATH]`. Returns whether a listener was opened.
    pub(super) fn listener(&mut self, line: usize, args: &[&str]) -> bool {
        self.scope = Scope::Broken;
        let (port, address) = match args {
            [] => {
                self.error(line, "listener: missing port");
                return false;
            }
            [port] => (*port, None),
            [port, address] => (*port, Some(*address)),
            [_, _, extra, ..] => {
                self.error(
                    line,
                    format!("listener: unexpected extra argument '{extra}'"),
                );
                return false;
            }
        };
        let port = match value::parse_int(port, 0, 65535) {
            Ok(p) => p as u16,
            Err(e) => {
                self.value_error(line, "listener", e);
                return false;
            }
        };
        let bind = match address {
            None if port == 0 => {
                self.error(
                    line,
                    "listener: port 0 needs a Unix socket path (listener 0 /path/to/socket)",
                );
                return false;
            }
            None => Bind::Any,
            // Port 0 with an IP address is an ephemeral TCP port (tests, CI); otherwise port 0
            // means a Unix socket path, as in Mosquitto.
            Some(ip) if port == 0 && ip.parse::<std::net::IpAddr>().is_ok() => {
                Bind::Host(ip.to_string())
            }
            Some(path) if port == 0 || path.starts_with('/') => {
                if path.len() > MAX_UNIX_SOCKET_PATH {
                    self.error(
                        line,
                        format!(
                            "listener: the Unix socket path is {} bytes long, the limit is {MAX_UNIX_SOCKET_PATH}",
                            path.len()
                        ),
                    );
                    return false;
                }
                Bind::Unix(PathBuf::from(path))
            }
            Some(host) => {
                if let Some(message) = not_an_address("listener", host) {
                    self.error(line, message);
                    return false;
                }
                Bind::Host(host.to_string())
            }
        };
        self.listeners.push(PendingListener {
            line,
            port,
            bind,
            socket_domain: None,
            allow_anonymous: None,
            tls: PendingTls::default(),
            clients: PendingClients::default(),
            kind: ListenerKind::default(),
        });
        self.scope = Scope::Listener(self.listeners.len() - 1);
        true
    }

    /// `protocol mqtt|websockets`, `bind_interface IFACE` or `http_dir DIR`, listener
    /// scoped (before any `listener`, the default listener's).
    pub(super) fn listener_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<&'static str> {
        let value = self.one(line, key, args)?;
        let unix = match self.scope {
            Scope::Listener(i) => matches!(self.listeners[i].bind, Bind::Unix(_)),
            _ => false,
        };
        let kind = match self.scope {
            Scope::Default => &mut self.default_listener.kind,
            Scope::Listener(i) => &mut self.listeners[i].kind,
            Scope::Broken => return None,
        };
        let applied = match key {
            "protocol" => {
                let protocol = match value {
                    "mqtt" => ListenerProtocol::Mqtt,
                    "websockets" => ListenerProtocol::WebSockets,
                    other => {
                        let message =
                            format!("protocol: expected mqtt or websockets, found '{other}'");
                        self.error(line, message);
                        return None;
                    }
                };
                kind.protocol = Some((protocol, line));
                "protocol"
            }
            "bind_interface" => {
                kind.interface = Some((value.to_string(), line));
                if unix {
                    self.error(
                        line,
                        "bind_interface: does not apply to a Unix socket listener",
                    );
                    return None;
                }
                if value.len() > MAX_INTERFACE_NAME || value.contains('/') {
                    self.error(
                        line,
                        format!(
                            "bind_interface: '{value}' is not a network interface name (at \
                             most {MAX_INTERFACE_NAME} characters, no '/')"
                        ),
                    );
                    return None;
                }
                "bind_interface"
            }
            _ => {
                kind.http_dir = Some((PathBuf::from(value), line));
                "http_dir"
            }
        };
        Some(applied)
    }

    /// `websockets_headers_size N`: global, as in Mosquitto; 0 means the default.
    pub(super) fn websockets_headers_size(
        &mut self,
        line: usize,
        args: &[&str],
    ) -> Option<&'static str> {
        let n = self.int_arg(line, "websockets_headers_size", args, 0, 65535)?;
        self.config.websockets_headers_size = match usize::try_from(n).ok()? {
            0 => DEFAULT_WEBSOCKETS_HEADERS_SIZE,
            n => n,
        };
        Some("websockets_headers_size")
    }

    /// `port N`: the deprecated default listener's port.
    pub(super) fn port(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let port = self.int_arg(line, "port", args, 1, 65535)?;
        self.default_listener.port = Some((u16::try_from(port).ok()?, line));
        Some("port")
    }

    /// `bind_address ADDRESS`: the deprecated default listener's address.
    pub(super) fn bind_address(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let address = self.one(line, "bind_address", args)?;
        if self.scope != Scope::Default {
            self.error(
                line,
                "bind_address: it sets the address of the default listener ('port'); \
                 give the address on the 'listener' line instead (listener PORT ADDRESS)",
            );
            return None;
        }
        if let Some(message) = not_an_address("bind_address", address) {
            self.error(line, message);
            return None;
        }
        self.default_listener.bind = Some((address.to_string(), line));
        Some("bind_address")
    }

    /// `socket_domain ipv4|ipv6`, listener-scoped.
    pub(super) fn socket_domain(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let domain = match self.one(line, "socket_domain", args)? {
            "ipv4" => SocketDomain::Ipv4,
            "ipv6" => SocketDomain::Ipv6,
            other => {
                self.error(
                    line,
                    format!("socket_domain: expected ipv4 or ipv6, found '{other}'"),
                );
                return None;
            }
        };
        match self.scope {
            Scope::Default => self.default_listener.socket_domain = Some((domain, line)),
            Scope::Listener(i) => {
                if matches!(self.listeners[i].bind, Bind::Unix(_)) {
                    self.error(
                        line,
                        "socket_domain: does not apply to a Unix socket listener",
                    );
                    return None;
                }
                self.listeners[i].socket_domain = Some((domain, line));
            }
            Scope::Broken => {}
        }
        Some("socket_domain")
    }

    /// The final listener list: the default listener, the `listener` lines, or the
    /// embedded loopback listeners when the file declares none.
    pub(super) fn assemble_listeners(&mut self) -> Vec<ListenerConfig> {
        let defaults = std::mem::take(&mut self.default_listener);
        let has_default = defaults.port.is_some() || defaults.bind.is_some();
        let explicit = has_default || !self.listeners.is_empty();
        // Mosquitto 2.0: with listeners in the file, anonymous access must be granted.
        let global_anonymous = self.allow_anonymous.unwrap_or(!explicit);
        let per_listener = self.per_listener_settings;
        let anonymous = |own: Option<bool>| {
            if per_listener {
                own.unwrap_or(!explicit)
            } else {
                global_anonymous
            }
        };

        if !explicit {
            if let Some((_, line)) = defaults.socket_domain {
                self.error(
                    line,
                    "socket_domain: applies to a listener; put it after a 'listener' line",
                );
            }
            self.stray_kind(&defaults.kind);
            let own = defaults.allow_anonymous.map(|(v, _)| v);
            let mut loopback = loopback_listeners(DEFAULT_PORT, anonymous(own));
            for l in &mut loopback {
                l.clients = self.top_clients.resolve(&self.top_clients);
            }
            return loopback;
        }

        let mut all: Vec<PendingListener> = Vec::new();
        if has_default {
            let line = [
                defaults.port.map(|p| p.1),
                defaults.bind.as_ref().map(|b| b.1),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(0);
            all.push(PendingListener {
                line,
                port: defaults.port.map_or(DEFAULT_PORT, |p| p.0),
                bind: defaults
                    .bind
                    .map_or(Bind::Any, |(host, _)| Bind::Host(host)),
                socket_domain: defaults.socket_domain,
                allow_anonymous: defaults.allow_anonymous.map(|a| a.0),
                tls: PendingTls::default(),
                clients: PendingClients::default(),
                kind: defaults.kind,
            });
        } else {
            if let Some((_, line)) = defaults.socket_domain {
                self.error(
                    line,
                    "socket_domain: appears before any 'listener' line and there is no \
                     default listener ('port'); move it after a 'listener' line",
                );
            }
            if let Some((_, line)) = defaults.allow_anonymous {
                self.error(
                    line,
                    "allow_anonymous: with per_listener_settings true, this line applies to \
                     the default listener ('port'), which this file does not define; move it \
                     after a 'listener' line",
                );
            }
            self.stray_kind(&defaults.kind);
        }
        all.append(&mut self.listeners);

        for (i, listener) in all.iter().enumerate() {
            if let Some(first) = all[..i].iter().find(|l| same_socket(l, listener)) {
                let message = format!(
                    "listener: the same socket is already defined at {}",
                    self.place(first.line, listener.line)
                );
                self.error(listener.line, message);
            }
            if let (Bind::Host(host), Some((domain, line))) =
                (&listener.bind, listener.socket_domain)
            {
                if let Some(message) = family_mismatch(host, domain) {
                    self.error(line, message);
                }
            }
        }
        let mut out = Vec::with_capacity(all.len());
        for mut l in all {
            let tls = self.listener_tls(&mut l);
            let kind = std::mem::take(&mut l.kind);
            let protocol = kind.protocol.map_or(ListenerProtocol::Mqtt, |p| p.0);
            if let Some((_, at)) = &kind.http_dir {
                self.warn(
                    *at,
                    if protocol == ListenerProtocol::WebSockets {
                        "http_dir: accepted, but Sol serves no files (a plain HTTP request \
                         gets 404); serve the directory with the device's web server"
                    } else {
                        "http_dir: applies to 'protocol websockets' listeners only; ignored \
                         here (as in Mosquitto)"
                    },
                );
            }
            out.push(ListenerConfig {
                port: l.port,
                // Mosquitto: the interface takes priority over the listener's address.
                bind: match (&kind.interface, l.bind) {
                    (Some(_), Bind::Host(_)) => Bind::Any,
                    (_, bind) => bind,
                },
                socket_domain: l.socket_domain.map(|d| d.0),
                allow_anonymous: anonymous(l.allow_anonymous),
                tls,
                clients: l.clients.resolve(&self.top_clients),
                protocol,
                bind_interface: kind.interface.map(|i| i.0),
                http_dir: kind.http_dir.map(|d| d.0),
            });
        }
        out
    }

    /// Reports `protocol`, `bind_interface` or `http_dir` lines that came before any
    /// `listener` in a file without a default listener: they would apply to nothing.
    fn stray_kind(&mut self, kind: &ListenerKind) {
        let websockets = kind
            .protocol
            .filter(|p| p.0 == ListenerProtocol::WebSockets);
        let lines = [
            websockets.map(|p| ("protocol", p.1)),
            kind.interface.as_ref().map(|i| ("bind_interface", i.1)),
            kind.http_dir.as_ref().map(|d| ("http_dir", d.1)),
        ];
        for (key, line) in lines.into_iter().flatten() {
            self.error(
                line,
                format!("{key}: applies to a listener; put it after a 'listener' line"),
            );
        }
    }
}

/// The error of `key` naming `host`, if `host` ends in a number (so the system's resolver
/// takes it for an IPv4 address, not a name) but is not one in dotted-quad form: `1.2.3`
/// binds 1.2.0.3, `127.1` 127.0.0.1, `0x7f.1` 127.0.0.1 and `010.0.0.1` 8.0.0.1, and
/// `256.1.1.1` nothing at all; such a listener would wait for its address forever.
fn not_an_address(key: &str, host: &str) -> Option<String> {
    if host.contains(':') || host.parse::<Ipv4Addr>().is_ok() {
        return None;
    }
    // A final dot ends a fully qualified name: `1.2.3.4.` ends in a number too.
    let name = host.strip_suffix('.').unwrap_or(host);
    let last = name.rsplit('.').next().unwrap_or(name);
    let ends_in_number = match last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")) {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()),
    };
    if let Some(read) = inet_aton(host) {
        Some(format!(
            "{key}: '{host}' is not a dotted-quad IPv4 address: the system would read it as \
             {read} (write the four numbers in decimal, without leading zeros)"
        ))
    } else if ends_in_number {
        Some(format!(
            "{key}: '{host}' is neither an IPv4 address (four numbers 0-255 in decimal, \
             without leading zeros) nor a host name"
        ))
    } else {
        None
    }
}

/// How the C library's `inet_aton`, which `getaddrinfo` tries first and so `net` uses when
/// it binds, reads `text`: one to four numbers separated by dots, each decimal, octal
/// (leading `0`) or hexadecimal (`0x`), the last one filling the bytes left.
fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts = text
        .split('.')
        .map(c_number)
        .collect::<Option<Vec<u32>>>()?;
    let (&last, leading) = parts.split_last()?;
    if leading.len() > 3 || leading.iter().any(|&p| p > 0xff) {
        return None;
    }
    let last_bits = 32 - 8 * leading.len() as u32;
    if last_bits < 32 && last >> last_bits != 0 {
        return None;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u32, |addr, (i, &p)| addr | p << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(high | last))
}

/// A number as C's `strtoul` with base 0 reads it: `0x` hexadecimal, a leading `0`
/// octal, else decimal; the whole text must be digits.
fn c_number(text: &str) -> Option<u32> {
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// The error of `socket_domain DOMAIN` for a listener on `host`, if `host` is an IP
/// address of the other family. Host names are resolved later, by `net`.
fn family_mismatch(host: &str, domain: SocketDomain) -> Option<String> {
    let family = match host.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => SocketDomain::Ipv4,
        IpAddr::V6(_) => SocketDomain::Ipv6,
    };
    let wanted = match domain {
        SocketDomain::Ipv4 => "IPv4",
        SocketDomain::Ipv6 => "IPv6",
    };
    (family != domain).then(|| format!("socket_domain: '{host}' is not an {wanted} address"))
}

/// Whether two listeners would bind the same socket. Two TCP listeners on port 0 do not:
/// each gets a port of its own (a plain and a TLS listener in a test, for instance).
fn same_socket(a: &PendingListener, b: &PendingListener) -> bool {
    match (&a.bind, &b.bind) {
        (Bind::Unix(x), Bind::Unix(y)) => x == y,
        (Bind::Unix(_), _) | (_, Bind::Unix(_)) => false,
        (x, y) => a.port == b.port && a.port != 0 && x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{Bind, Config, ListenerProtocol};
    use super::super::tests::errors;

    #[test]
    fn protocol_interface_and_http_dir_are_per_listener() {
        let config = Config::parse(
            "listener 1883\nlistener 9001 127.0.0.1\nprotocol websockets\nhttp_dir /srv/www\n\
             listener 1884 192.168.1.1\nbind_interface eth0\nwebsockets_headers_size 4096\n",
            "sol.conf",
        )
        .expect("valid");
        let l = &config.listeners;
        assert_eq!(l[0].protocol, ListenerProtocol::Mqtt);
        assert_eq!(l[1].protocol, ListenerProtocol::WebSockets);
        assert_eq!(
            l[1].http_dir.as_deref(),
            Some(std::path::Path::new("/srv/www"))
        );
        assert_eq!(l[1].bind, Bind::Host("127.0.0.1".into()));
        // Mosquitto: the interface takes priority over the listener's address.
        assert_eq!(l[2].bind_interface.as_deref(), Some("eth0"));
        assert_eq!(l[2].bind, Bind::Any);
        assert_eq!(
            l[2].to_string(),
            "*:1884 on interface eth0, anonymous refused"
        );
        assert_eq!(
            l[1].to_string(),
            "127.0.0.1:9001, WebSockets, anonymous refused"
        );
        assert_eq!(config.websockets_headers_size, 4096);
        // Sol serves no files: accepted, and said so.
        assert_eq!(config.warnings.len(), 1);
        assert!(
            config.warnings[0].message.contains("Sol serves no files"),
            "{}",
            config.warnings[0]
        );
        let zero = Config::parse("websockets_headers_size 0\n", "sol.conf").expect("valid");
        assert_eq!(zero.websockets_headers_size, 4096);
    }

    #[test]
    fn listener_kind_errors() {
        assert_eq!(
            errors("listener 1883\nprotocol http\n"),
            "sol.conf:2: protocol: expected mqtt or websockets, found 'http'"
        );
        assert_eq!(
            errors("listener 0 /run/sol.sock\nbind_interface eth0\n"),
            "sol.conf:2: bind_interface: does not apply to a Unix socket listener"
        );
        assert!(errors("listener 1883\nbind_interface a/b\n").contains("not a network interface"));
        assert_eq!(
            errors("bind_interface eth0\nlistener 1883\n"),
            "sol.conf:1: bind_interface: applies to a listener; put it after a 'listener' line"
        );
        assert!(errors("websockets_headers_size 70000\n")
            .starts_with("sol.conf:1: websockets_headers_size"));
        // Before any listener, the default listener of `port` takes them.
        let config = Config::parse("port 1883\nprotocol websockets\n", "sol.conf").expect("valid");
        assert_eq!(config.listeners[0].protocol, ListenerProtocol::WebSockets);
    }

    #[test]
    fn http_dir_on_an_mqtt_listener_is_a_warning() {
        let config = Config::parse("listener 1883\nhttp_dir /srv\n", "sol.conf").expect("valid");
        assert_eq!(
            config.warnings[0].to_string(),
            "sol.conf:2: http_dir: applies to 'protocol websockets' listeners only; ignored here \
             (as in Mosquitto)"
        );
    }
}

//! Cipher lists in OpenSSL's syntax (`ciphers` for TLS 1.2, `ciphers_tls1.3`), mapped to
//! the suites Sol's TLS (rustls with `ring`) has.
//!
//! `ciphers` follows `openssl ciphers`: names and aliases separated by `:` (or `,` or
//! space), `A+B` the suites in both, `!X` removes X for good, `-X` removes it (a later
//! item may add it back), `+X` moves it to the end, `@STRENGTH`/`@SECLEVEL=n` are
//! accepted and change nothing. Sol has six TLS 1.2 suites, all ECDHE with AES-GCM or
//! ChaCha20-Poly1305 ([`TLS12`]). A name of a real OpenSSL suite Sol lacks (DHE, static
//! RSA, CBC, CCM, ...) selects nothing and is reported back so `config` can warn, as
//! OpenSSL skips names it cannot use; a name that is neither Sol's nor OpenSSL's (a
//! typo) is an error listing the names Sol knows; a list that selects nothing is an
//! error. `ciphers_tls1.3` is a plain list of TLS 1.3 suite names ([`TLS13`]).
//!
//! Suites are kept as their IANA numbers, so this file needs no `rustls` and exists in
//! every build; `server` keeps the provider's suites with those numbers. It must not
//! build TLS configurations.

/// Sol's TLS 1.2 suites: OpenSSL name and IANA number.
pub const TLS12: &[(&str, u16)] = &[
    ("ECDHE-ECDSA-AES256-GCM-SHA384", 0xc02c),
    ("ECDHE-RSA-AES256-GCM-SHA384", 0xc030),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", 0xc02b),
    ("ECDHE-RSA-AES128-GCM-SHA256", 0xc02f),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", 0xcca9),
    ("ECDHE-RSA-CHACHA20-POLY1305", 0xcca8),
];

/// Aliases that select some of Sol's TLS 1.2 suites, by a word of their names
/// ([`has_alias`]).
const ALIASES: &[&str] = &[
    "aECDSA", "ECDSA", "aRSA", "RSA", "AES", "AESGCM", "AES128", "AES256", "CHACHA20", "SHA256",
    "SHA384",
];

/// Aliases that select every TLS 1.2 suite Sol has (they are all ECDHE and AEAD, of high
/// strength, and in OpenSSL's default list).
const EVERY: &[&str] = &[
    "ALL",
    "DEFAULT",
    "HIGH",
    "ECDHE",
    "EECDH",
    "kECDHE",
    "kEECDH",
    "AEAD",
    "TLSv1.2",
    "COMPLEMENTOFALL",
    "aECDH",
];

/// Words of OpenSSL cipher names and aliases that select none of Sol's suites: DHE,
/// static RSA, PSK, SRP, CBC, CCM, legacy ciphers and digests.
const OPENSSL_OTHER: &[&str] = &[
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "ADH",
    "AECDH",
    "aNULL",
    "eNULL",
    "NULL",
    "COMPLEMENTOFDEFAULT",
    "kRSA",
    "DSS",
    "aDSS",
    "PSK",
    "kPSK",
    "ECDHEPSK",
    "DHEPSK",
    "RSAPSK",
    "SRP",
    "kSRP",
    "MD5",
    "SHA1",
    "SHA",
    "RC4",
    "RC2",
    "DES",
    "3DES",
    "CBC3",
    "CBC",
    "IDEA",
    "SEED",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "ARIAGCM",
    "AESCCM",
    "AESCCM8",
    "CCM",
    "CCM8",
    "EXP",
    "EXPORT",
    "LOW",
    "MEDIUM",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "GOST",
    "aGOST",
    "kGOST",
    "SUITEB128",
    "SUITEB192",
    "SUITEB128ONLY",
    "GCM",
    "POLY1305",
    "AES",
];

/// Sol's TLS 1.3 suites: name and IANA number.
pub const TLS13: &[(&str, u16)] = &[
    ("TLS_AES_256_GCM_SHA384", 0x1302),
    ("TLS_AES_128_GCM_SHA256", 0x1301),
    ("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
];

/// TLS 1.3 suites OpenSSL has and rustls does not.
const TLS13_OTHER: &[&str] = &["TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"];

/// The suites a list selected, in order, and the names in it that select none of Sol's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// IANA numbers, in the list's order.
    pub suites: Vec<u16>,
    /// OpenSSL names the list asked for that Sol does not have.
    pub skipped: Vec<String>,
}

/// The TLS 1.2 suites `list` (OpenSSL cipher list syntax) selects.
pub fn tls12(list: &str) -> Result<Selection, String> {
    let mut out = Selection::default();
    let mut banned: Vec<u16> = Vec::new();
    for item in list.split([':', ',', ' ']).filter(|i| !i.is_empty()) {
        if item.starts_with('@') {
            continue;
        }
        let (op, spec) = match item.as_bytes()[0] {
            b'!' | b'-' | b'+' => (item.as_bytes()[0], &item[1..]),
            _ => (b' ', item),
        };
        let mut selected: Option<Vec<u16>> = None;
        for atom in spec.split('+') {
            let ids = atom_suites(atom)?;
            if ids.is_empty() && op == b' ' && atom.contains('-') {
                out.skipped.push(atom.to_string());
            }
            selected = Some(match selected {
                None => ids,
                Some(prev) => prev.into_iter().filter(|id| ids.contains(id)).collect(),
            });
        }
        let selected = selected.unwrap_or_default();
        match op {
            b'!' => {
                out.suites.retain(|id| !selected.contains(id));
                banned.extend(selected);
            }
            b'-' => out.suites.retain(|id| !selected.contains(id)),
            b'+' => {
                let (moved, kept): (Vec<u16>, Vec<u16>) =
                    out.suites.iter().partition(|id| selected.contains(id));
                out.suites = kept;
                out.suites.extend(moved);
            }
            _ => {
                for id in selected {
                    if !banned.contains(&id) && !out.suites.contains(&id) {
                        out.suites.push(id);
                    }
                }
            }
        }
    }
    if out.suites.is_empty() {
        return Err(format!(
            "no cipher of the list is one Sol has; Sol's TLS 1.2 ciphers are {}",
            tls12_names()
        ));
    }
    Ok(out)
}

/// The suites one name or alias selects: empty for an OpenSSL word Sol has no suite of,
/// an error for a word OpenSSL does not know either.
fn atom_suites(atom: &str) -> Result<Vec<u16>, String> {
    let select = |keep: &dyn Fn(&str) -> bool| {
        TLS12
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|s| s.1)
            .collect()
    };
    if TLS12.iter().any(|(name, _)| *name == atom) {
        return Ok(select(&|name| name == atom));
    }
    if EVERY.contains(&atom) {
        return Ok(select(&|_| true));
    }
    if ALIASES.contains(&atom) {
        return Ok(select(&|name| has_alias(name, atom)));
    }
    // A suite name of OpenSSL's: words of its vocabulary joined by dashes.
    let openssl = !atom.is_empty()
        && atom.split('-').all(|word| {
            OPENSSL_OTHER.contains(&word)
                || TLS12
                    .iter()
                    .any(|(name, _)| name.split('-').any(|w| w == word))
        });
    if openssl {
        return Ok(Vec::new());
    }
    Err(format!(
        "unknown cipher '{atom}'; Sol's TLS 1.2 ciphers are {} (and OpenSSL's aliases such \
         as HIGH, ECDHE, AESGCM, CHACHA20, aRSA, aECDSA)",
        tls12_names()
    ))
}

/// Whether the suite `name` belongs to the OpenSSL alias `alias` (one of [`ALIASES`]).
fn has_alias(name: &str, alias: &str) -> bool {
    let mut words = name.split('-');
    match alias {
        "aECDSA" => words.any(|w| w == "ECDSA"),
        "aRSA" => words.any(|w| w == "RSA"),
        "AES" | "AESGCM" => words.any(|w| w.starts_with("AES")),
        // The ChaCha20 suites' PRF is SHA-256.
        "SHA256" => !name.ends_with("SHA384"),
        word => words.any(|w| w == word),
    }
}

/// Sol's TLS 1.2 suite names, for messages.
fn tls12_names() -> String {
    TLS12.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
}

/// The TLS 1.3 suites `list` (names separated by `:`) selects.
pub fn tls13(list: &str) -> Result<Selection, String> {
    let mut out = Selection::default();
    let names = || TLS13.iter().map(|s| s.0).collect::<Vec<_>>().join(", ");
    for name in list.split(':').filter(|n| !n.is_empty()) {
        if let Some((_, id)) = TLS13.iter().find(|(n, _)| *n == name) {
            if !out.suites.contains(id) {
                out.suites.push(*id);
            }
        } else if TLS13_OTHER.contains(&name) {
            out.skipped.push(name.to_string());
        } else {
            return Err(format!(
                "unknown TLS 1.3 cipher suite '{name}'; Sol's are {}",
                names()
            ));
        }
    }
    if out.suites.is_empty() {
        return Err(format!(
            "no suite of the list is one Sol has; Sol's TLS 1.3 suites are {}",
            names()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(selection: &Selection) -> Vec<&'static str> {
        selection
            .suites
            .iter()
            .map(|id| TLS12.iter().find(|s| s.1 == *id).expect("ours").0)
            .collect()
    }

    #[test]
    fn suite_names_select_themselves_in_order() {
        let s = tls12("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384").expect("ok");
        assert_eq!(
            names(&s),
            [
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES256-GCM-SHA384"
            ]
        );
        assert!(s.skipped.is_empty());
    }

    #[test]
    fn mozillas_intermediate_list_keeps_ours_and_reports_dhe() {
        let list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
                    ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
                    ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
                    DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
        let s = tls12(list).expect("ok");
        assert_eq!(s.suites.len(), 6);
        assert_eq!(
            s.skipped,
            ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]
        );
    }

    #[test]
    fn aliases_intersections_and_removals() {
        let s = tls12("EECDH+AESGCM:EDH+AESGCM").expect("ok");
        assert_eq!(s.suites.len(), 4);
        let s = tls12("HIGH:!aNULL:!MD5:!aECDSA").expect("ok");
        assert_eq!(
            names(&s),
            [
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-RSA-CHACHA20-POLY1305"
            ]
        );
        // `!` is for good, `-` until added back.
        assert_eq!(tls12("!CHACHA20:ALL").expect("ok").suites.len(), 4);
        assert_eq!(tls12("-CHACHA20:ALL").expect("ok").suites.len(), 6);
        assert_eq!(
            names(&tls12("CHACHA20:AES128:+CHACHA20:@STRENGTH").expect("ok"))[..2],
            [
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256"
            ]
        );
    }

    #[test]
    fn typos_are_errors_naming_what_sol_knows() {
        let e = tls12("ECDHE-RSA-AES128-GCM-SHA265").expect_err("typo");
        assert!(e.starts_with("unknown cipher 'ECDHE-RSA-AES128-GCM-SHA265'; Sol's TLS 1.2 ciphers are ECDHE-ECDSA-AES256-GCM-SHA384,"), "{e}");
        let e = tls12("DHE-RSA-AES256-GCM-SHA384:AES256-SHA").expect_err("none of ours");
        assert!(e.starts_with("no cipher of the list is one Sol has"), "{e}");
    }

    #[test]
    fn tls13_names() {
        let s = tls13("TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256").expect("ok");
        assert_eq!(s.suites, [0x1301]);
        assert_eq!(s.skipped, ["TLS_AES_128_CCM_SHA256"]);
        let e = tls13("TLS_AES_128_GCM").expect_err("unknown");
        assert!(e.contains("Sol's are TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256"), "{e}");
    }
}

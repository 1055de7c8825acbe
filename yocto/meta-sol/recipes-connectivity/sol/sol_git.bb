SUMMARY = "Small, predictable MQTT 3.1.1 broker for embedded Linux"
DESCRIPTION = "Sol is an MQTT 3.1.1 broker written in Rust: one reactor thread, \
               a client pool allocated at start-up, memory bounded by \
               configuration, and Mosquitto's configuration syntax."
HOMEPAGE = "https://github.com/sol-mqtt/sol"
BUGTRACKER = "https://github.com/sol-mqtt/sol/issues"
SECTION = "net"
LICENSE = "MIT | Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE-MIT;md5=06efcfb210b3f841dcb601c184afcb83 \
                    file://LICENSE-APACHE;md5=3b83ef96387f14655fc854ddc3c6bd57"

PV = "0.1.0+git"

# Where Sol's git repository is. Override in local.conf or a bbappend to build
# from a mirror or a fork, e.g.
#   SOL_GIT_URI = "git://git.example.com/sol.git;protocol=https;branch=main"
SOL_GIT_URI ?= "git://github.com/sol-mqtt/sol.git;protocol=https;branch=main"
SRC_URI = "${SOL_GIT_URI}"

# PLACEHOLDER: the commit to build. It must be a commit of the branch in
# SOL_GIT_URI that contains LICENSE-MIT, LICENSE-APACHE, systemd/ and the
# Cargo.lock that sol-crates.inc was generated from. Set it with
#   SRCREV:pn-sol = "<40-hex commit>"
# in local.conf, or update it here together with sol-crates.inc (see README.md).
# A fixed revision rather than ${AUTOREV} keeps builds reproducible and
# sol-crates.inc in step with the Cargo.lock being built.
SRCREV = "0000000000000000000000000000000000000000"

inherit cargo cargo-update-recipe-crates systemd useradd

# Generated from Cargo.lock by yocto/update-crates.py (same output as
# 'bitbake -c update_crates sol'); never edit by hand.
require ${BPN}-crates.inc

# Optional Cargo features. oe-core's cargo class has no variable for features,
# so the enabled options' arguments are appended to cargo's command line.
# tls: TLS listeners (rustls). Reserved: the Cargo feature does not exist yet,
#      so enabling it fails until it lands in Sol's Cargo.toml.
PACKAGECONFIG ??= ""
PACKAGECONFIG[tls] = "--features tls,,,"
CARGO_BUILD_FLAGS:append = " ${PACKAGECONFIG_CONFARGS}"

# Cargo profile for target builds: Sol's size-tuned profile by default
# ("release" is tuned for speed). A DEBUG_BUILD keeps the class's debug build.
SOL_CARGO_PROFILE ?= "release-z"
BUILD_MODE = "${@oe.utils.conditional('DEBUG_BUILD', '1', '', '--profile ${SOL_CARGO_PROFILE}', d)}"
BUILD_DIR = "${@oe.utils.conditional('DEBUG_BUILD', '1', 'debug', '${SOL_CARGO_PROFILE}', d)}"

# Sol's release profile strips the binary (strip = true); leave stripping to
# OE so the -dbg package gets the symbols and the already-stripped QA check
# passes. release-z inherits this from release.
# The profile's panic = "abort" applies to Sol's binary only, so
# RUST_PANIC_STRATEGY (global, for the target's std) is left alone.
export CARGO_PROFILE_RELEASE_STRIP = "false"

# The broker runs as the system user "sol". The useradd class creates it in
# the root filesystem (works with read-only rootfs and with sysvinit);
# systemd/sol.sysusers is installed too, so systemd-sysusers agrees.
USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --user-group --no-create-home \
                       --home-dir ${localstatedir}/lib/sol \
                       --shell ${base_sbindir}/nologin sol"

SYSTEMD_SERVICE:${PN} = "sol.service"

# Where Sol keeps its store of retained messages and persistent sessions: the
# persistence_location written into /etc/sol/sol.conf, a directory owned by sol.
# It must be writable and survive reboots. On a read-only-rootfs image /var/lib is
# a tmpfs (volatile-binds or read-only-rootfs-hook bind /var/volatile/lib over it),
# so the store would be lost at every boot: set a directory on a writable data
# partition instead, e.g. SOL_STATE_DIR:pn-sol = "/data/sol" (README.md).
SOL_STATE_DIR ?= "${localstatedir}/lib/sol"

# No CPE has been assigned to Sol; vendor:product as the project names itself.
CVE_PRODUCT = "sol-mqtt:sol"

# Install only the broker: the class's default do_install would also copy
# libsol.rlib into the image.
do_install() {
    install -d ${D}${bindir}
    install -m 0755 ${B}/target/${CARGO_TARGET_SUBDIR}/sol ${D}${bindir}/sol

    # systemd/sol.conf turns persistence on; its store goes to SOL_STATE_DIR
    install -d ${D}${sysconfdir}/sol
    sed -e 's|^persistence_location[[:space:]].*|persistence_location ${SOL_STATE_DIR}/|' \
        ${S}/systemd/sol.conf > ${D}${sysconfdir}/sol/sol.conf
    chmod 0644 ${D}${sysconfdir}/sol/sol.conf
    grep -qxF 'persistence_location ${SOL_STATE_DIR}/' ${D}${sysconfdir}/sol/sol.conf ||
        bbfatal "systemd/sol.conf has no persistence_location line to point at ${SOL_STATE_DIR}"

    # The store's directory, owned by the user sol (useradd above) as the unit's
    # StateDirectory= makes /var/lib/sol: Sol opens it after dropping root.
    install -d -m 0750 -o sol -g sol ${D}${SOL_STATE_DIR}

    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        install -m 0644 ${S}/systemd/sol.service ${D}${systemd_system_unitdir}/sol.service
        install -d ${D}${nonarch_libdir}/sysusers.d
        install -m 0644 ${S}/systemd/sol.sysusers ${D}${nonarch_libdir}/sysusers.d/sol.conf
        install -d ${D}${nonarch_libdir}/tmpfiles.d
        install -m 0644 ${S}/systemd/sol.tmpfiles ${D}${nonarch_libdir}/tmpfiles.d/sol.conf
        if [ "${SOL_STATE_DIR}" != "${localstatedir}/lib/sol" ]; then
            # Outside StateDirectory=: writable in the unit's sandbox
            # (ProtectSystem=strict), its mount up before the start, created at boot
            install -d ${D}${systemd_system_unitdir}/sol.service.d
            printf '[Unit]\nRequiresMountsFor=%s\n\n[Service]\nReadWritePaths=%s\n' \
                "${SOL_STATE_DIR}" "${SOL_STATE_DIR}" \
                > ${D}${systemd_system_unitdir}/sol.service.d/state-dir.conf
            printf 'd %s 0750 sol sol -\n' "${SOL_STATE_DIR}" \
                >> ${D}${nonarch_libdir}/tmpfiles.d/sol.conf
        fi
    fi
}

FILES:${PN} += "${nonarch_libdir}/sysusers.d/sol.conf \
                ${nonarch_libdir}/tmpfiles.d/sol.conf \
                ${systemd_system_unitdir}/sol.service.d \
                ${SOL_STATE_DIR}"

# The operator's edits to the configuration survive package upgrades.
CONFFILES:${PN} = "${sysconfdir}/sol/sol.conf"

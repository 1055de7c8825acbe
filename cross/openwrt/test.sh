#!/bin/sh
# Tests the UCI -> sol.conf conversion (files/sol-uci.sh) without OpenWrt: sample
# `uci export` texts go through sol_uci_convert under a POSIX sh (dash on Debian), and
# every generated file is validated with `sol check -c`; sol_uci_store_path names the
# store whose directory the init script creates; and the init script gives Sol the time
# of its final save before procd's SIGKILL.
#
#   cargo build --release && sh cross/openwrt/test.sh target/release/sol
#
# Exits 0 when every case passes; prints `N passed, N failed` last.
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 PATH/TO/sol (a host build of the broker)" >&2
	exit 2
fi
case $1 in
/*) SOL=$1 ;;
*) SOL=$(pwd)/$1 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
CONVERT_SH=$HERE/files/sol-uci.sh
# the shell the conversion runs under: POSIX sh (dash here, busybox ash on OpenWrt)
SH=${SH:-sh}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
current=

ok() { passed=$((passed + 1)); printf 'ok   %s: %s\n' "$current" "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s: %s\n' "$current" "$1"; }

# convert NAME: converts $WORK/NAME.uci into $WORK/NAME.conf (stderr in NAME.err),
# sets $rc to the converter's exit status.
convert() {
	current=$1
	# shellcheck disable=SC2016 # $1 expands in the inner shell
	"$SH" -c '. "$1"; sol_uci_convert' sh "$CONVERT_SH" \
		<"$WORK/$1.uci" >"$WORK/$1.conf" 2>"$WORK/$1.err"
	rc=$?
}

expect_rc() {
	if [ "$rc" -eq "$1" ]; then
		ok "conversion exits $1"
	else
		fail "conversion exited $rc, expected $1; stderr:"
		sed 's/^/    /' "$WORK/$current.err"
	fi
}

# has_line LINE: the generated file has exactly this line.
has_line() {
	if grep -qxF -- "$1" "$WORK/$current.conf"; then
		ok "has '$1'"
	else
		fail "no line '$1' in:"
		sed 's/^/    /' "$WORK/$current.conf"
	fi
}

lacks() {
	if grep -q -- "$1" "$WORK/$current.conf"; then
		fail "unexpected '$1' in the output"
	else
		ok "no '$1'"
	fi
}

# err_has TEXT: the converter reported TEXT on stderr.
err_has() {
	if grep -qF -- "$1" "$WORK/$current.err"; then
		ok "reports '$1'"
	else
		fail "stderr lacks '$1':"
		sed 's/^/    /' "$WORK/$current.err"
	fi
}

# store_path_is PATH: sol_uci_store_path of the generated file prints PATH (empty: none).
store_path_is() {
	# shellcheck disable=SC2016 # $1 and $2 expand in the inner shell
	got=$("$SH" -c '. "$1"; sol_uci_store_path "$2"' sh "$CONVERT_SH" "$WORK/$current.conf")
	if [ "$got" = "$1" ]; then
		ok "store path '$1'"
	else
		fail "store path '$got', expected '$1'"
	fi
}

# sol_check EXPECTED: `sol check -c` on the generated file exits EXPECTED.
sol_check() {
	out=$("$SOL" check -c "$WORK/$current.conf" 2>&1)
	got=$?
	if [ "$got" -eq "$1" ]; then
		ok "sol check exits $1"
	else
		fail "sol check exited $got, expected $1:"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
}

# --- 1. the shipped defaults: files/sol.config as `uci export` prints it ---------
{
	echo 'package sol'
	echo
	grep -v '^[[:space:]]*#' "$HERE/files/sol.config" | grep -v '^[[:space:]]*$' |
		sed 's/^config/\nconfig/'
} >"$WORK/defaults.uci"
convert defaults
expect_rc 0
has_line 'listener 1883'
has_line 'allow_anonymous true'
has_line 'log_dest stderr'
has_line 'log_timestamp false'
has_line 'log_type information'
has_line 'connection_messages true'
has_line 'max_connections 256'
has_line 'sys_interval 10'
has_line 'persistent_client_expiration 1d'
has_line 'max_queued_messages 1000'
has_line 'persistence true'
has_line 'persistence_location /etc/sol/data'
has_line 'autosave_interval 1800'
lacks 'persistence_sync'
lacks 'autosave_on_changes'
lacks 'enabled'
store_path_is /etc/sol/data/sol.db
sol_check 0

# --- 2. two listeners, one disabled, one IPv6-only ---------------------------------
cat >"$WORK/listeners.uci" <<'EOF'
package sol

config sol 'main'
	option enabled '1'
	option allow_anonymous '1'

config listener 'lan'
	option port '1883'
	option address '192.168.1.1'

config listener
	option port '1884'
	option address '::1'
	option socket_domain 'ipv6'

config listener 'off'
	option port '1885'
	option enabled '0'

config listener 'local'
	option port '0'
	option address '/var/run/sol.sock'
EOF
convert listeners
expect_rc 0
has_line 'listener 1883 192.168.1.1'
has_line 'listener 1884 ::1'
has_line 'socket_domain ipv6'
has_line 'listener 0 /var/run/sol.sock'
lacks '1885'
# socket_domain must follow its own listener line
if [ "$(grep -A1 -x 'listener 1884 ::1' "$WORK/listeners.conf" | tail -n 1)" = 'socket_domain ipv6' ]; then
	ok "socket_domain right after its listener"
else
	fail "socket_domain not right after 'listener 1884 ::1'"
fi
sol_check 0

# --- 3. anonymous off, and per-listener anonymous ----------------------------------
cat >"$WORK/anon.uci" <<'EOF'
package sol

config sol 'main'
	option allow_anonymous '0'
	option persistent_client_expiration '2w'

config listener
	option port '1883'
EOF
convert anon
expect_rc 0
has_line 'allow_anonymous false'
has_line 'listener 1883'
sol_check 0

cat >"$WORK/perlistener.uci" <<'EOF'
package sol

config listener 'lan'
	option port '1883'
	option allow_anonymous 'yes'

config listener 'wan'
	option port '1884'
	option allow_anonymous 'off'

config sol 'main'
	option per_listener_settings 'on'
EOF
convert perlistener
expect_rc 0
if [ "$(sed -n 2p "$WORK/perlistener.conf")" = 'per_listener_settings true' ]; then
	ok "per_listener_settings comes first"
else
	fail "per_listener_settings is not the first setting"
fi
has_line 'allow_anonymous true'
has_line 'allow_anonymous false'
sol_check 0

# --- 4. odd whitespace and quoting --------------------------------------------------
{
	printf 'package sol\r\n\r\n'
	printf "config  sol   'main'\r\n"
	printf "  \t option   max_connections    '  64\t'   \r\n"
	printf '\toption sys_interval "30"\n'
	printf "\toption auto_id_prefix 'it'\\\\''s-'\n"
	printf '\toption max_queued_bytes 64k\n'
	printf "\tlist log_type\t'  error '\n"
	printf "\tlist log_type 'warning'\n"
	printf "config listener\n\toption port ' 1883 '\n\toption address '\t127.0.0.1 '"
	# (no newline at the end: the last line still counts)
} >"$WORK/whitespace.uci"
convert whitespace
expect_rc 0
has_line 'max_connections 64'
has_line 'sys_interval 30'
has_line "auto_id_prefix it's-"
has_line 'max_queued_bytes 64k'
has_line 'log_type error'
has_line 'log_type warning'
has_line 'listener 1883 127.0.0.1'
sol_check 0

# --- 5. no listener section: Sol's embedded loopback listeners ---------------------
printf "package sol\n\nconfig sol 'main'\n\toption max_keepalive '600'\n" >"$WORK/nolistener.uci"
convert nolistener
expect_rc 0
has_line 'max_keepalive 600'
lacks 'listener'
# the persistence defaults when /etc/config/sol has no persistence option (an older file)
has_line 'persistence true'
has_line 'persistence_location /etc/sol/data'
has_line 'autosave_interval 1800'
sol_check 0

# --- 5b. persistence options --------------------------------------------------------
cat >"$WORK/persist.uci" <<'EOF'
package sol

config sol 'main'
	option persistence 'yes'
	option persistence_location '/mnt/usb/sol/'
	option persistence_file 'broker.db'
	option autosave_interval '300'
	option autosave_on_changes '0'
	option persistence_sync '1'
EOF
convert persist
expect_rc 0
has_line 'persistence true'
has_line 'persistence_location /mnt/usb/sol/'
has_line 'persistence_file broker.db'
has_line 'autosave_interval 300'
has_line 'autosave_on_changes false'
has_line 'persistence_sync true'
if [ "$(grep -c '^persistence ' "$WORK/persist.conf")" = 1 ]; then
	ok "one persistence line"
else
	fail "persistence written more than once"
fi
store_path_is /mnt/usb/sol/broker.db
sol_check 0

printf "package sol\n\nconfig sol 'main'\n\toption persistence '0'\n" >"$WORK/persistoff.uci"
convert persistoff
expect_rc 0
has_line 'persistence false'
store_path_is ''
sol_check 0

printf "package sol\n\nconfig sol 'main'\n\toption persistence_file '/srv/sol/mqtt.db'\n" >"$WORK/persistfile.uci"
convert persistfile
expect_rc 0
store_path_is /srv/sol/mqtt.db
sol_check 0

printf "package sol\n\nconfig sol 'main'\n\toption persistence_location '/tmp/sol'\n" >"$WORK/persistram.uci"
convert persistram
expect_rc 0
err_has "line 4: option 'persistence_location': '/tmp/sol' is in RAM on OpenWrt"
has_line 'persistence_location /tmp/sol'
sol_check 0

cat >"$WORK/persistbad.uci" <<'EOF'
package sol

config sol 'main'
	option persistence 'maybe'
	option persistence_location 'data'
	option autosave_interval 'often'
EOF
convert persistbad
expect_rc 1
err_has "line 4: option 'persistence': 'maybe' is not a boolean"
err_has "line 5: option 'persistence_location': 'data' is not an absolute path"
# the defaults stay; a value the conversion passes on is left to sol check
has_line 'persistence true'
has_line 'persistence_location /etc/sol/data'
has_line 'autosave_interval often'

# --- 6. unknown and malformed options are reported, the rest still converted -------
cat >"$WORK/unknown.uci" <<'EOF'
package sol

config sol 'main'
	option max_kepalive '60'
	option max_queued_messages '500'
	option allow_anonymous 'maybe'
	option auto_id_prefix 'two words'
	list max_connections '10'

config listener
	option port '1883'
	option interface 'lan'

config bridge 'b'
	option address 'x'

config listener 'noport'
	option address '10.0.0.1'
EOF
convert unknown
expect_rc 1
err_has "line 4: unknown option 'max_kepalive' in section 'sol'"
err_has "'maybe' is not a boolean"
err_has "'two words' must be one word"
err_has "'max_connections' is not a list option"
err_has "unknown option 'interface' in section 'listener'"
err_has "unknown section type 'bridge'"
err_has "section 'noport': a listener needs option 'port'"
has_line 'max_queued_messages 500'
has_line 'listener 1883'
lacks 'kepalive'

cat >"$WORK/anonnoper.uci" <<'EOF'
package sol

config listener
	option port '1883'
	option allow_anonymous '1'
EOF
convert anonnoper
expect_rc 1
err_has "needs option per_listener_settings '1'"

# --- 7. a value the conversion passes on is still checked by sol --------------------
printf "package sol\n\nconfig sol 'main'\n\toption max_keepalive '70000'\n" >"$WORK/range.uci"
convert range
expect_rc 0
sol_check 1
case $out in
*"range.conf:2: max_keepalive"*) ok "sol check names file:line ($out)" ;;
*) fail "sol check output lacks range.conf:2: $out" ;;
esac

# --- 8. the init script: procd's SIGKILL waits for Sol's final save; one user -------
current=init
INIT=$HERE/files/sol.init
stop_wait=$(sed -n 's/.*STORE_STOP_WAIT: Duration = Duration::from_secs(\([0-9]*\)).*/\1/p' "$HERE/../../src/net/store.rs")
term_timeout=$(sed -n 's/^SOL_STOP_TIMEOUT=\([0-9]*\)$/\1/p' "$INIT")
if [ -n "$stop_wait" ] && [ -n "$term_timeout" ] && [ "$term_timeout" -ge $((stop_wait + 5)) ]; then
	ok "SOL_STOP_TIMEOUT $term_timeout >= Sol's final save ($stop_wait s) + 5 s"
else
	fail "SOL_STOP_TIMEOUT '$term_timeout' is not Sol's final save ('$stop_wait' s) + 5 s or more"
fi
# shellcheck disable=SC2016 # literal text of sol.init
if grep -qF 'procd_set_param term_timeout "$SOL_STOP_TIMEOUT"' "$INIT"; then
	ok "procd's term_timeout is SOL_STOP_TIMEOUT"
else
	fail "sol.init does not set procd's term_timeout to SOL_STOP_TIMEOUT"
fi
sol_user=$(sed -n 's/^SOL_USER=//p' "$INIT")
makefile_user=$(sed -n 's/^[[:space:]]*USERID:=\([a-z]*\)=.*/\1/p' "$HERE/Makefile")
# shellcheck disable=SC2016 # literal text of sol.init
if [ -n "$sol_user" ] && [ "$sol_user" = "$makefile_user" ] &&
	grep -qF 'procd_set_param user "$SOL_USER"' "$INIT" &&
	grep -qF 'chown "$SOL_USER:$SOL_USER"' "$INIT"; then
	ok "Sol runs as, and its store directory belongs to, the package's user $sol_user"
else
	fail "SOL_USER '$sol_user', the Makefile's USERID '$makefile_user', procd's user and the chown disagree"
fi

echo
echo "generated from the defaults:"
sed 's/^/    /' "$WORK/defaults.conf"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

# shellcheck shell=sh
# UCI -> sol.conf conversion for the OpenWrt package. POSIX sh, sourced by
# /etc/init.d/sol and by cross/openwrt/test.sh; it needs no `uci` binary:
#
#   . /usr/share/sol/sol-uci.sh
#   uci -q export sol | sol_uci_convert > /var/etc/sol.conf
#
# sol_uci_convert reads `uci export` text on stdin and writes Mosquitto-syntax lines
# (docs/configuration.md) on stdout. Every problem (unknown section or option, a value
# that is not one word, a bad boolean, a listener without a port) is reported on
# stderr as `sol-uci: ...` and makes it return 1, after converting the rest: like Sol
# itself, it never drops a setting silently. `sol check -c` then validates the values.
# Warnings (`sol-uci: warning: ...`, a store in RAM) are reported and do not fail.
#
# The persistence options have the package's defaults, written out when not set:
# persistence on, the store in /etc/sol/data (on the overlay: persistent flash, not
# RAM like /tmp and /var), a save every 1800 s (README.md explains both choices).
# sol_uci_store_path FILE names the store file of a generated sol.conf, for the init
# script to create its directory for the user sol.

# Options of `config sol` sections, emitted as `key value` with the same name.
SOL_UCI_WORD_KEYS='max_connections max_inflight_messages max_queued_messages
max_queued_bytes message_size_limit max_packet_size max_keepalive sys_interval
persistent_client_expiration auto_id_prefix connect_timeout slow_consumer_timeout
max_publisher_stall max_inflight_incoming max_subscriptions_per_client
max_subscriptions max_topic_length max_topic_levels max_client_id_length
max_retained_messages max_retained_bytes max_queued_memory max_offline_sessions
buffer_block_size max_buffer_memory'
# Booleans: UCI's 1/0, yes/no, on/off, true/false, enabled/disabled become true/false.
SOL_UCI_BOOL_KEYS='allow_anonymous per_listener_settings queue_qos0_messages
allow_zero_length_clientid retain_available log_timestamp connection_messages'
# Repeatable keys: `list` (or `option`) entries, one line each, in order.
SOL_UCI_LIST_KEYS='log_dest log_type'
# Persistence, written together after the other options, defaults filled in.
SOL_UCI_PERSIST_BOOL_KEYS='persistence autosave_on_changes persistence_sync'
SOL_UCI_PERSIST_WORD_KEYS='persistence_location persistence_file autosave_interval'
SOL_UCI_DEFAULT_PERSISTENCE=true
SOL_UCI_DEFAULT_STORE_DIR=/etc/sol/data
SOL_UCI_DEFAULT_AUTOSAVE=1800

# _sol_uci_in WORD LIST: WORD is one of the words of LIST.
_sol_uci_in() {
	case " $(printf '%s' "$2" | tr '\n\t' '  ') " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# _sol_uci_err MESSAGE: report one problem and remember that there was one.
_sol_uci_err() {
	printf 'sol-uci: %s\n' "$1" >&2
	_sol_uci_failed=1
}

# _sol_uci_warn MESSAGE: report something that works but is probably not meant.
_sol_uci_warn() {
	printf 'sol-uci: warning: %s\n' "$1" >&2
}

# _sol_uci_persist WHERE NAME VALUE: remember a persistence option (checked word or
# boolean); persistence_location must be absolute, and is warned about in RAM.
_sol_uci_persist() {
	case $2 in
	persistence) _sol_uci_p_on=$3 ;;
	persistence_location)
		case $3 in
		/*) ;;
		*)
			_sol_uci_err "$1: option 'persistence_location': '$3' is not an absolute path"
			return 1
			;;
		esac
		case $3 in
		/tmp | /tmp/* | /var | /var/* | /dev | /dev/*)
			_sol_uci_warn "$1: option 'persistence_location': '$3' is in RAM on OpenWrt: the store is lost at every reboot (the default /etc/sol/data is on flash)"
			;;
		esac
		_sol_uci_p_dir=$3
		;;
	persistence_file) _sol_uci_p_file=$3 ;;
	autosave_interval) _sol_uci_p_interval=$3 ;;
	autosave_on_changes) _sol_uci_p_changes=$3 ;;
	persistence_sync) _sol_uci_p_sync=$3 ;;
	esac
	return 0
}

# _sol_uci_unquote TEXT: the value of a uci export token sequence such as
# 'a b', 'it'\''s', "x" or bare; sets _sol_uci_val, returns 1 if a quote is open.
_sol_uci_unquote() {
	_rest=$1
	_sol_uci_val=
	while [ -n "$_rest" ]; do
		case $_rest in
		\'*)
			_rest=${_rest#\'}
			case $_rest in
			*\'*) ;;
			*) return 1 ;;
			esac
			_sol_uci_val=$_sol_uci_val${_rest%%\'*}
			_rest=${_rest#*\'}
			;;
		\"*)
			_rest=${_rest#\"}
			case $_rest in
			*\"*) ;;
			*) return 1 ;;
			esac
			_sol_uci_val=$_sol_uci_val${_rest%%\"*}
			_rest=${_rest#*\"}
			;;
		\\?*)
			_rest=${_rest#\\}
			_sol_uci_val=$_sol_uci_val${_rest%"${_rest#?}"}
			_rest=${_rest#?}
			;;
		*)
			_c=${_rest%"${_rest#?}"}
			_sol_uci_val=$_sol_uci_val$_c
			_rest=${_rest#?}
			;;
		esac
	done
	return 0
}

# _sol_uci_trim TEXT: TEXT without leading and trailing blanks (spaces, tabs, CR).
_sol_uci_trim() {
	_t=$1
	_blank=$(printf ' \t\r')
	while :; do
		case $_t in
		["$_blank"]*) _t=${_t#?} ;;
		*["$_blank"]) _t=${_t%?} ;;
		*) break ;;
		esac
	done
	printf '%s' "$_t"
}

# _sol_uci_word WHERE NAME VALUE: VALUE trimmed, checked to be one Sol word;
# sets _sol_uci_word, returns 1 (after reporting) if it is not.
_sol_uci_word() {
	_sol_uci_word=$(_sol_uci_trim "$3")
	case $_sol_uci_word in
	'')
		_sol_uci_err "$1: option '$2' is empty"
		return 1
		;;
	*[[:space:]]*)
		_sol_uci_err "$1: option '$2': '$_sol_uci_word' must be one word"
		return 1
		;;
	\#*)
		_sol_uci_err "$1: option '$2': a value cannot start with '#'"
		return 1
		;;
	esac
	return 0
}

# _sol_uci_bool WHERE NAME VALUE: sets _sol_uci_word to true/false.
_sol_uci_bool() {
	_sol_uci_word "$@" || return 1
	case $_sol_uci_word in
	1 | yes | on | true | enabled) _sol_uci_word=true ;;
	0 | no | off | false | disabled) _sol_uci_word=false ;;
	*)
		_sol_uci_err "$1: option '$2': '$_sol_uci_word' is not a boolean (1/0, yes/no, on/off, true/false)"
		return 1
		;;
	esac
	return 0
}

# _sol_uci_flush_listener: emit the listener section read so far, if any.
_sol_uci_flush_listener() {
	[ "$_sec_type" = listener ] || return 0
	if [ "$_l_enabled" = false ]; then
		return 0
	fi
	if [ -z "$_l_port" ]; then
		_sol_uci_err "$_where: a listener needs option 'port'"
		return 0
	fi
	_sol_uci_listeners=$_sol_uci_listeners"listener $_l_port${_l_address:+ $_l_address}
$_l_extra"
}

sol_uci_convert() {
	_sol_uci_failed=0
	_sol_uci_main=
	_sol_uci_listeners=
	_sol_uci_per_listener=false
	_sol_uci_listener_anon=
	_sol_uci_p_on=$SOL_UCI_DEFAULT_PERSISTENCE
	_sol_uci_p_dir=$SOL_UCI_DEFAULT_STORE_DIR
	_sol_uci_p_file=
	_sol_uci_p_interval=$SOL_UCI_DEFAULT_AUTOSAVE
	_sol_uci_p_changes=
	_sol_uci_p_sync=
	_sec_type=
	_where=
	_lineno=0
	while IFS= read -r _line || [ -n "$_line" ]; do
		_lineno=$((_lineno + 1))
		_line=$(_sol_uci_trim "$_line")
		# keyword, then name, then the (possibly quoted) value
		_kw=${_line%%[[:space:]]*}
		_args=$(_sol_uci_trim "${_line#"$_kw"}")
		case $_kw in
		'' | \#*) continue ;;
		package) continue ;;
		config)
			_sol_uci_flush_listener
			_type=${_args%%[[:space:]]*}
			_name=$(_sol_uci_trim "${_args#"$_type"}")
			_sol_uci_unquote "$_type" && _type=$_sol_uci_val
			_sol_uci_unquote "$_name" && _name=$_sol_uci_val
			_where="line $_lineno: section '${_name:-$_type}'"
			case $_type in
			sol | listener) _sec_type=$_type ;;
			*)
				_sol_uci_err "line $_lineno: unknown section type '$_type' (expected 'sol' or 'listener')"
				_sec_type=ignored
				;;
			esac
			_l_port=
			_l_address=
			_l_extra=
			_l_enabled=true
			continue
			;;
		option | list) ;;
		*)
			_sol_uci_err "line $_lineno: cannot parse '$_line'"
			continue
			;;
		esac

		_opt=${_args%%[[:space:]]*}
		_raw=$(_sol_uci_trim "${_args#"$_opt"}")
		if ! _sol_uci_unquote "$_raw"; then
			_sol_uci_err "line $_lineno: unbalanced quote in '$_line'"
			continue
		fi
		_val=$_sol_uci_val
		_here="line $_lineno"
		case $_sec_type in
		'')
			_sol_uci_err "$_here: option '$_opt' outside a section"
			continue
			;;
		ignored) continue ;;
		esac
		if [ "$_kw" = list ] && ! _sol_uci_in "$_opt" "$SOL_UCI_LIST_KEYS"; then
			_sol_uci_err "$_here: '$_opt' is not a list option"
			continue
		fi

		if [ "$_sec_type" = sol ]; then
			if [ "$_opt" = enabled ]; then
				# read by the init script
				_sol_uci_bool "$_here" "$_opt" "$_val" || :
			elif _sol_uci_in "$_opt" "$SOL_UCI_PERSIST_BOOL_KEYS"; then
				_sol_uci_bool "$_here" "$_opt" "$_val" &&
					_sol_uci_persist "$_here" "$_opt" "$_sol_uci_word"
			elif _sol_uci_in "$_opt" "$SOL_UCI_PERSIST_WORD_KEYS"; then
				_sol_uci_word "$_here" "$_opt" "$_val" &&
					_sol_uci_persist "$_here" "$_opt" "$_sol_uci_word"
			elif _sol_uci_in "$_opt" "$SOL_UCI_LIST_KEYS"; then
				_sol_uci_word "$_here" "$_opt" "$_val" &&
					_sol_uci_main=$_sol_uci_main"$_opt $_sol_uci_word
"
			elif _sol_uci_in "$_opt" "$SOL_UCI_BOOL_KEYS"; then
				if _sol_uci_bool "$_here" "$_opt" "$_val"; then
					if [ "$_opt" = per_listener_settings ]; then
						# Sol wants it before any allow_anonymous line
						_sol_uci_per_listener=$_sol_uci_word
						_sol_uci_main="$_opt $_sol_uci_word
$_sol_uci_main"
					else
						_sol_uci_main=$_sol_uci_main"$_opt $_sol_uci_word
"
					fi
				fi
			elif _sol_uci_in "$_opt" "$SOL_UCI_WORD_KEYS"; then
				_sol_uci_word "$_here" "$_opt" "$_val" &&
					_sol_uci_main=$_sol_uci_main"$_opt $_sol_uci_word
"
			else
				_sol_uci_err "$_here: unknown option '$_opt' in section 'sol' (see docs/configuration.md for Sol's keys)"
			fi
		else
			case $_opt in
			port)
				_sol_uci_word "$_here" "$_opt" "$_val" && _l_port=$_sol_uci_word
				;;
			address)
				_sol_uci_word "$_here" "$_opt" "$_val" && _l_address=$_sol_uci_word
				;;
			socket_domain)
				_sol_uci_word "$_here" "$_opt" "$_val" &&
					_l_extra=$_l_extra"socket_domain $_sol_uci_word
"
				;;
			allow_anonymous)
				if _sol_uci_bool "$_here" "$_opt" "$_val"; then
					_l_extra=$_l_extra"allow_anonymous $_sol_uci_word
"
					_sol_uci_listener_anon=$_here
				fi
				;;
			enabled)
				_sol_uci_bool "$_here" "$_opt" "$_val" && _l_enabled=$_sol_uci_word
				;;
			*)
				_sol_uci_err "$_here: unknown option '$_opt' in section 'listener' (port, address, socket_domain, allow_anonymous, enabled)"
				;;
			esac
		fi
	done
	_sol_uci_flush_listener

	if [ -n "$_sol_uci_listener_anon" ] && [ "$_sol_uci_per_listener" != true ]; then
		_sol_uci_err "$_sol_uci_listener_anon: allow_anonymous in a listener section needs option per_listener_settings '1' in the sol section"
	fi

	printf '# Generated from /etc/config/sol by /etc/init.d/sol: edit that file, not this one.\n'
	printf '%s' "$_sol_uci_main"
	printf 'persistence %s\n' "$_sol_uci_p_on"
	printf 'persistence_location %s\n' "$_sol_uci_p_dir"
	[ -z "$_sol_uci_p_file" ] || printf 'persistence_file %s\n' "$_sol_uci_p_file"
	printf 'autosave_interval %s\n' "$_sol_uci_p_interval"
	[ -z "$_sol_uci_p_changes" ] || printf 'autosave_on_changes %s\n' "$_sol_uci_p_changes"
	[ -z "$_sol_uci_p_sync" ] || printf 'persistence_sync %s\n' "$_sol_uci_p_sync"
	printf '%s' "$_sol_uci_listeners"
	return "$_sol_uci_failed"
}

# sol_uci_store_path FILE: the store file that FILE, a sol.conf written by
# sol_uci_convert, names (persistence_location joined with persistence_file, as Sol
# joins them; an absolute persistence_file as it is), or nothing if persistence is off
# or the path would be relative.
sol_uci_store_path() {
	_on=false
	_dir=
	_file=sol.db
	while IFS= read -r _line || [ -n "$_line" ]; do
		case $_line in
		'persistence '*) _on=${_line#persistence } ;;
		'persistence_location '*) _dir=${_line#persistence_location } ;;
		'persistence_file '*) _file=${_line#persistence_file } ;;
		esac
	done <"$1"
	[ "$_on" = true ] || return 0
	case $_file in
	/*) printf '%s\n' "$_file" ;;
	*) if [ -n "$_dir" ]; then printf '%s/%s\n' "${_dir%/}" "$_file"; fi ;;
	esac
	return 0
}

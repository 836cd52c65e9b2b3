# bench/lib.sh holds what the bench scripts share: their work folder and
# exit trap, installing their peers, ports, nginx, timing a tool, parsing
# the reports of gather, wrk and hey, the alternating rounds and medians.
# A script sources it and names itself first:
#
#   . "$(dirname "$0")/lib.sh"
#   bench_init loadgen
#
# It is sourced, not run: it sets no shell options (the scripts set -euo
# pipefail themselves) and starts nothing. What it starts for a script
# sends traffic to 127.0.0.1 only, and bench_cleanup ends only the
# processes the script started, by PID.

# bench_init NAME sets repo (the repository's root), work (a folder of its
# own under /tmp, removed on exit, readable by nginx's worker, which runs
# as nobody) and pids (the processes bench_cleanup ends), and traps EXIT.
bench_init() {
	bench_name=$1
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	work=$(mktemp -d "/tmp/gather-$1.XXXXXX")
	chmod 755 "$work"
	pids=()
	trap bench_cleanup EXIT
}

# log writes a line to stderr, prefixed with the script's name.
log() { echo "$bench_name.sh: $*" >&2; }

# bench_cleanup ends every process in pids, runs the script's own
# bench_on_exit where it defines one (to put back what it changed), and
# removes work.
bench_cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		stop_pid "$pid"
	done
	if declare -F bench_on_exit >/dev/null; then
		bench_on_exit || true
	fi
	rm -rf "$work"
}

# is_child PID succeeds when PID is a process this shell started and has
# not yet reaped. A PID that ended and was reaped may already belong to
# someone else's process: only a child of ours is ever signalled.
is_child() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # the fields after the command's name, which may hold spaces
	# shellcheck disable=SC2086
	set -- $stat
	[ "${2:-}" = "$$" ]
}

# stop_pid PID [SIGNAL] sends SIGNAL (TERM) to PID if it is still this
# shell's child, waits for it, and drops it from pids.
stop_pid() {
	if is_child "$1"; then
		kill -"${2:-TERM}" "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
	local kept=() p
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || kept+=("$p")
	done
	pids=("${kept[@]}")
}

# apt_install [OPTION...] PACKAGE... installs Debian packages, under
# flock /work/notes/apt.lock where that exists (dpkg has one lock and the
# shared machine has one apt-get at a time; a fresh clone elsewhere has no
# such file and installs without it). Options (-...) go to apt-get install.
apt_install() {
	local opts=() pkgs=() a
	for a in "$@"; do
		if [[ $a == -* ]]; then opts+=("$a"); else pkgs+=("$a"); fi
	done
	log "installing ${pkgs[*]}"
	local lock=()
	[ -e /work/notes/apt.lock ] && lock=(flock /work/notes/apt.lock)
	"${lock[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq "${opts[@]}" "${pkgs[@]}" >/dev/null
}

# need [OPTION...] TOOL... installs with apt_install what is missing. A
# TOOL is a command (nginx), a command and its package (h2load:nghttp2-client)
# or a path and its package (/usr/bin/time:time).
need() {
	local opts=() missing=() t cmd
	for t in "$@"; do
		if [[ $t == -* ]]; then
			opts+=("$t")
			continue
		fi
		cmd=${t%%:*}
		if [[ $cmd == /* ]]; then
			[ -x "$cmd" ] && continue
		else
			command -v "$cmd" >/dev/null && continue
		fi
		missing+=("${t#*:}")
	done
	[ ${#missing[@]} -eq 0 ] || apt_install "${opts[@]}" "${missing[@]}"
}

# go_tool COMMAND MODULE@VERSION puts Go's bin folder on PATH and installs
# COMMAND with go install when it is not there (from /tmp, so that the
# repository's go.mod is left alone).
go_tool() {
	local bin
	bin=$(go env GOPATH)/bin
	[[ ":$PATH:" == *":$bin:"* ]] || export PATH="$PATH:$bin"
	command -v "$1" >/dev/null && return 0
	log "installing $2"
	(cd /tmp && go install "$2")
}

# build_gather builds the repository's gather into $work/gather.
build_gather() {
	log "building gather"
	(cd "$repo" && go build -o "$work/gather" ./cmd/gather)
}

# free_port prints a port nothing listens on, below the kernel's range of
# ephemeral ports (32768 and up), where the load's own client sockets are.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	log "no free port found"
	return 1
}

# wait_port waits up to 5 s for something to listen on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	log "nothing listens on port $1"
	return 1
}

# wait_url waits up to 60 s for $1 to answer 200.
wait_url() {
	for _ in $(seq 600); do
		if curl -sf -o /dev/null "$1"; then return 0; fi
		sleep 0.1
	done
	log "$1 does not answer"
	return 1
}

# nginx_hello_file writes $work/www/hello.txt, the 13-byte file that
# nginx serves with "root $work/www;".
nginx_hello_file() {
	mkdir -p "$work/www"
	printf 'Hello, world\n' >"$work/www/hello.txt"
	chmod -R a+rX "$work/www"
}

# nginx_start SERVER [HTTP [MAIN]] writes $work/nginx/nginx.conf and starts
# nginx on it (in pids, and its PID in nginx_pid): one worker process in
# the foreground, no access log, every temporary path in $work; SERVER is
# the body of its one server block (its listen lines included), HTTP more
# http-level directives, MAIN main-context ones (load_module). nginx runs
# under the command prefix nginx_prefix if set (taskset, to pin it). The
# caller waits for its ports.
nginx_start() {
	mkdir -p "$work/nginx"
	cat >"$work/nginx/nginx.conf" <<EOF
${3:-}
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    # Every tool keeps its connections for the whole run, as real clients
    # of a benchmark would; the default (1000) would add reconnects.
    keepalive_requests 100000000;
    default_type text/plain;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    ${2:-}
    server {
        $1
    }
}
EOF
	${nginx_prefix[@]+"${nginx_prefix[@]}"} nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
	nginx_pid=$!
	pids+=("$nginx_pid")
}

# timed COMMAND... runs COMMAND under /usr/bin/time and sets wall, user
# and sys (seconds), rss_kib (peak RSS), cpu_s (user + system, 3 decimals)
# and rss_mib (1 decimal) from it. It returns COMMAND's status. wall is
# bash's clock (EPOCHREALTIME, to the microsecond) around /usr/bin/time,
# not time's own %e, which has 10 ms steps: 1% of a 1 s run, the size of
# the differences fetch.sh's 20 ms rows look for. It includes the fork
# and exec of /usr/bin/time, some 1 ms, as %e included the command's.
timed() {
	local rc=0 t0 t1
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$@" || rc=$?
	t1=$EPOCHREALTIME
	# time puts "Command exited with non-zero status N" first when the
	# command failed: the figures are on the last line.
	read -r _ user sys rss_kib < <(tail -n 1 "$work/time.txt")
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	cpu_s=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')
	rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
	return "$rc"
}

# ms converts a latency with its unit (12.3us, 1.2ms, 0.5s) to milliseconds.
ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /µs$/) { sub(/µs$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else printf "%.3f", v }'
}

# The parse_* functions set reqs, rps, p50 and p99 (ms) from one tool's
# report in the file $1.
parse_gather() {
	reqs=$(awk '/^Requests/ {print $2}' "$1")
	rps=$(awk '/^Requests/ {gsub(/\(/, "", $3); print $3}' "$1")
	p50=$(awk '/^  p50 / {print $2; exit}' "$1")
	p99=$(awk '/^  p99 / {print $2; exit}' "$1")
}
parse_wrk() {
	reqs=$(awk '/requests in/ {print $1}' "$1")
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$1")
	p50=$(ms "$(awk '$1 == "50%" {print $2}' "$1")")
	p99=$(ms "$(awk '$1 == "99%" {print $2}' "$1")")
}
parse_hey() {
	reqs=$(awk '/\[200\]/ {print $2}' "$1")
	rps=$(awk '/Requests\/sec:/ {print $2}' "$1")
	p50=$(awk '/50% in/ {printf "%.3f", $3 * 1000}' "$1")
	p99=$(awk '/99% in/ {printf "%.3f", $3 * 1000}' "$1")
}

# some_requests TOOL FILE succeeds when reqs counts at least one request;
# otherwise it says so and shows the tool's report.
some_requests() {
	if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
		log "$1 did no request:"
		cat "$2" >&2
		return 1
	fi
}

# alternate ROWS RUN ITEM... runs ROUNDS rounds; in each, RUN ITEM for
# every ITEM in turn, its row printed and appended to ROWS, with a second
# between runs (for TIME_WAIT and the server to settle) and a blank line
# between rounds. Comparing items within a round is what the tables are
# for: the machine's other load moves every figure between rounds.
alternate() {
	local rows=$1 run=$2 round item
	shift 2
	: >"$rows"
	for round in $(seq "$ROUNDS"); do
		for item in "$@"; do
			"$run" "$item" | tee -a "$rows"
			sleep 1
		done
		[ "$round" = "$ROUNDS" ] || echo
	done
}

# awk_median defines median(list) in awk: the median of a list of numbers
# separated by spaces. Prepend it to a program: awk "$awk_median"' {...}'.
# shellcheck disable=SC2016
awk_median='
function median(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}'

# median VALUE... prints the median of its arguments.
median() {
	awk "$awk_median"' BEGIN { for (i = 1; i < ARGC; i++) l = l " " ARGV[i]; print median(l) }' "$@"
}

# medians ROWS NAME FORMAT... prints one line for the rows of ROWS whose
# first field is NAME: NAME in the first FORMAT, then the median of each
# further column in its own FORMAT (columns past the last FORMAT are left
# out), one space between. A column of "-" (a figure the tool does not
# report) stays "-", as wide as its FORMAT.
medians() {
	local rows=$1 name=$2
	shift 2
	awk -v name="$name" -v formats="$*" "$awk_median"'
		$1 == name { for (i = 2; i <= NF; i++) col[i] = col[i] " " $i }
		END {
			n = split(formats, f, " ")
			line = sprintf(f[1], name)
			for (i = 2; i <= n; i++) {
				if (col[i] ~ /(^| )-( |$)/) { w = f[i]; gsub(/[^0-9.]/, "", w); sub(/\..*/, "", w); v = sprintf("%" w "s", "-") }
				else v = sprintf(f[i], median(col[i]))
				line = line " " v
			}
			print line
		}' "$rows"
}

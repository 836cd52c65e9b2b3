#!/usr/bin/env bash
# bench/fetch.sh: gather fetch against curl --parallel and a Python aiohttp
# crawler doing the same job, in the same run, on this machine, against
# "gather serve" and nginx on loopback.
#
#   1. For each server delay (gather serve --delay 0s, then 20ms), each
#      server at a delay (gather serve --lean, then nginx with the echo
#      module's echo_sleep; SERVERS=serve-nethttp adds gather serve on
#      net/http's request path, serve-runtime gather serve --timer runtime,
#      its delays on Go's runtime timers as before they woke on a timerfd)
#      and each input size (10,000 and 100,000 distinct URLs
#      http://127.0.0.1:PORT/?i=N), at concurrency C (200), one JSON line
#      per URL on stdout:
#        gather   gather fetch --quiet -c C -i urls.txt
#        curl     curl -s -Z --parallel-max C -K urls.cfg -w '%{json}\n'
#                 (each URL's body to /dev/null)
#        aiohttp  bench/fetch_aiohttp.py -c C --input urls.txt
#      One warm-up of each, then ROUNDS rounds, the order of the tools
#      rotating from round to round. For each run: seconds, URLs/s, peak
#      RSS, CPU (user + system) per URL; then medians, and gather's ratio
#      to curl and to aiohttp, and at 20 ms to the ceiling C / delay and
#      to what gather bench (-z 5s -c C, event loops) gets from the same
#      server just before: the server's own lateness on this machine.
#      And what a Go program that does nothing but sleep DELAY in C
#      goroutines reaches of the ceiling (bench/fetch_sleepers.go), on
#      Go's runtime timers (what a server on them can give at best) and on
#      timerfds (the machine's own lateness, with no network, server or
#      client: no client can do better).
#      At a delay, with PIN=1 (the default on 2 or more cores), the
#      server runs on the last core and every client on the others
#      (taskset), so that the ceiling measures the client, not the
#      server taking its CPU. And at a delay gather serve runs --lean:
#      it answers GET / on its own HTTP/1.1 loop, not net/http's, because
#      on one core net/http's 65 to 87 µs a request (at 10,000 a second,
#      the 200 requests of a round arriving together and queueing for each
#      other) held any client to 0.92 of the ceiling; lean takes 45 to 55.
#      Unpinned (PIN=0) was no better: worse, alternating (docs/fetch.md).
#   2. Peak RSS of gather fetch at 10,000, 100,000 and BIG (1,000,000)
#      input lines against --delay 0s: it must not grow with the input.
#      gather is built as the README installs it, static (CGO_ENABLED=0);
#      at 10,000 lines the default build (cgo: it links the C library
#      when a C compiler is there) runs too, alternating, 3 times each.
#
# Environment: TOOLS ("gather curl aiohttp": gather first, the others
# optional, for a quick run of gather alone), C (200), ROUNDS (3), SIZES ("10000 100000"), DELAYS
# ("0s 20ms"), SERVERS at a delay ("serve nginx"; also serve-nethttp, serve-runtime), PIN (1 on 2 or more
# cores), BIG (1000000), PORT (a free one).
# Installs what it lacks (curl, python3-aiohttp, time, bc, nginx and
# libnginx-mod-http-echo) with apt-get
# under /work/notes/apt.lock when that exists. Everything it starts is
# stopped on exit; it only talks to 127.0.0.1. Run it alone on the machine,
# or under flock /work/notes/bench.lock: figures from a shared machine move.
set -euo pipefail

TOOLS=${TOOLS:-gather curl aiohttp}
C=${C:-200}
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-10000 100000}
DELAYS=${DELAYS:-0s 20ms}
BIG=${BIG:-1000000}
SERVERS=${SERVERS:-serve nginx}
cores=$(nproc)
PIN=${PIN:-$([ "$cores" -ge 2 ] && echo 1 || echo 0)}
PY=/usr/bin/python3 # Debian's, which has python3-aiohttp; python3 on PATH may be another

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init fetch # $work is readable by nginx's worker, which runs as nobody
cd "$repo"
server_pid=
stop_server() {
	if [ -n "$server_pid" ]; then
		stop_pid "$server_pid"
		server_pid=
	fi
}

if ! { [ -x "$PY" ] && "$PY" -c 'import aiohttp' 2>/dev/null; }; then
	apt_install python3-aiohttp
fi
need /usr/bin/time:time curl bc
if [[ " $SERVERS " == *" nginx "* ]]; then
	need nginx
	[ -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || apt_install libnginx-mod-http-echo
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# gather as the README installs it: static (CGO_ENABLED=0). The default
# build, which links the C library when a C compiler is there, is measured
# beside it in part 2.
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/gather" ./cmd/gather)
(cd "$repo" && go build -o "$work/gather-cgo" ./cmd/gather)
go build -o "$work/sleepers" bench/fetch_sleepers.go
gather=$work/gather
port=${PORT:-$(free_port)}
base=http://127.0.0.1:$port

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), $(curl --version | head -1 | cut -d' ' -f1-2), Python $($PY -c 'import sys, aiohttp; print(sys.version.split()[0], "aiohttp", aiohttp.__version__)')"
echo "# open files: $(ulimit -n); load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# pin_server and pin_client are the taskset prefixes of the server and
# the clients: empty unless pinned.
pin_server=()
pin_client=()
pin() { # pin yes|no
	pin_server=()
	pin_client=()
	if [ "$1" = yes ] && [ "$PIN" = 1 ]; then
		pin_server=(taskset -c "$((cores - 1))")
		pin_client=(taskset -c "0-$((cores - 2))")
	fi
}

start_server() { # start_server serve|serve-nethttp|serve-runtime|nginx DELAY
	if [ "$1" = nginx ]; then
		start_nginx "$2"
	else
		# At a delay, "serve" is --lean (see the top); at 0s and for the
		# other two, net/http's path.
		local opts=(--timer precise)
		case $1 in
		serve-runtime) opts=(--timer runtime) ;;
		serve) if [ "$(echo "$(sed 's/ms$/ \/ 1000/; s/s$//' <<<"$2" | bc -l) > 0" | bc)" = 1 ]; then opts+=(--lean); fi ;;
		esac
		"${pin_server[@]}" "$gather" serve --addr "127.0.0.1:$port" --delay "$2" "${opts[@]}" >"$work/serve.log" 2>&1 &
		server_pid=$!
		pids+=("$server_pid")
	fi
	for _ in $(seq 100); do
		if curl -sf -o /dev/null "$base/"; then return 0; fi
		if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "$1 did not answer on $base" >&2
	cat "$work/serve.log" >&2
	exit 1
}

# start_nginx DELAY: one nginx worker answering "hello!" after DELAY
# (echo_sleep, in seconds, to the millisecond), every connection kept,
# pinned as the server is.
start_nginx() {
	local secs
	secs=$(printf %g "$(sed 's/ms$/ \/ 1000/; s/s$//' <<<"$1" | bc -l)")
	nginx_prefix=(${pin_server[@]+"${pin_server[@]}"})
	nginx_start "listen 127.0.0.1:$port;
        location / { echo_sleep $secs; echo \"hello!\"; }" "" \
		"load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;" >"$work/serve.log" 2>&1
	server_pid=$nginx_pid
}

inputs() { # inputs N: urls-N.txt for gather and aiohttp, urls-N.cfg for curl
	[ -e "$work/urls-$1.txt" ] && return
	awk -v n="$1" -v u="$base/?i=" 'BEGIN { for (i = 1; i <= n; i++) print u i }' >"$work/urls-$1.txt"
	awk '{ print "url = \"" $0 "\"\noutput = \"/dev/null\"" }' "$work/urls-$1.txt" >"$work/urls-$1.cfg"
}

# run TOOL N: runs TOOL on N URLs with its records to out.jsonl, under
# /usr/bin/time; sets secs, rss (KiB), cpu (s), records and good (records
# of a 200).
run() {
	local tool=$1 n=$2
	local cmd
	case $tool in
	gather) cmd=("$gather" fetch --quiet -c "$C" -i "$work/urls-$n.txt") ;;
	gather-cgo) cmd=("$work/gather-cgo" fetch --quiet -c "$C" -i "$work/urls-$n.txt") ;;
	curl) cmd=(curl -s -Z --parallel-max "$C" -K "$work/urls-$n.cfg" -w '%{json}\n') ;;
	aiohttp) cmd=("$PY" bench/fetch_aiohttp.py -c "$C" --input "$work/urls-$n.txt") ;;
	esac
	timed "${pin_client[@]}" "${cmd[@]}" >"$work/out.jsonl" 2>"$work/err" || true
	secs=$wall rss=$rss_kib
	cpu=$(echo "$user + $sys" | bc -l)
	records=$(wc -l <"$work/out.jsonl")
	good=$(grep -c -E '"(status|http_code)": ?200' "$work/out.jsonl" || true)
	if [ "$records" -ne "$n" ] || [ "$good" -ne "$n" ]; then
		echo "  !! $tool: $records records, $good with status 200, for $n URLs" >&2
		tail -3 "$work/err" >&2
	fi
}

# server_cpu: the CPU seconds the server (and its worker processes) has
# used so far.
server_cpu() {
	local t=0 p
	for p in $server_pid $(pgrep -P "$server_pid" || true); do
		t=$(echo "$t + $(awk '{ print ($14 + $15) / 100 }' "/proc/$p/stat" 2>/dev/null || echo 0)" | bc -l)
	done
	echo "$t"
}

read -r -a tools <<<"$TOOLS"
for tool in "${tools[@]}"; do
	case $tool in
	gather | curl | aiohttp) ;;
	*)
		echo "fetch.sh: TOOLS takes gather, curl and aiohttp, not $tool" >&2
		exit 2
		;;
	esac
done
if [ "${tools[0]:-}" != gather ]; then
	echo "fetch.sh: TOOLS must start with gather, whose ratios the script gives, got \"$TOOLS\"" >&2
	exit 2
fi
has() { [[ " ${tools[*]} " == *" $1 "* ]]; }
summary=()
for delay in $DELAYS; do
	delay_s=$(sed 's/ms$/ \/ 1000/; s/s$//' <<<"$delay" | bc -l)
	servers=(serve)
	pinned=no
	if [ "$(echo "$delay_s > 0" | bc)" = 1 ]; then
		read -r -a servers <<<"$SERVERS"
		pinned=yes
	fi
	for srv in "${servers[@]}"; do
		pin "$pinned"
		start_server "$srv" "$delay"
		case $srv in
		nginx) what="nginx echo_sleep $(printf %g "$delay_s")" ;;
		serve-runtime) what="gather serve --delay $delay --timer runtime" ;;
		serve-nethttp) what="gather serve --delay $delay" ;;
		serve)
			what="gather serve --delay $delay"
			if [ "$pinned" = yes ]; then what+=" --lean"; fi
			;;
		*)
			echo "fetch.sh: SERVERS takes serve, serve-nethttp, serve-runtime and nginx, not $srv" >&2
			exit 2
			;;
		esac
		if [ ${#pin_server[@]} -gt 0 ]; then what+=" (server on core $((cores - 1)), clients on the others)"; fi
		served=
		machine=
		if [ "$(echo "$delay_s > 0" | bc)" = 1 ]; then
			# What the machine's scheduler gives a Go program that does
			# nothing but sleep: on runtime timers, what a server on them
			# gives at best; on timerfds, what no client of any server
			# can pass.
			echo
			for timer in runtime timerfd; do
				"${pin_client[@]}" "$work/sleepers" -c "$C" -delay "$delay" -z 3s -timer "$timer" >"$work/sleepers.txt"
				echo "# the machine now, on the clients' cores: $(cat "$work/sleepers.txt")"
				frac=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "of") { print $(i - 1); exit } }' "$work/sleepers.txt")
				machine+="${machine:+, }$frac on $timer timers"
			done
			# What the server gives C connections on this machine now, measured
			# by gather bench's event loops: with a delay, the rate a client
			# can reach is C / (the delay and the server's own lateness).
			"${pin_client[@]}" "$gather" bench -z 5s -c "$C" "$base/" >"$work/bench.txt" 2>&1 || true
			served=$(awk '/^Requests/ { gsub(/[(]/, "", $3); print $3 }' "$work/bench.txt")
			echo
			echo "# $what at -c $C, by gather bench -z 5s: $served req/s, mean $(awk '/^  mean/ { print $2 }' "$work/bench.txt") ms"
		fi
		for n in $SIZES; do
			inputs "$n"
			echo
			echo "## $n URLs, $what, -c $C (load average $(cut -d' ' -f1-3 /proc/loadavg))"
			echo
			echo "| round | tool | s | URLs/s | peak RSS MiB | CPU µs/URL | server CPU µs/URL | records |"
			echo "|---|---|---|---|---|---|---|---|"
			for tool in "${tools[@]}"; do
				s0=$(server_cpu)
				run "$tool" "$n"
				printf '| warm-up | %s | %.3f | %.0f | %.1f | %.1f | %.1f | %d |\n' "$tool" "$secs" "$(echo "$n / $secs" | bc -l)" \
					"$(echo "$rss / 1024" | bc -l)" "$(echo "$cpu * 1000000 / $n" | bc -l)" \
					"$(echo "($(server_cpu) - $s0) * 1000000 / $n" | bc -l)" "$records"
			done
			declare -A rates=() rsss=() cpus=()
			for round in $(seq "$ROUNDS"); do
				for i in "${!tools[@]}"; do
					tool=${tools[$(((i + round - 1) % ${#tools[@]}))]}
					s0=$(server_cpu)
					run "$tool" "$n"
					rate=$(echo "$n / $secs" | bc -l)
					rates[$tool]+="$rate "
					rsss[$tool]+="$(echo "$rss / 1024" | bc -l) "
					cpus[$tool]+="$(echo "$cpu * 1000000 / $n" | bc -l) "
					printf '| %d | %s | %.3f | %.0f | %.1f | %.1f | %.1f | %d |\n' "$round" "$tool" "$secs" "$rate" \
						"$(echo "$rss / 1024" | bc -l)" "$(echo "$cpu * 1000000 / $n" | bc -l)" \
						"$(echo "($(server_cpu) - $s0) * 1000000 / $n" | bc -l)" "$records"
				done
			done
			echo
			declare -A med=()
			for tool in "${tools[@]}"; do
				# shellcheck disable=SC2086
				med[$tool]=$(median ${rates[$tool]})
				# shellcheck disable=SC2086
				printf 'median of %d: %-8s %8.0f URLs/s, %6.1f MiB, %6.1f µs CPU/URL\n' "$ROUNDS" "$tool" "${med[$tool]}" \
					"$(median ${rsss[$tool]})" "$(median ${cpus[$tool]})"
			done
			line=$(printf '%s, %d URLs: gather %.0f URLs/s' "${what%% (*}" "$n" "${med[gather]}")
			if has curl; then line+=$(printf ' = %.2fx curl' "$(echo "${med[gather]} / ${med[curl]}" | bc -l)"); fi
			if has aiohttp; then line+=$(printf ', %.2fx aiohttp' "$(echo "${med[gather]} / ${med[aiohttp]}" | bc -l)"); fi
			# shellcheck disable=SC2086
			line+=$(printf '; peak RSS %.1f MiB' "$(median ${rsss[gather]})")
			# shellcheck disable=SC2086
			if has curl; then line+=$(printf ' = %.2fx curl' "$(echo "$(median ${rsss[gather]}) / $(median ${rsss[curl]})" | bc -l)"); fi
			if [ "$(echo "$delay_s > 0" | bc)" = 1 ]; then
				ceiling=$(echo "$C / $delay_s" | bc -l)
				line+=$(printf '; %.3f of the ceiling %d / %s = %.0f URLs/s' "$(echo "${med[gather]} / $ceiling" | bc -l)" "$C" "$delay" "$ceiling")
				if [ -n "$served" ]; then
					line+=$(printf ', %.3f of the %.0f req/s gather bench got from the server' "$(echo "${med[gather]} / $served" | bc -l)" "$served")
				fi
				if [ -n "$machine" ]; then
					line+="; a Go program that only sleeps: $machine"
				fi
				if [ ${#pin_server[@]} -gt 0 ]; then line+=" (pinned)"; fi
			fi
			echo "$line"
			summary+=("$line")
			unset rates rsss cpus med
		done
		stop_server
	done
done
pin no

echo
echo "## Peak RSS of gather fetch against the input's length: --delay 0s, -c $C (load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| lines | build | s | URLs/s | peak RSS MiB |"
echo "|---|---|---|---|---|"
start_server serve 0s
for n in 10000 100000 "$BIG"; do
	inputs "$n"
	builds=(gather)
	if [ "$n" = 10000 ]; then builds=(gather gather-cgo gather gather-cgo gather gather-cgo); fi
	for b in "${builds[@]}"; do
		run "$b" "$n"
		printf '| %d | %s | %.3f | %.0f | %.1f |\n' "$n" "$([ "$b" = gather ] && echo static || echo "default (cgo)")" \
			"$secs" "$(echo "$n / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
	done
	rm -f "$work/urls-$n.cfg"
done
stop_server

echo
echo "## Summary (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${summary[@]}"

#!/usr/bin/env bash
# bench/loadgen.sh compares gather bench with wrk, hey and bombardier.
#
# Part 1: nginx (one worker process, its own config in a temporary
# directory) serves a 13-byte file on 127.0.0.1; each tool runs in turn,
# alternating, ROUNDS times, at CONNS connections for DURATION seconds.
# One table: requests/s, p50 and p99 latency as each tool reports them,
# peak RSS, and the tool's own CPU time (user + system, from /usr/bin/time)
# per request.
#
# Part 2: gather bench -n 10000 -c 10000 against gather serve --delay 1s:
# wall time, requests answered, peak RSS. It raises the open-file limit
# and, for the run, net.core.somaxconn (see part2).
#
# It installs what it needs (Debian's nginx, wrk, hey and time; bombardier
# with go install), needs root for apt-get, and stops every process it
# started, by PID. Run from anywhere in the repository:
#
#   bench/loadgen.sh                      # 3 rounds of 10 s per tool
#   ROUNDS=1 DURATION=3 bench/loadgen.sh  # a quick look
#   PART=2 bench/loadgen.sh               # only the 10000-connection run
#   TOOLS="gather gather-goroutines gather-nethttp wrk" bench/loadgen.sh
#                                         # gather-goroutines: bench --goroutines
#                                         # gather-nethttp: bench --nethttp
#
# Other knobs: CONNS (50), NGINX_PORT and SERVE_PORT (18481, 18482), N10K
# (10000). The machine's other load shows in every column: compare tools
# within a round, and run the rounds when the machine is otherwise idle.
#
# Every run sends traffic to 127.0.0.1 only, and is bounded in time.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
PART=${PART:-all} # 1, 2 or all
TOOLS=${TOOLS:-"gather wrk hey bombardier"}
NGINX_PORT=${NGINX_PORT:-18481}
SERVE_PORT=${SERVE_PORT:-18482}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init loadgen
somaxconn_was= # set while part 2 has raised net.core.somaxconn
bench_on_exit() {
	if [ -n "$somaxconn_was" ]; then
		sysctl -qw net.core.somaxconn="$somaxconn_was" || true
	fi
}

install_tools() {
	need nginx wrk hey /usr/bin/time:time
	go_tool bombardier github.com/codesenberg/bombardier@latest
}

start_nginx() {
	nginx_hello_file
	nginx_start "listen 127.0.0.1:$NGINX_PORT; root $work/www;"
	wait_port "$NGINX_PORT"
	local got
	got=$(curl -s "http://127.0.0.1:$NGINX_PORT/hello.txt" 2>/dev/null || true)
	[ -z "$got" ] || [ "$got" = "Hello, world" ] || { log "nginx serves '$got'"; exit 1; }
}

# run_tool runs one tool against the nginx file and prints one table row:
# tool rps p50_ms p99_ms rss_MiB cpu_us_per_request requests
run_tool() {
	local tool=$1 url="http://127.0.0.1:$NGINX_PORT/hello.txt" out="$work/out.txt"
	case $tool in
	gather | gather-nethttp | gather-goroutines)
		local flags=()
		case $tool in
		gather-nethttp) flags=(--nethttp) ;;
		gather-goroutines) flags=(--goroutines) ;;
		esac
		timed "$work/gather" bench "${flags[@]}" -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		parse_gather "$out"
		;;
	wrk)
		timed wrk -t "$(nproc)" -c "$CONNS" -d "${DURATION}s" --latency "$url" >"$out"
		parse_wrk "$out"
		;;
	hey)
		timed hey -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		parse_hey "$out"
		;;
	bombardier)
		timed bombardier -c "$CONNS" -d "${DURATION}s" -l -p r "$url" >"$out"
		reqs=$(grep -o '2xx - [0-9]*' "$out" | awk '{print $3}')
		rps=$(awk '/Reqs\/sec/ {print $2}' "$out")
		p50=$(ms "$(awk '$1 == "50%" {print $2}' "$out")")
		p99=$(ms "$(awk '$1 == "99%" {print $2}' "$out")")
		;;
	esac
	some_requests "$tool" "$out"
	awk -v t="$tool" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v rss="$rss_kib" -v u="$user" -v s="$sys" -v n="$reqs" \
		'BEGIN { printf "%-18s %10.0f %9.3f %9.3f %9.1f %9.2f %10d\n", t, rps, p50, p99, rss / 1024, (u + s) * 1e6 / n, n }'
}

part1() {
	start_nginx
	log "part 1: $ROUNDS round(s) of $DURATION s per tool at $CONNS connections against nginx (1 worker)"
	local rows="$work/rows.txt" tool
	echo
	echo "Part 1: nginx, 13-byte file, $CONNS connections, $DURATION s per run, $(nproc) CPUs"
	printf '%-18s %10s %9s %9s %9s %9s %10s\n' tool req/s p50_ms p99_ms rss_MiB cpu_us/req requests
	# shellcheck disable=SC2086
	alternate "$rows" run_tool $TOOLS
	if [ "$ROUNDS" -gt 1 ]; then
		echo
		echo "Medians over $ROUNDS rounds"
		printf '%-18s %10s %9s %9s %9s %9s\n' tool req/s p50_ms p99_ms rss_MiB cpu_us/req
		for tool in $TOOLS; do
			medians "$rows" "$tool" %-18s %10.0f %9.3f %9.3f %9.1f %9.2f
		done
	fi
	stop_pid "${pids[0]}"
}

part2() {
	local n=${N10K:-10000}
	log "part 2: gather bench -n $n -c $n against gather serve --delay 1s"
	ulimit -n "$(ulimit -Hn)"
	if [ "$(ulimit -n)" -lt $((n + 100)) ]; then
		log "the open-file limit is $(ulimit -n); $n connections need more"
		return 1
	fi
	# 10,000 connections arrive faster than any server accepts them. With
	# the default accept queue (net.core.somaxconn, 4096 here) the kernel
	# drops the handshakes that overflow it, and their clients retry after
	# TCP's 1 s initial timeout: measured, 3 runs in 12 went over 2 s that
	# way, with TcpExtListenOverflows counting the drops. So the queue is
	# raised for the run (Go's net sizes its listen backlog from this
	# setting) and put back on exit.
	local want=$((n + 1024)) was
	was=$(sysctl -n net.core.somaxconn 2>/dev/null || echo 0)
	if [ "$was" -lt "$want" ]; then
		if sysctl -qw net.core.somaxconn="$want" 2>/dev/null; then
			somaxconn_was=$was
			log "net.core.somaxconn raised from $was to $want for part 2 (restored on exit)"
		else
			log "net.core.somaxconn is $was and cannot be raised: expect handshakes retried after 1 s"
		fi
	fi
	"$work/gather" serve --addr "127.0.0.1:$SERVE_PORT" --delay 1s 2>"$work/serve.log" &
	local serve=$!
	pids+=($serve)
	wait_port "$SERVE_PORT"
	timed "$work/gather" bench -n "$n" -c "$n" -t 30s -o json "http://127.0.0.1:$SERVE_PORT/" >"$work/10k.json"
	local ok errs
	ok=$(awk -F': ' '/^    "200":/ {gsub(/[ ,]/, "", $2); print $2; exit}' "$work/10k.json") # the run's, not its intervals'
	errs=$(awk -F': ' '/^  "errors":/ {gsub(/[ ,]/, "", $2); print $2}' "$work/10k.json")
	stop_pid "$serve" INT
	if [ -n "$somaxconn_was" ]; then
		sysctl -qw net.core.somaxconn="$somaxconn_was" && somaxconn_was=
	fi
	echo
	echo "Part 2: gather bench -n $n -c $n against gather serve --delay 1s"
	printf '%-10s %10s %10s %10s %12s\n' wall_s answered errors rss_MiB cpu_s
	awk -v w="$wall" -v ok="${ok:-0}" -v e="${errs:-?}" -v rss="$rss_kib" -v u="$user" -v s="$sys" \
		'BEGIN { printf "%-10s %10s %10s %10.1f %12.2f\n", w, ok, e, rss / 1024, u + s }'
	grep -E '"p50_ms"|"p99_ms"|"max_ms"' "$work/10k.json" | head -3 | sed 's/^ */  response /'
}

install_tools
build_gather
case $PART in
1) part1 ;;
2) part2 ;;
*) part1; part2 ;;
esac

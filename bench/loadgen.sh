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

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gather-loadgen.XXXXXX)
chmod 755 "$work" # nginx's worker runs as nobody and reads www/ below
pids=()
somaxconn_was= # set while part 2 has raised net.core.somaxconn
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$somaxconn_was" ]; then
		sysctl -qw net.core.somaxconn="$somaxconn_was" || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

log() { echo "loadgen.sh: $*" >&2; }

install_tools() {
	local missing=()
	command -v nginx >/dev/null || missing+=(nginx)
	command -v wrk >/dev/null || missing+=(wrk)
	command -v hey >/dev/null || missing+=(hey)
	[ -x /usr/bin/time ] || missing+=(time)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	export PATH="$PATH:$(go env GOPATH)/bin"
	if ! command -v bombardier >/dev/null; then
		log "installing bombardier"
		(cd /tmp && go install github.com/codesenberg/bombardier@latest)
	fi
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

start_nginx() {
	mkdir -p "$work/www" "$work/nginx"
	printf 'Hello, world\n' >"$work/www/hello.txt" # 13 bytes
	chmod -R a+rX "$work/www"
	cat >"$work/nginx/nginx.conf" <<EOF
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
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $work/www;
    }
}
EOF
	nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
	pids+=($!)
	wait_port "$NGINX_PORT"
	local got
	got=$(curl -s "http://127.0.0.1:$NGINX_PORT/hello.txt" 2>/dev/null || true)
	[ -z "$got" ] || [ "$got" = "Hello, world" ] || { log "nginx serves '$got'"; exit 1; }
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

# run_tool runs one tool against the nginx file and prints one table row:
# tool rps p50_ms p99_ms rss_MiB cpu_us_per_request requests
run_tool() {
	local tool=$1 url="http://127.0.0.1:$NGINX_PORT/hello.txt" out="$work/out.txt" tm="$work/time.txt"
	local rps p50 p99 reqs
	case $tool in
	gather | gather-nethttp | gather-goroutines)
		local flags=()
		case $tool in
		gather-nethttp) flags=(--nethttp) ;;
		gather-goroutines) flags=(--goroutines) ;;
		esac
		/usr/bin/time -f '%e %U %S %M' -o "$tm" "$work/gather" bench "${flags[@]}" -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		reqs=$(awk '/^Requests/ {print $2}' "$out")
		rps=$(awk '/^Requests/ {gsub(/\(/, "", $3); print $3}' "$out")
		p50=$(awk '/^  p50 / {print $2; exit}' "$out")
		p99=$(awk '/^  p99 / {print $2; exit}' "$out")
		;;
	wrk)
		/usr/bin/time -f '%e %U %S %M' -o "$tm" wrk -t "$(nproc)" -c "$CONNS" -d "${DURATION}s" --latency "$url" >"$out"
		reqs=$(awk '/requests in/ {print $1}' "$out")
		rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
		p50=$(ms "$(awk '$1 == "50%" {print $2}' "$out")")
		p99=$(ms "$(awk '$1 == "99%" {print $2}' "$out")")
		;;
	hey)
		/usr/bin/time -f '%e %U %S %M' -o "$tm" hey -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		reqs=$(awk '/\[200\]/ {print $2}' "$out")
		rps=$(awk '/Requests\/sec:/ {print $2}' "$out")
		p50=$(awk '/50% in/ {printf "%.3f", $3 * 1000}' "$out")
		p99=$(awk '/99% in/ {printf "%.3f", $3 * 1000}' "$out")
		;;
	bombardier)
		/usr/bin/time -f '%e %U %S %M' -o "$tm" bombardier -c "$CONNS" -d "${DURATION}s" -l -p r "$url" >"$out"
		reqs=$(grep -o '2xx - [0-9]*' "$out" | awk '{print $3}')
		rps=$(awk '/Reqs\/sec/ {print $2}' "$out")
		p50=$(ms "$(awk '$1 == "50%" {print $2}' "$out")")
		p99=$(ms "$(awk '$1 == "99%" {print $2}' "$out")")
		;;
	esac
	read -r _ user sys rss <"$tm"
	if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
		log "$tool did no request:"
		cat "$out" >&2
		return 1
	fi
	awk -v t="$tool" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v rss="$rss" -v u="$user" -v s="$sys" -v n="$reqs" \
		'BEGIN { printf "%-18s %10.0f %9.3f %9.3f %9.1f %9.2f %10d\n", t, rps, p50, p99, rss / 1024, (u + s) * 1e6 / n, n }'
}

part1() {
	start_nginx
	log "part 1: $ROUNDS round(s) of $DURATION s per tool at $CONNS connections against nginx (1 worker)"
	local rows="$work/rows.txt"
	: >"$rows"
	echo
	echo "Part 1: nginx, 13-byte file, $CONNS connections, $DURATION s per run, $(nproc) CPUs"
	printf '%-18s %10s %9s %9s %9s %9s %10s\n' tool req/s p50_ms p99_ms rss_MiB cpu_us/req requests
	for round in $(seq "$ROUNDS"); do
		for tool in $TOOLS; do
			run_tool "$tool" | tee -a "$rows"
			sleep 1 # let TIME_WAIT and the server settle between tools
		done
		[ "$round" = "$ROUNDS" ] || echo
	done
	if [ "$ROUNDS" -gt 1 ]; then
		echo
		echo "Medians over $ROUNDS rounds"
		printf '%-18s %10s %9s %9s %9s %9s\n' tool req/s p50_ms p99_ms rss_MiB cpu_us/req
		for tool in $TOOLS; do
			awk -v t="$tool" '$1 == t' "$rows" | sort -k2 -n | awk -v t="$tool" -v r="$ROUNDS" '
				{ rps[NR] = $2; p50[NR] = $3; p99[NR] = $4; rss[NR] = $5; cpu[NR] = $6 }
				END { m = int((NR + 1) / 2)
					# each column sorted on its own for its median
					printf "%-18s %10.0f %9.3f %9.3f %9.1f %9.2f\n", t, med(rps), med(p50), med(p99), med(rss), med(cpu) }
				function med(a,   i, j, n, x, tmp) { n = 0; for (i in a) tmp[++n] = a[i]
					for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (tmp[j] < tmp[i]) { x = tmp[i]; tmp[i] = tmp[j]; tmp[j] = x }
					return n % 2 ? tmp[(n + 1) / 2] : (tmp[n / 2] + tmp[n / 2 + 1]) / 2 }'
		done
	fi
	kill "${pids[0]}" && wait "${pids[0]}" 2>/dev/null || true
	pids=()
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
	/usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$work/gather" bench -n "$n" -c "$n" -t 30s -o json "http://127.0.0.1:$SERVE_PORT/" >"$work/10k.json"
	read -r wall user sys rss <"$work/time.txt"
	local ok errs
	ok=$(awk -F': ' '/"200":/ {gsub(/[ ,]/, "", $2); print $2}' "$work/10k.json")
	errs=$(awk -F': ' '/^  "errors":/ {gsub(/[ ,]/, "", $2); print $2}' "$work/10k.json")
	kill -INT "$serve"
	wait "$serve" 2>/dev/null || true
	pids=()
	if [ -n "$somaxconn_was" ]; then
		sysctl -qw net.core.somaxconn="$somaxconn_was" && somaxconn_was=
	fi
	echo
	echo "Part 2: gather bench -n $n -c $n against gather serve --delay 1s"
	printf '%-10s %10s %10s %10s %12s\n' wall_s answered errors rss_MiB cpu_s
	awk -v w="$wall" -v ok="${ok:-0}" -v e="${errs:-?}" -v rss="$rss" -v u="$user" -v s="$sys" \
		'BEGIN { printf "%-10s %10s %10s %10.1f %12.2f\n", w, ok, e, rss / 1024, u + s }'
	grep -E '"p50_ms"|"p99_ms"|"max_ms"' "$work/10k.json" | head -3 | sed 's/^ */  response /'
}

install_tools
log "building gather"
(cd "$repo" && go build -o "$work/gather" ./cmd/gather)
case $PART in
1) part1 ;;
2) part2 ;;
*) part1; part2 ;;
esac

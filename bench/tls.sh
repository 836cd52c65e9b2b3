#!/usr/bin/env bash
# bench/tls.sh compares gather bench over HTTPS, HTTP/2 and without
# keep-alive with wrk, h2load, ab and hey.
#
# nginx (one worker process, its own config and a self-signed P-256
# certificate made here, in a temporary directory) answers `return 200`
# with 13 bytes on 127.0.0.1, over TLS (HTTP/1.1 and HTTP/2 by ALPN) and
# over plain HTTP. Each section runs its tools in turn, alternating,
# ROUNDS times, at CONNS connections for DURATION seconds:
#
#   https   gather vs wrk, HTTPS HTTP/1.1, keep-alive
#   h2      gather --http2 --streams 1 and 10 vs h2load -m 1 and -m 10
#   churn   gather --no-keepalive vs ab (no -k) and hey -disable-keepalive,
#           over HTTPS and over plain HTTP
#
# One table per section: requests/s, p50 and p99 latency as each tool
# reports them (h2load reports no percentiles: "-"), peak RSS, and the
# tool's own CPU time (user + system, from /usr/bin/time) per request;
# then the medians over the rounds, each column's median on its own.
#
# It installs what it needs (Debian's nginx, wrk, nghttp2-client,
# apache2-utils, hey, openssl, curl and time; apt-get under flock
# /work/notes/apt.lock when that exists), needs root for apt-get, picks
# free ports, and stops every process it started, by PID. Run it from
# anywhere in the repository:
#
#   bench/tls.sh                              # every section, 3 rounds of 10 s
#   SECTIONS=https ROUNDS=1 DURATION=3 bench/tls.sh
#   TOOLS_https="gather gather-goroutines wrk" bench/tls.sh
#
# Every run sends traffic to 127.0.0.1 only, and is bounded in time.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
SECTIONS=${SECTIONS:-"https h2 churn"}
TOOLS_https=${TOOLS_https:-"gather wrk"}
TOOLS_h2=${TOOLS_h2:-"gather-h2-m1 h2load-m1 gather-h2-m10 h2load-m10"}
TOOLS_churn=${TOOLS_churn:-"gather-nokeep ab hey-nokeep gather-nokeep-http ab-http hey-nokeep-http"}

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gather-tls.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

log() { echo "tls.sh: $*" >&2; }

install_tools() {
	local missing=()
	command -v nginx >/dev/null || missing+=(nginx)
	command -v wrk >/dev/null || missing+=(wrk)
	command -v h2load >/dev/null || missing+=(nghttp2-client)
	command -v ab >/dev/null || missing+=(apache2-utils)
	command -v hey >/dev/null || missing+=(hey)
	command -v openssl >/dev/null || missing+=(openssl)
	command -v curl >/dev/null || missing+=(curl)
	[ -x /usr/bin/time ] || missing+=(time)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		local lock=()
		[ -e /work/notes/apt.lock ] && lock=(flock /work/notes/apt.lock)
		"${lock[@]}" apt-get update -qq
		DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# free_port prints a TCP port nothing listens on (the kernel's pick).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
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
	TLS_PORT=$(free_port)
	PLAIN_PORT=$(free_port)
	mkdir -p "$work/nginx"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" 2>/dev/null
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
    # of a benchmark would; the defaults (1000) would add reconnects.
    keepalive_requests 100000000;
    ssl_certificate $work/nginx/cert.pem;
    ssl_certificate_key $work/nginx/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:10m;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$TLS_PORT ssl http2;
        listen 127.0.0.1:$PLAIN_PORT;
        location / { return 200 "Hello, world\n"; }
    }
}
EOF
	nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
	pids+=($!)
	wait_port "$TLS_PORT"
	wait_port "$PLAIN_PORT"
	local got
	got=$(curl -sk "https://127.0.0.1:$TLS_PORT/" || true)
	[ "$got" = "Hello, world" ] || { log "nginx serves '$got' over TLS"; exit 1; }
	log "nginx $(nginx -v 2>&1 | sed 's/.*\///'): https on $TLS_PORT, http on $PLAIN_PORT"
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

# run_tool runs one tool and prints one table row:
# tool rps p50_ms p99_ms rss_MiB cpu_us_per_request requests
run_tool() {
	local tool=$1 out="$work/out.txt" tm="$work/time.txt"
	local https="https://127.0.0.1:$TLS_PORT/" http="http://127.0.0.1:$PLAIN_PORT/"
	local rps p50 p99 reqs
	local timed=(/usr/bin/time -f '%e %U %S %M' -o "$tm")
	case $tool in
	gather*)
		local flags=() url=$https
		case $tool in
		gather-goroutines) flags=(--goroutines) ;;
		gather-nethttp) flags=(--nethttp) ;;
		gather-h2-m1) flags=(--http2 --streams 1) ;;
		gather-h2-m10) flags=(--http2 --streams 10) ;;
		gather-nokeep) flags=(--no-keepalive) ;;
		gather-nokeep-http) flags=(--no-keepalive) url=$http ;;
		esac
		[[ $url == https://* ]] && flags+=(--insecure) # an error with http://
		"${timed[@]}" "$work/gather" bench "${flags[@]}" -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		reqs=$(awk '/^Requests/ {print $2}' "$out")
		rps=$(awk '/^Requests/ {gsub(/\(/, "", $3); print $3}' "$out")
		p50=$(awk '/^  p50 / {print $2; exit}' "$out")
		p99=$(awk '/^  p99 / {print $2; exit}' "$out")
		;;
	wrk)
		"${timed[@]}" wrk -t "$(nproc)" -c "$CONNS" -d "${DURATION}s" --latency "$https" >"$out"
		reqs=$(awk '/requests in/ {print $1}' "$out")
		rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
		p50=$(ms "$(awk '$1 == "50%" {print $2}' "$out")")
		p99=$(ms "$(awk '$1 == "99%" {print $2}' "$out")")
		;;
	h2load-m1 | h2load-m10)
		"${timed[@]}" h2load -t "$(nproc)" -c "$CONNS" -m "${tool#h2load-m}" -D "$DURATION" "$https" >"$out"
		reqs=$(awk '/^requests:/ {print $8}' "$out")
		rps=$(awk '/^finished in/ {print $4}' "$out")
		p50=- p99=-
		;;
	ab | ab-http)
		local url=$https
		[ "$tool" = ab-http ] && url=$http
		"${timed[@]}" ab -q -c "$CONNS" -t "$DURATION" -n 100000000 "$url" >"$out" 2>&1
		reqs=$(awk '/^Complete requests:/ {print $3}' "$out")
		rps=$(awk '/^Requests per second:/ {print $4}' "$out")
		p50=$(awk '$1 == "50%" {printf "%.3f", $2}' "$out")
		p99=$(awk '$1 == "99%" {printf "%.3f", $2}' "$out")
		;;
	hey-nokeep | hey-nokeep-http)
		local url=$https
		[ "$tool" = hey-nokeep-http ] && url=$http
		"${timed[@]}" hey -disable-keepalive -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		reqs=$(awk '/\[200\]/ {print $2}' "$out")
		rps=$(awk '/Requests\/sec:/ {print $2}' "$out")
		p50=$(awk '/50% in/ {printf "%.3f", $3 * 1000}' "$out")
		p99=$(awk '/99% in/ {printf "%.3f", $3 * 1000}' "$out")
		;;
	*)
		log "unknown tool $tool"
		return 1
		;;
	esac
	read -r _ user sys rss <"$tm"
	if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
		log "$tool did no request:"
		cat "$out" >&2
		return 1
	fi
	[ -z "${KEEP_OUTPUT:-}" ] || cp "$out" "$work/../gather-tls-$tool.out"
	awk -v t="$tool" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v rss="$rss" -v u="$user" -v s="$sys" -v n="$reqs" \
		'BEGIN { printf "%-20s %10.0f %9s %9s %9.1f %10.2f %10d\n", t, rps, p50, p99, rss / 1024, (u + s) * 1e6 / n, n }'
}

header() {
	printf '%-20s %10s %9s %9s %9s %10s %10s\n' tool req/s p50_ms p99_ms rss_MiB cpu_us/req requests
}

# section runs the tools of one section, alternating, and prints its table.
section() {
	local name=$1 tools=$2 rows="$work/rows-$1.txt"
	: >"$rows"
	echo
	echo "Section $name: nginx (1 worker), 13 bytes, $CONNS connections, $DURATION s per run, $(nproc) CPUs"
	header
	for round in $(seq "$ROUNDS"); do
		for tool in $tools; do
			run_tool "$tool" | tee -a "$rows"
			sleep 1 # let TIME_WAIT and the server settle between tools
		done
		[ "$round" = "$ROUNDS" ] || echo
	done
	[ "$ROUNDS" -gt 1 ] || return 0
	echo
	echo "Medians over $ROUNDS rounds"
	header
	for tool in $tools; do
		awk -v t="$tool" '$1 == t' "$rows" | awk -v t="$tool" '
			{ rps[NR] = $2; p50[NR] = $3; p99[NR] = $4; rss[NR] = $5; cpu[NR] = $6; n[NR] = $7 }
			END { printf "%-20s %10.0f %9s %9s %9.1f %10.2f %10.0f\n", t, med(rps), medf(p50), medf(p99), med(rss), med(cpu), med(n) }
			function medf(a) { return a[1] == "-" ? "-" : sprintf("%.3f", med(a)) }
			function med(a,   i, j, k, x, tmp) { k = 0; for (i in a) tmp[++k] = a[i] + 0
				for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (tmp[j] < tmp[i]) { x = tmp[i]; tmp[i] = tmp[j]; tmp[j] = x }
				return k % 2 ? tmp[(k + 1) / 2] : (tmp[k / 2] + tmp[k / 2 + 1]) / 2 }'
	done
}

install_tools
log "building gather"
(cd "$repo" && go build -o "$work/gather" ./cmd/gather)
start_nginx
for s in $SECTIONS; do
	case $s in
	https) section https "$TOOLS_https" ;;
	h2) section h2 "$TOOLS_h2" ;;
	churn) section churn "$TOOLS_churn" ;;
	*) log "unknown section $s (want https, h2, churn)"; exit 2 ;;
	esac
done

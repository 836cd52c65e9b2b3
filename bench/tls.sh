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

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init tls

install_tools() {
	need nginx wrk h2load:nghttp2-client ab:apache2-utils hey openssl curl /usr/bin/time:time
}

start_nginx() {
	TLS_PORT=$(free_port)
	PLAIN_PORT=$(free_port)
	mkdir -p "$work/nginx"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" 2>/dev/null
	nginx_start "listen 127.0.0.1:$TLS_PORT ssl http2;
        listen 127.0.0.1:$PLAIN_PORT;
        location / { return 200 \"Hello, world\\n\"; }" "ssl_certificate $work/nginx/cert.pem;
    ssl_certificate_key $work/nginx/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:10m;"
	wait_port "$TLS_PORT"
	wait_port "$PLAIN_PORT"
	local got
	got=$(curl -sk "https://127.0.0.1:$TLS_PORT/" || true)
	[ "$got" = "Hello, world" ] || { log "nginx serves '$got' over TLS"; exit 1; }
	log "nginx $(nginx -v 2>&1 | sed 's/.*\///'): https on $TLS_PORT, http on $PLAIN_PORT"
}

# run_tool runs one tool and prints one table row:
# tool rps p50_ms p99_ms rss_MiB cpu_us_per_request requests
run_tool() {
	local tool=$1 out="$work/out.txt"
	local https="https://127.0.0.1:$TLS_PORT/" http="http://127.0.0.1:$PLAIN_PORT/"
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
		timed "$work/gather" bench "${flags[@]}" -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		parse_gather "$out"
		;;
	wrk)
		timed wrk -t "$(nproc)" -c "$CONNS" -d "${DURATION}s" --latency "$https" >"$out"
		parse_wrk "$out"
		;;
	h2load-m1 | h2load-m10)
		timed h2load -t "$(nproc)" -c "$CONNS" -m "${tool#h2load-m}" -D "$DURATION" "$https" >"$out"
		reqs=$(awk '/^requests:/ {print $8}' "$out")
		rps=$(awk '/^finished in/ {print $4}' "$out")
		p50=- p99=-
		;;
	ab | ab-http)
		local url=$https
		[ "$tool" = ab-http ] && url=$http
		timed ab -q -c "$CONNS" -t "$DURATION" -n 100000000 "$url" >"$out" 2>&1
		reqs=$(awk '/^Complete requests:/ {print $3}' "$out")
		rps=$(awk '/^Requests per second:/ {print $4}' "$out")
		p50=$(awk '$1 == "50%" {printf "%.3f", $2}' "$out")
		p99=$(awk '$1 == "99%" {printf "%.3f", $2}' "$out")
		;;
	hey-nokeep | hey-nokeep-http)
		local url=$https
		[ "$tool" = hey-nokeep-http ] && url=$http
		timed hey -disable-keepalive -z "${DURATION}s" -c "$CONNS" "$url" >"$out"
		parse_hey "$out"
		;;
	*)
		log "unknown tool $tool"
		return 1
		;;
	esac
	some_requests "$tool" "$out"
	[ -z "${KEEP_OUTPUT:-}" ] || cp "$out" "$work/../gather-tls-$tool.out"
	awk -v t="$tool" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v rss="$rss_kib" -v u="$user" -v s="$sys" -v n="$reqs" \
		'BEGIN { printf "%-20s %10.0f %9s %9s %9.1f %10.2f %10d\n", t, rps, p50, p99, rss / 1024, (u + s) * 1e6 / n, n }'
}

header() {
	printf '%-20s %10s %9s %9s %9s %10s %10s\n' tool req/s p50_ms p99_ms rss_MiB cpu_us/req requests
}

# section runs the tools of one section, alternating, and prints its table.
section() {
	local name=$1 tools=$2 rows="$work/rows-$1.txt" tool
	echo
	echo "Section $name: nginx (1 worker), 13 bytes, $CONNS connections, $DURATION s per run, $(nproc) CPUs"
	header
	# shellcheck disable=SC2086
	alternate "$rows" run_tool $tools
	[ "$ROUNDS" -gt 1 ] || return 0
	echo
	echo "Medians over $ROUNDS rounds"
	header
	for tool in $tools; do
		medians "$rows" "$tool" %-20s %10.0f %9.3f %9.3f %9.1f %10.2f %10.0f
	done
}

install_tools
build_gather
start_nginx
for s in $SECTIONS; do
	case $s in
	https) section https "$TOOLS_https" ;;
	h2) section h2 "$TOOLS_h2" ;;
	churn) section churn "$TOOLS_churn" ;;
	*) log "unknown section $s (want https, h2, churn)"; exit 2 ;;
	esac
done

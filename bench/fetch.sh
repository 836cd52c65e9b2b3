#!/usr/bin/env bash
# bench/fetch.sh: gather fetch against a Python aiohttp script doing the same
# job, in the same run, on this machine, against "gather serve" on loopback.
#
#   1. 10,000 distinct URLs http://127.0.0.1:PORT/delay/50ms?i=N at
#      concurrency 500: URLs/s and peak RSS of gather fetch -c 500 and of
#      bench/fetch_aiohttp.py -c 500 (Debian's python3-aiohttp), RUNS runs
#      each, alternating, after one warm-up of each.
#   2. Peak RSS of gather fetch at 10,000 and at 1,000,000 input lines, both
#      with /delay/0s (so that 1M lines end in about a minute) at -c 500: it
#      must not grow with the input.
#
# Environment: N (10000), BIG (1000000), C (500), DELAY (50ms), RUNS (5).
# Needs root for apt-get (python3-aiohttp, time, curl, bc) unless they are installed.
# Everything it starts is stopped on exit; it only talks to 127.0.0.1.
set -euo pipefail

N=${N:-10000}
BIG=${BIG:-1000000}
C=${C:-500}
DELAY=${DELAY:-50ms}
RUNS=${RUNS:-5}
PY=/usr/bin/python3 # Debian's, which has python3-aiohttp; python3 on PATH may be another

cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

if ! $PY -c 'import aiohttp' 2>/dev/null || [ ! -x /usr/bin/time ] || ! command -v curl >/dev/null || ! command -v bc >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiohttp time curl bc >/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), Python $($PY -c 'import sys, aiohttp; print(sys.version.split()[0], "aiohttp", aiohttp.__version__)')"
echo "# open files: $(ulimit -n), load average: $(cut -d' ' -f1-3 /proc/loadavg)"

go build -o "$work/gather" ./cmd/gather
gather=$work/gather
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

ready() {
	for _ in $(seq 100); do
		if curl -sf -o /dev/null "$base/delay/0s"; then return 0; fi
		if ! kill -0 "$server_pid" 2>/dev/null; then return 1; fi
		sleep 0.1
	done
	return 1
}

"$gather" serve --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server_pid=$!
ready || { echo "gather serve did not answer on $base" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "# server: gather serve on $base"

urls() { # urls COUNT DELAY
	awk -v n="$1" -v u="$base/delay/$2?i=" 'BEGIN { for (i = 1; i <= n; i++) print u i }'
}
urls "$N" "$DELAY" >"$work/urls-$N.txt"

# measure NAME COUNT CMD...: runs CMD with stdout to a file, prints
# name, seconds, URLs/s, peak RSS and records, checks the record count, and
# leaves the URLs/s in $rate for the caller.
measure() {
	local name=$1 count=$2
	shift 2
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out.jsonl" 2>"$work/err" || true
	# time puts "Command exited with non-zero status N" first when a URL
	# failed (gather fetch exits 1): the figures are on the last line.
	read -r secs rss < <(tail -n 1 "$work/time")
	local records failed
	records=$(wc -l <"$work/out.jsonl")
	failed=$(grep -c '"error"' "$work/out.jsonl" || true)
	rate=$(echo "$count / $secs" | bc -l)
	printf '%-34s %8s s %9.0f URLs/s %8.1f MiB RSS %8d records %6d failed\n' \
		"$name" "$secs" "$rate" "$(echo "$rss / 1024" | bc -l)" "$records" "$failed"
	if [ "$records" -ne "$count" ]; then
		echo "  !! $records records for $count URLs" >&2
		tail -3 "$work/err" >&2
	fi
}

echo
echo "## $N URLs, /delay/$DELAY, concurrency $C"
measure "warm-up: gather fetch -c $C" "$N" "$gather" fetch -q -c "$C" -i "$work/urls-$N.txt"
measure "warm-up: aiohttp -c $C" "$N" $PY bench/fetch_aiohttp.py -c "$C" --input "$work/urls-$N.txt"
gather_rates=()
aiohttp_rates=()
for run in $(seq "$RUNS"); do
	measure "gather fetch -c $C (run $run)" "$N" "$gather" fetch -q -c "$C" -i "$work/urls-$N.txt"
	gather_rates+=("$rate")
	measure "aiohttp -c $C (run $run)" "$N" $PY bench/fetch_aiohttp.py -c "$C" --input "$work/urls-$N.txt"
	aiohttp_rates+=("$rate")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
gm=$(median "${gather_rates[@]}")
am=$(median "${aiohttp_rates[@]}")
printf 'median of %d runs: gather fetch %.0f URLs/s, aiohttp %.0f URLs/s: %.1fx' \
	"$RUNS" "$gm" "$am" "$(echo "$gm / $am" | bc -l)"
# With a delay, no client can beat C requests per delay: say so, since the
# ratio between two clients near that ceiling is capped by it.
delay_s=$(sed 's/ms$/ \/ 1000/; s/s$//' <<<"$DELAY" | bc -l)
if [ "$(echo "$delay_s > 0" | bc)" = 1 ]; then
	printf ' (ceiling %d x 1/%s = %.0f URLs/s)' "$C" "$DELAY" "$(echo "$C / $delay_s" | bc -l)"
fi
echo

echo
echo "## RSS against input size: /delay/0s, concurrency $C"
urls "$N" 0s >"$work/urls0-$N.txt"
urls "$BIG" 0s >"$work/urls0-$BIG.txt"
measure "gather fetch, $N lines" "$N" "$gather" fetch -q -c "$C" -i "$work/urls0-$N.txt"
measure "gather fetch, $BIG lines" "$BIG" "$gather" fetch -q -c "$C" -i "$work/urls0-$BIG.txt"

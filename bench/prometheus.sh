#!/usr/bin/env bash
# bench/prometheus.sh measures what bench --prometheus costs the run.
#
# nginx (one worker, its own config in a temporary directory) serves a
# 13-byte file on 127.0.0.1, and a Prometheus (Debian's, with its
# remote-write receiver and native histograms, a temporary data folder)
# listens on 127.0.0.1. gather bench runs against nginx ROUNDS times in
# each of three ways, alternating within each round: without streaming,
# streaming native histograms, streaming classic buckets, at CONNS
# connections for DURATION seconds with 1 s intervals. One row per run:
# requests/s, the generator's CPU per request as its report gives it
# (user + system over the run), the process's whole CPU per request from
# /usr/bin/time (the last writes after the run included), and what the
# stream sent: bytes per interval and samples per interval. Then medians
# and the ratio of CPU per request to the run without streaming.
#
# It installs what it needs (Debian's nginx, prometheus and time), needs
# root for apt-get, and stops every process it started, by PID. Run from
# anywhere in the repository:
#
#   bench/prometheus.sh                       # 5 rounds of 10 s
#   ROUNDS=1 DURATION=3 bench/prometheus.sh   # a quick look
#
# Other knobs: CONNS (50), NGINX_PORT (18491), PROM_PORT (18492). The
# machine's other load shows in every column: compare within a round.
# Every run sends traffic to 127.0.0.1 only, and is bounded in time.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
NGINX_PORT=${NGINX_PORT:-18491}
PROM_PORT=${PROM_PORT:-18492}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init prometheus

install_tools() {
	need --no-install-recommends nginx prometheus /usr/bin/time:time python3
}

start_nginx() {
	nginx_hello_file
	nginx_start "listen 127.0.0.1:$NGINX_PORT; root $work/www;"
	wait_url "http://127.0.0.1:$NGINX_PORT/hello.txt"
}

start_prometheus() {
	mkdir -p "$work/prom"
	echo "# no scrapes: gather bench writes to it" >"$work/prom/prometheus.yml"
	prometheus --config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom/data" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
		--enable-feature=native-histograms --log.level=warn >"$work/prom/log" 2>&1 &
	pids+=($!)
	wait_url "http://127.0.0.1:$PROM_PORT/-/ready"
}

# run_mode runs gather bench once and prints one table row:
# mode req/s cpu_us/req(report) cpu_us/req(process) bytes/interval samples/interval requests
run_mode() {
	local mode=$1 out="$work/out.json"
	local flags=()
	case $mode in
	native) flags=(--prometheus "http://127.0.0.1:$PROM_PORT/api/v1/write" --prometheus-histograms native) ;;
	classic) flags=(--prometheus "http://127.0.0.1:$PROM_PORT/api/v1/write" --prometheus-histograms classic) ;;
	esac
	timed "$work/gather" bench "${flags[@]}" -z "${DURATION}s" -c "$CONNS" \
		-o json "http://127.0.0.1:$NGINX_PORT/hello.txt" >"$out"
	python3 - "$mode" "$out" "$user" "$sys" <<'PY'
import json, sys
mode, path, user, sys_ = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
r = json.load(open(path))
n = r["requests"]
e = (r.get("exports") or [{}])[0]
iv = e.get("intervals") or 0
bpi = e["bytes"] / iv if iv else 0
spi = e["samples"] / iv if iv else 0
if e.get("dropped_samples"):
    print(f"prometheus.sh: {mode}: {e['dropped_samples']} samples dropped", file=sys.stderr)
print(f"{mode:<8} {r['requests_per_s']:10.0f} {r['generator']['cpu_per_request_us']:11.3f} "
      f"{(user + sys_) * 1e6 / n:11.3f} {bpi:11.0f} {spi:9.1f} {n:10d}")
PY
}

install_tools
build_gather
start_nginx
start_prometheus
rows="$work/rows.txt"
echo
echo "gather bench with and without --prometheus: nginx, 13-byte file, $CONNS connections, $DURATION s per run, 1 s intervals, $(nproc) CPUs"
printf '%-8s %10s %11s %11s %11s %9s %10s\n' mode req/s cpu_us/req proc_us/req B/interval samples requests
alternate "$rows" run_mode none native classic
echo
echo "Medians over $ROUNDS rounds; ratio: CPU per request (report's) against the run without streaming"
python3 - "$rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append([float(x) for x in f[1:]])
med = {m: [statistics.median(c) for c in zip(*v)] for m, v in rows.items()}
print(f"{'mode':<8} {'req/s':>10} {'cpu_us/req':>11} {'proc_us/req':>11} {'B/interval':>11} {'samples':>9} {'ratio':>7}")
base = med["none"][1]
for m in ("none", "native", "classic"):
    v = med[m]
    print(f"{m:<8} {v[0]:10.0f} {v[1]:11.3f} {v[2]:11.3f} {v[3]:11.0f} {v[4]:9.1f} {v[1] / base:7.3f}")
PY

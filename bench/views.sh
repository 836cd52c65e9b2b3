#!/usr/bin/env bash
# bench/views.sh measures what looking at a run costs: the HTML report's
# size and how long Chromium takes to draw it, and the live view's CPU
# against the same run without it.
#
# Part 1 (go test -bench in internal/report/html): the page of a
# 10-minute run (open model, 200 req/s, 1 s intervals: 600 points a
# chart), of 3 such runs compared (an hour apart) and as segments of one
# run (started together, drawn with their merge), and of an hour's run
# (3600 intervals drawn in 1200 points); each page's size, the time to
# make it, and the time from the start of Chromium's navigation to the
# last chart drawn.
#
# Part 2: gather bench against nginx (one worker, a 13-byte file), CONNS
# connections for DURATION s, in a tmux terminal of 120 x 45, with the
# live view and with --no-tui (the one-line progress), alternating, ROUNDS
# times: requests/s and the gather process's CPU time (user + system, from
# /usr/bin/time) per request and per second of run.
#
# Part 3 (go test -bench in internal/live): the view's own cost per
# interval (BenchmarkViewInterval), and the generator's cost per request
# without and with a view drawing every 100 ms, ten times bench's default
# (BenchmarkGenerator, -count COUNT, compared with benchstat).
#
# It installs what it needs (Debian's nginx, tmux, chromium and time;
# benchstat with go install), needs root for apt-get, and stops every
# process it started, by PID (and its own tmux server, by socket). Run
# from anywhere in the repository:
#
#   bench/views.sh                          # 5 rounds of 10 s
#   ROUNDS=2 DURATION=5 COUNT=3 bench/views.sh   # a quick look
#   PART=2 bench/views.sh                   # only the live view against nginx
#
# Other knobs: CONNS (50), NGINX_PORT (18491). Every run sends traffic to
# 127.0.0.1 only, and is bounded in time.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
COUNT=${COUNT:-6}
PART=${PART:-all} # 1, 2, 3 or all
NGINX_PORT=${NGINX_PORT:-18491}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init views
sock="gather-views-$$"
bench_on_exit() {
	tmux -L "$sock" kill-server 2>/dev/null || true
}

install_tools() {
	need --no-install-recommends nginx tmux chromium /usr/bin/time:time
	go_tool benchstat golang.org/x/perf/cmd/benchstat@latest
}

start_nginx() {
	nginx_hello_file
	nginx_start "listen 127.0.0.1:$NGINX_PORT; root $work/www;"
	wait_port "$NGINX_PORT"
}

part1() {
	log "part 1: the report pages (go test -bench, Chromium)"
	(cd "$repo" && go test ./internal/report/html -run '^$' -bench 'PageSize|PageRender' -benchtime 5x) >"$work/pages.txt"
	echo
	echo "Part 1: the HTML report (open model, 200 req/s, 1 s intervals)"
	printf '%-18s %10s %10s %12s\n' page KiB make_ms render_ms
	awk '
		/^BenchmarkPageSize\// { split($1, n, "/"); sub(/-[0-9]+$/, "", n[2]); make[n[2]] = $3 / 1e6; size[n[2]] = $5; order[++k] = n[2] }
		/^BenchmarkPageRender\// { split($1, n, "/"); sub(/-[0-9]+$/, "", n[2]); render[n[2]] = $5 }
		END { for (i = 1; i <= k; i++) { p = order[i]; r = (p in render) ? sprintf("%.0f", render[p]) : "-";
			printf "%-18s %10.1f %10.1f %12s\n", p, size[p] / 1024, make[p], r } }' "$work/pages.txt"
}

# run_bench runs gather bench in the tmux terminal, with the live view
# (tui) or without (notui), and prints one row:
# mode req/s cpu_us_per_request cpu_ms_per_second requests
run_bench() {
	local mode=$1 flags="" url="http://127.0.0.1:$NGINX_PORT/hello.txt"
	[ "$mode" = notui ] && flags=--no-tui
	rm -f "$work/out.json" "$work/time.txt"
	tmux -L "$sock" -f /dev/null new-session -d -x 120 -y 45 \
		"/usr/bin/time -f '%e %U %S' -o $work/time.txt $work/gather bench $flags -z ${DURATION}s -c $CONNS -o json $url >$work/out.json; tmux -L $sock wait-for -S done"
	tmux -L "$sock" wait-for done
	local rps reqs elapsed user sys
	rps=$(awk '/^  "requests_per_s":/ {gsub(/,/, "", $2); print $2}' "$work/out.json")
	reqs=$(awk '/^  "requests":/ {gsub(/,/, "", $2); print $2}' "$work/out.json")
	read -r elapsed user sys <"$work/time.txt"
	if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
		log "gather bench ($mode) did no request"
		return 1
	fi
	awk -v m="$mode" -v rps="$rps" -v n="$reqs" -v e="$elapsed" -v u="$user" -v s="$sys" \
		'BEGIN { printf "%-8s %10.0f %12.2f %12.1f %10d\n", m, rps, (u + s) * 1e6 / n, (u + s) * 1000 / e, n }'
}

part2() {
	start_nginx
	build_gather
	log "part 2: $ROUNDS round(s) of $DURATION s, live view and --no-tui, at $CONNS connections against nginx (1 worker)"
	local rows="$work/rows.txt"
	: >"$rows"
	echo
	echo "Part 2: gather bench against nginx in a 120x45 tmux terminal, $CONNS connections, $DURATION s a run, $(nproc) CPUs"
	printf '%-8s %10s %12s %12s %10s\n' mode req/s cpu_us/req cpu_ms/s requests
	for round in $(seq "$ROUNDS"); do
		# Alternate which goes first, so that neither always gets the
		# quieter moment.
		local order="tui notui"
		[ $((round % 2)) = 0 ] && order="notui tui"
		for mode in $order; do
			run_bench "$mode" | tee -a "$rows"
			sleep 1
		done
	done
	echo
	echo "Medians over $ROUNDS rounds, and live view / --no-tui"
	awk "$awk_median"'
		{ rps[$1] = rps[$1] " " $2; cpu[$1] = cpu[$1] " " $3; cps[$1] = cps[$1] " " $4 }
		END {
			for (m in rps) { R[m] = median(rps[m]); C[m] = median(cpu[m]); S[m] = median(cps[m]) }
			printf "%-8s %10.0f %12.2f %12.1f\n", "tui", R["tui"], C["tui"], S["tui"]
			printf "%-8s %10.0f %12.2f %12.1f\n", "notui", R["notui"], C["notui"], S["notui"]
			printf "%-8s %10.3f %12.3f %12.3f\n", "ratio", R["tui"] / R["notui"], C["tui"] / C["notui"], S["tui"] / S["notui"]
		}' "$rows"
}

part3() {
	log "part 3: the view's cost per interval, the generator with and without a view (-count $COUNT)"
	(cd "$repo" && go test ./internal/live -run '^$' -bench 'ViewInterval' -benchtime 2000x -count 3) >"$work/view.txt"
	(cd "$repo" && go test ./internal/live -run '^$' -bench 'Generator' -benchtime 50000x -count "$COUNT") >"$work/gen.txt"
	echo
	echo "Part 3: the live view in go test -bench ($(nproc) CPUs)"
	awk '/^BenchmarkViewInterval/ { printf "view, per interval drawn: %.0f µs, %s B, %s allocations\n", $3 / 1000, $5, $7 }' "$work/view.txt"
	echo
	sed -e 's|/no-view|/view=off|' -e 's|/view-|/view=on-|' "$work/gen.txt" >"$work/gen2.txt"
	benchstat -col /view "$work/gen2.txt" | sed -n '/^goos/d; /^goarch/d; /^pkg/d; /^cpu/d; p'
}

install_tools
case $PART in
1) part1 ;;
2) part2 ;;
3) part3 ;;
all) part1; part2; part3 ;;
*) log "PART must be 1, 2, 3 or all"; exit 2 ;;
esac

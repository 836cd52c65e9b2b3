#!/usr/bin/env bash
# bench/open.sh measures gather bench's open model (-q) on the event loops
# against nginx, beside vegeta (-rate) and fortio (-qps), and how the loops'
# timers keep the schedule.
#
# Part 1: it first finds the closed-model maximum M (gather, CONNS
# connections, DURATION seconds), then runs the open model at 0.2M, 0.5M
# and 0.9M for DURATION seconds each, gather, vegeta and fortio in turn at
# each rate, ROUNDS rounds. Per run: the rate achieved over the target,
# the late fraction (requests sent over 1 ms after their due time, plus
# those never sent, over those due; only gather counts them, and splits
# them by cause: late waiting for a free connection, late with one free,
# that is the generator's own delay, and never sent), p50 and p99
# as each tool reports them (gather's from the due times, the others' from
# the sends), CPU time per request (user + system, /usr/bin/time), peak
# RSS, and gather's send lag p99. The same CONNS connections for every
# tool: vegeta with -workers and -max-workers CONNS, fortio with -c CONNS.
#
# PIN=0 (the default) shares every CPU between nginx and the load
# generators. PIN=1 pins nginx to the last CPU and every load generator,
# gather, vegeta and fortio alike, to the others (taskset; a Go tool's
# GOMAXPROCS follows its affinity, so on 2 CPUs each gets one CPU and
# gather one event loop); M is found under the same setting as the runs
# it scales. Pinned, on the project's quiet 2 cores, M was 75,452 req/s
# (62,252 shared, same minutes), a closed-model figure at which both
# cores are used up (stop 22: gather 94% of its core, nginx 97%) and
# which neither holds in the open model, where each side sleeps between
# batches and pays more CPU per request (nginx 1.29x, gather 1.24x at
# 0.5M): at 0.9M fortio sent 0.785 of the rate and gather 0.959; and at
# 0.2M gather's CPU per
# request was 1.45x the closed model's (1.29x shared). So the default
# stays shared, as in every run before stop 21.
#
# Part 2: gather alone at the three rates with each of the loops' timers
# (--loop-timer timerfd, deadline, pwait2; timerfd with its default slack,
# the 500 µs within which requests due after the first may go early and
# share its wake-up, with 250 µs and with none; and timerfd waking for
# each answer as it comes, --loop-wake-on-answer, rather than reading the
# answers at the next due time), alternating, ROUNDS rounds: send lag p99,
# late fraction, CPU per request.
#
# Part 3: the memory of an hour's series at 1 s intervals
# (go test -bench SeriesHour: 72 million samples through the real
# recorder, cutter and series, on a fake clock; no hour of load).
#
# k6, which issue 10 names too, is not installed: its licence (AGPL) keeps
# it out of this workplace; fortio (Apache 2.0) takes its place as the
# second open-model peer.
#
# It installs what it needs (Debian's nginx, jq and time under flock
# /work/notes/apt.lock when that exists; vegeta and fortio with go
# install), picks free ports, sends traffic to 127.0.0.1 only, bounds every
# run and stops every process it started, by PID. Run it from anywhere in
# the repository, under the bench lock on a shared machine:
#
#   flock /work/notes/bench.lock bench/open.sh      # 3 rounds of 10 s
#   ROUNDS=1 DURATION=3 PART=1 bench/open.sh        # a quick look
#   TOOLS="gather vegeta" PART=1 bench/open.sh
#
# Other knobs: PIN (0; 1 pins, see above), CONNS (50), NGINX_PORT (default: a free one), MAX (skip the
# closed-model run and use this M).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
# M and CPU_CLOSED are the script's own (find_m): an M from the
# environment would skip the closed-model run and leave CPU_CLOSED unset
# (MAX is the knob for a given M).
unset M CPU_CLOSED
PART=${PART:-all} # 1, 2, 3 or all
TOOLS=${TOOLS:-"gather vegeta fortio"}
VEGETA_VERSION=${VEGETA_VERSION:-v12.13.0}
FORTIO_VERSION=${FORTIO_VERSION:-v1.63.0} # later ones need grol.io/grol, which the module proxy here refuses
cores=$(nproc)
PIN=${PIN:-0}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init open

# pin_client is the load generators' command prefix, nginx_prefix
# nginx's (see PIN): taskset, or empty.
pin_client=()
nginx_prefix=()
setting="every CPU shared by nginx and the load generator (PIN=0)"
if [ "$PIN" = 1 ]; then
	if [ "$cores" -lt 2 ]; then
		echo "open.sh: PIN=1 needs 2 or more CPUs; this machine has $cores" >&2
		exit 2
	fi
	pin_client=(taskset -c "0-$((cores - 2))")
	nginx_prefix=(taskset -c "$((cores - 1))")
	setting="nginx pinned to CPU $((cores - 1)), each load generator to CPU 0-$((cores - 2)) (PIN=1, taskset)"
	[ "$cores" = 2 ] && setting="nginx pinned to CPU 1, each load generator to CPU 0 (PIN=1, taskset)"
fi

install_tools() {
	need nginx jq /usr/bin/time:time
	[ "$PIN" = 1 ] && need taskset:util-linux
	if [[ " $TOOLS " == *" vegeta "* ]]; then
		go_tool vegeta "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
	fi
	if [[ " $TOOLS " == *" fortio "* ]]; then
		go_tool fortio "fortio.org/fortio@$FORTIO_VERSION"
	fi
}

start_nginx() {
	nginx_start "listen 127.0.0.1:$NGINX_PORT;
        location / { return 200 \"Hello, world\\n\"; }"
	wait_port "$NGINX_PORT"
}

# closed_max runs gather's closed model and prints its requests/s and its
# CPU µs per request.
closed_max() {
	timed ${pin_client[@]+"${pin_client[@]}"} "$work/gather" bench -z "${DURATION}s" -c "$CONNS" -o json "$url" >"$work/closed.json"
	jq -r --arg cpu "$cpu_s" '"\(.requests_per_s) \(($cpu | tonumber) * 1e6 / .requests)"' "$work/closed.json"
}

# run_open runs one tool at one rate and prints one row:
# tool target achieved late (and gather's by cause) p50 p99 cpu_us rss lag_p99
run_open() {
	local tool=$1 rate=$2 extra=${3:-} out="$work/out.json"
	local achieved late p50 p99 reqs lag="-" causes="-"
	case $tool in
	gather*)
		# shellcheck disable=SC2086
		timed ${pin_client[@]+"${pin_client[@]}"} "$work/gather" bench -q "$rate" -z "${DURATION}s" -c "$CONNS" $extra -o json "$url" >"$out"
		read -r achieved late p50 p99 reqs lag < <(jq -r '[
			.generator.achieved_rate_per_s,
			((.late + .dropped) / ([.requests + .dropped, 1] | max)),
			.response.p50_ms, .response.p99_ms, .requests,
			.generator.send_lag_p99_ms] | map(tostring) | join(" ")' "$out")
		# The late by cause, over those due: waiting for a connection, the
		# generator's own (a connection was free), never sent.
		causes=$(jq -r '([.requests + .dropped, 1] | max) as $due | [.generator.late_waiting, .generator.late_generator, .dropped]
			| map(. / $due | tostring) | join(" ")' "$out")
		;;
	vegeta)
		echo "GET $url" >"$work/targets.txt"
		timed ${pin_client[@]+"${pin_client[@]}"} vegeta attack -rate="$rate/1s" -duration="${DURATION}s" -workers="$CONNS" -max-workers="$CONNS" \
			-connections="$CONNS" -targets="$work/targets.txt" -output="$work/vegeta.bin"
		vegeta report -type=json "$work/vegeta.bin" >"$out"
		late="-"
		read -r achieved p50 p99 reqs < <(jq -r '[.rate, .latencies["50th"] / 1e6, .latencies["99th"] / 1e6,
			.requests] | map(tostring) | join(" ")' "$out")
		;;
	fortio)
		timed ${pin_client[@]+"${pin_client[@]}"} fortio load -quiet -qps "$rate" -c "$CONNS" -t "${DURATION}s" -json "$out" "$url" >/dev/null 2>&1
		late="-"
		read -r achieved p50 p99 reqs < <(jq -r '[.ActualQPS,
			(.DurationHistogram.Percentiles[] | select(.Percentile == 50) | .Value * 1000),
			(.DurationHistogram.Percentiles[] | select(.Percentile == 99) | .Value * 1000),
			.DurationHistogram.Count] | map(tostring) | join(" ")' "$out")
		;;
	esac
	awk -v tool="$tool" -v rate="$rate" -v a="$achieved" -v late="$late" -v causes="$causes" -v p50="$p50" -v p99="$p99" \
		-v cpu="$cpu_s" -v reqs="$reqs" -v rss="$rss_mib" -v lag="$lag" -v frac="${FRAC:-}" -v rows="$work/${ROWS:-rows}.tsv" 'BEGIN {
		l = (late == "-") ? "-" : sprintf("%.2f%%", 100 * late)
		c = "-"
		if (split(causes, f, " ") == 3) c = sprintf("%.2f%% / %.2f%% / %.2f%%", 100 * f[1], 100 * f[2], 100 * f[3])
		lg = (lag == "-") ? "-" : sprintf("%.3f", lag)
		us = cpu * 1e6 / (reqs > 0 ? reqs : 1)
		printf "| %s | %d | %.0f | %.3f | %s | %s | %.3f | %.3f | %.2f | %.1f | %s |\n",
			tool, rate, a, a / rate, l, c, p50, p99, us, rss, lg
		if (frac != "") printf "%s\t%s\t%d\t%.4f\t%s\t%.3f\t%.3f\t%.2f\t%.1f\t%s\n",
			tool, frac, rate, a / rate, late, p50, p99, us, rss, lag >>rows }'
}

# summary prints, for each rate and tool, the median over the rounds of
# what part 1 measured, and gather's ratios to the others (achieved rate,
# CPU per request) and to the closed model (CPU per request): the figures
# issue 10's goals are judged on.
summary() {
	local rows=${1:-rows} against=", and gather against each"
	[ "$rows" = timers ] && against=", for each of the loops' timers"
	echo
	echo "Medians of $ROUNDS rounds (achieved/target, late, p99, CPU per request, peak RSS, send lag p99)$against;"
	echo "$setting:"
	echo
	echo "| rate | tool | achieved/target | late | p99 ms | CPU µs/request | peak RSS MiB | send lag p99 ms | gather's achieved rate ÷ its | its CPU/request ÷ gather's |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	sort -t$'\t' -k2,2 -k1,1 "$work/$rows.tsv" | awk -F'\t' -v closed="$CPU_CLOSED" "$awk_median"'
	{
		k = $2 SUBSEP $1
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		ach[k] = ach[k] " " $4; lat[k] = lat[k] " " $5; p99[k] = p99[k] " " $7
		cpu[k] = cpu[k] " " $8; rss[k] = rss[k] " " $9; lag[k] = lag[k] " " $10
	}
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, f, SUBSEP)
			g = f[1] SUBSEP "gather"
			a = median(ach[k]); c = median(cpu[k])
			l = (lat[k] ~ /-/) ? "-" : sprintf("%.2f%%", 100 * median(lat[k]))
			lg = (lag[k] ~ /-/) ? "-" : sprintf("%.3f", median(lag[k]))
			ra = "-"; rc = "-"
			if (f[2] != "gather" && (g in seen)) {
				ra = sprintf("%.2fx", median(ach[g]) / a); rc = sprintf("%.2fx", c / median(cpu[g]))
			} else if (f[2] == "gather" && closed != "-") {
				rc = sprintf("(%.2fx the closed model)", c / closed)
			}
			printf "| %sM | %s | %.3f | %s | %.3f | %.2f | %.1f | %s | %s | %s |\n", f[1], f[2], a, l, median(p99[k]), c, median(rss[k]), lg, ra, rc
		}
	}'
}

# find_m sets M, the closed-model maximum, and CPU_CLOSED, its CPU µs per
# request, once (or M from MAX).
find_m() {
	[ -n "${CPU_CLOSED:-}" ] && return 0 # found already: CPU_CLOSED is set with M, never alone
	if [ -n "${MAX:-}" ]; then
		M=$MAX
		CPU_CLOSED="-"
		return 0
	fi
	read -r M CPU_CLOSED < <(closed_max)
	M=$(awk -v m="$M" 'BEGIN { printf "%d", m }')
	CPU_CLOSED=$(awk -v c="$CPU_CLOSED" 'BEGIN { printf "%.2f", c }')
}

part1() {
	find_m
	local m=$M cpu_closed=$CPU_CLOSED
	log "closed-model maximum M = $m req/s"
	echo
	echo "Closed model, gather, $CONNS connections, ${DURATION} s: M = $m req/s at $cpu_closed µs CPU per request;"
	echo "$setting"
	echo
	echo "| tool | target/s | achieved/s | achieved/target | late | late: waiting / generator / never sent | p50 ms | p99 ms | CPU µs/request | peak RSS MiB | send lag p99 ms |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for round in $(seq "$ROUNDS"); do
		for frac in 0.2 0.5 0.9; do
			local rate
			rate=$(awk -v m="$m" -v f="$frac" 'BEGIN { printf "%d", m * f }')
			for tool in $TOOLS; do
				log "round $round: $tool at $rate req/s ($frac M)"
				FRAC=$frac run_open "$tool" "$rate"
			done
		done
	done
	summary
}

part2() {
	find_m
	local m=$M
	echo
	echo "The event loops' timers, gather at 0.2M, 0.5M and 0.9M of M = $m req/s; $setting"
	echo
	echo "| timer | target/s | achieved/s | achieved/target | late | late: waiting / generator / never sent | p50 ms | p99 ms | CPU µs/request | peak RSS MiB | send lag p99 ms |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for round in $(seq "$ROUNDS"); do
		for frac in 0.2 0.5 0.9; do
			local rate
			rate=$(awk -v m="$m" -v f="$frac" 'BEGIN { printf "%d", m * f }')
			for timer in timerfd timerfd-wake timerfd-slack0 timerfd-slack250us deadline pwait2; do
				local flags="--loop-timer $timer"
				case $timer in
				timerfd-wake) flags="--loop-timer timerfd --loop-wake-on-answer" ;;
				timerfd-slack*) flags="--loop-timer timerfd --loop-slack ${timer#timerfd-slack}" ;;
				esac
				log "round $round: $timer at $rate req/s"
				FRAC=$frac ROWS=timers run_open "gather-$timer" "$rate" "$flags"
			done
		done
	done
	summary timers
}

part3() {
	echo
	echo "An hour's series at 1 s intervals, 20,000 responses each, through the real cutter and series"
	echo "(go test -bench SeriesHour: 72 million samples recorded on a fake clock, no load sent):"
	(cd "$repo" && go test ./internal/report -run '^$' -bench SeriesHour -benchtime 1x) | awk '/MiB\/hour/ {
		for (i = 2; i < NF; i++) v[$(i + 1)] = $i
		printf "  %s intervals: %s MiB as the series counts its own memory, %s MiB of live heap (the bound: 16 MiB)\n",
			v["intervals"], v["MiB/hour"], v["heap-MiB/hour"] }'
}

install_tools
build_gather
if [ "$PART" = 1 ] || [ "$PART" = 2 ] || [ "$PART" = all ]; then
	NGINX_PORT=${NGINX_PORT:-$(free_port)}
	start_nginx
	url="http://127.0.0.1:$NGINX_PORT/"
fi
echo "bench/open.sh on $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
case $PART in
1) part1 ;;
2) part2 ;;
3) part3 ;;
all)
	part1
	part2
	part3
	;;
esac
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

#!/usr/bin/env bash
# bench/targets.sh measures what targets and templates cost gather bench:
# CPU per request of a mix of three templated targets (round-robin, a data
# file, {{.seq}}, {{uuid}}, {{randInt}}, {{urlquery}}, the time, a JSON
# body) against one fixed request, both against the same nginx answer.
# The goal is a mix at no more than 1.1x the fixed request's cost.
#
# Part 1 (wall clock): the two cases alternate, ROUNDS times, DURATION
# seconds each, CONNS connections, in the closed model (event loops) and
# the open model (-q RATE): requests/s and gather's own CPU time per
# request (user + system during the run, from its report). These move
# with the machine's other load: read the ratio of neighbouring runs.
#
# Part 2 (instructions): each case under valgrind's callgrind, which
# counts instructions whatever else the machine does, at -n N1 and -n N2;
# (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of one more request, start-up
# and the parsing of the targets left out. A third case, light, sends the
# same three targets with one template action or none each. Callgrind
# counts gather's own instructions only, not the kernel's work for the
# sockets, which is most of a request's CPU time: part 1's ratio is the
# one the goal is about.
#
# It installs what it needs (Debian's nginx, valgrind and time), needs
# root for apt-get (under flock /work/notes/apt.lock when that exists),
# picks free ports, sends traffic to 127.0.0.1 only, bounds every run, and
# stops every process it started, by PID. Run it from anywhere:
#
#   bench/targets.sh                         # 3 rounds of 5 s, and callgrind
#   ROUNDS=1 DURATION=2 PART=1 bench/targets.sh
#   PART=2 N1=5000 N2=25000 bench/targets.sh
#
# Other knobs: CONNS (50), RATE (20000, the open model's), NGINX_PORT
# (default: a free one).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
RATE=${RATE:-20000}
PART=${PART:-all} # 1, 2 or all
N1=${N1:-5000}
N2=${N2:-25000}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init targets

install_tools() {
	need nginx valgrind /usr/bin/time:time
}

# start_nginx: every request gets the same 13-byte answer, so that the two
# cases differ only in what gather sends.
start_nginx() {
	nginx_start "listen 127.0.0.1:$NGINX_PORT;
        location / { return 200 \"Hello, world\\n\"; }"
	wait_port "$NGINX_PORT"
}

# write_targets writes the mix: three targets, a data file of 1,000 users
# and a templated JSON body.
write_targets() {
	local base="http://127.0.0.1:$NGINX_PORT"
	{
		echo "user,pass"
		for i in $(seq 1000); do echo "user $i,secret-$i"; done
	} >"$work/users.csv"
	printf '{"user": "{{.user}}", "password": "{{.pass}}", "nonce": {{randInt 1 1000000}}}' >"$work/login.json"
	cat >"$work/targets.txt" <<EOF
# name: user
GET $base/users/{{.seq}}?fields=name,email
Accept: application/json
X-Request-Id: {{uuid}}

# name: login
POST $base/login
Content-Type: application/json
@$work/login.json

# name: search
GET $base/search?q={{urlquery .user}}&page={{randInt 1 50}}&t={{.unix_ms}}
Accept: application/json
EOF
	# light: the same three targets with one action or none each, to show
	# that the cost is the actions', not the targets'.
	cat >"$work/light.txt" <<EOF
GET $base/users/{{.seq}}?fields=name,email
Accept: application/json

POST $base/login
Content-Type: application/json
@$work/login.json

GET $base/search?q=user&page={{randInt 1 50}}
Accept: application/json
EOF
	fixed=("$base/users/1?fields=name,email" -H "Accept: application/json")
	mix=(--targets "$work/targets.txt" --data "$work/users.csv" --body-templates)
	light=(--targets "$work/light.txt")
}

# case_args sets args to the flags of case $1.
case_args() {
	case $1 in
	fixed) args=("${fixed[@]}") ;;
	mix) args=("${mix[@]}") ;;
	light) args=("${light[@]}") ;;
	esac
}

# run_case runs one case and prints a row: case model req/s cpu_us/req requests
run_case() {
	local name=$1 model=$2 out="$work/out.txt"
	local args=()
	case_args "$name"
	local rate=()
	[ "$model" = open ] && rate=(-q "$RATE")
	"$work/gather" bench -z "${DURATION}s" -c "$CONNS" "${rate[@]}" "${args[@]}" >"$out"
	local reqs rps cpu errs
	reqs=$(awk '/^Requests/ {print $2}' "$out")
	rps=$(awk '/^Requests/ {gsub(/\(/, "", $3); print $3}' "$out")
	cpu=$(awk '/^  CPU / {print $4}' "$out")
	errs=$(awk '/^Errors/ {print $2}' "$out")
	if [ -z "$reqs" ] || [ "$reqs" = 0 ] || [ "$errs" != 0 ]; then
		log "$name ($model): $reqs requests, $errs errors:"
		cat "$out" >&2
		return 1
	fi
	printf '%-6s %-7s %10.0f %11.2f %10d\n' "$name" "$model" "$rps" "$cpu" "$reqs"
}

part1() {
	local rows="$work/rows.txt"
	: >"$rows"
	echo
	echo "Part 1: nginx (1 worker, 13-byte answer), $CONNS connections, $DURATION s per run, $(nproc) CPUs, cases alternating"
	printf '%-6s %-7s %10s %11s %10s\n' case model req/s cpu_us/req requests
	for round in $(seq "$ROUNDS"); do
		for model in closed open; do
			for name in fixed mix; do
				run_case "$name" "$model" | tee -a "$rows"
				sleep 1
			done
		done
	done
	echo
	echo "Medians over $ROUNDS rounds, and the mix's CPU per request over the fixed request's (goal: at most 1.1x)"
	printf '%-7s %14s %14s %10s\n' model fixed_us/req mix_us/req ratio
	for model in closed open; do
		local f m
		# shellcheck disable=SC2046
		f=$(median $(awk -v m="$model" '$1 == "fixed" && $2 == m {print $4}' "$rows"))
		# shellcheck disable=SC2046
		m=$(median $(awk -v m="$model" '$1 == "mix" && $2 == m {print $4}' "$rows"))
		awk -v model="$model" -v f="$f" -v m="$m" 'BEGIN { printf "%-7s %14.2f %14.2f %9.2fx\n", model, f, m, m / f }'
	done
}

# instructions prints the instructions callgrind counted for one run.
instructions() {
	local name=$1 n=$2 args=()
	case_args "$name"
	# Go preempts goroutines with signals, which callgrind cannot follow.
	# One interval of the series for the whole run: closing intervals
	# costs time, not requests, and a run under callgrind is slow.
	GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
		"$work/gather" bench -n "$n" -c "$CONNS" --interval 1h "${args[@]}" >"$work/cg.txt" 2>"$work/cg.log"
	local got
	got=$(awk '/^Requests/ {print $2}' "$work/cg.txt")
	if [ "$got" != "$n" ] || ! grep -q '^Errors         0 ' "$work/cg.txt"; then
		log "$name under callgrind: $got of $n requests"
		cat "$work/cg.txt" "$work/cg.log" >&2
		return 1
	fi
	awk '/refs:/ {gsub(/,/, "", $NF); print $NF}' "$work/cg.log"
}

part2() {
	echo
	echo "Part 2: instructions per request (callgrind), closed model, $CONNS connections: (Ir at -n $N2 - Ir at -n $N1) / $((N2 - N1))"
	printf '%-6s %14s %14s %12s\n' case Ir_n1 Ir_n2 Ir/request
	local per=()
	for name in fixed mix light; do
		local a b
		a=$(instructions "$name" "$N1")
		b=$(instructions "$name" "$N2")
		per+=("$(awk -v a="$a" -v b="$b" -v n=$((N2 - N1)) 'BEGIN { printf "%.0f", (b - a) / n }')")
		printf '%-6s %14d %14d %12d\n' "$name" "$a" "$b" "${per[-1]}"
	done
	awk -v f="${per[0]}" -v m="${per[1]}" -v l="${per[2]}" 'BEGIN {
		printf "mix / fixed: %.3fx, light / fixed: %.3fx\n", m / f, l / f
		print "(instructions of gather itself: the kernel work for the sockets, most of"
		print "the CPU time of a request, is not counted here; part 1 counts it)" }'
}

install_tools
NGINX_PORT=${NGINX_PORT:-$(free_port)}
build_gather
start_nginx
write_targets
case $PART in
1) part1 ;;
2) part2 ;;
*) part1; part2 ;;
esac

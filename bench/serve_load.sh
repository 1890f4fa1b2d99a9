#!/usr/bin/env bash
# A small bounded load client for uarda serve: C concurrent clients, each one curl process that
# sends text queries over one kept-alive connection, one request after the other, for S seconds;
# then requests per second, p50 / p90 / p99 latency, errors (any status but 200, or no reply),
# and the server's resident memory before and after (VmRSS and RssAnon of its /proc status).
#
#   bench/serve_load.sh --url http://127.0.0.1:8080 --pid PID --queries FILE
#                       [--clients 4] [--seconds 30] [--k 10] [--attention 0|1] [--json]
#
# The queries are the lines of FILE (e.g. a split's _caps.txt), taken in turn, each client from
# its own offset. The server is warmed first (one pass of 2 requests per client), so that the
# memory compared is that of a running server. Nothing is asserted here; tests/cli/serve_load.sh
# asserts zero errors.
set -euo pipefail
url="" pid="" queries="" clients=4 seconds=30 k=10 attention=0 json=0
while [ $# -gt 0 ]; do
    case "$1" in
    --url) url=$2; shift 2 ;;
    --pid) pid=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --k) k=$2; shift 2 ;;
    --attention) attention=$2; shift 2 ;;
    --json) json=1; shift ;;
    *) echo "serve_load: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$url" ] && [ -n "$pid" ] && [ -s "$queries" ] || { echo "usage: $0 --url URL --pid PID --queries FILE [...]" >&2; exit 2; }
[[ "$clients" =~ ^[0-9]+$ && "$clients" -ge 1 && "$clients" -le 64 ]] || { echo "serve_load: --clients 1..64" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 3600 ]] || { echo "serve_load: --seconds 1..3600" >&2; exit 2; }
kill -0 "$pid" 2>/dev/null || { echo "serve_load: no process $pid" >&2; exit 2; }
command -v curl >/dev/null || { echo "serve_load: needs curl" >&2; exit 2; }

W=$(mktemp -d /tmp/uarda-load-XXXXXX)
trap 'rm -rf "$W"' EXIT

# the URLs of the first 1000 non-blank lines, every byte but [A-Za-z0-9._~-] %-encoded (no
# quoting problem in curl's config files)
LC_ALL=C awk -v base="$url/api/search?k=$k&attention=$attention&q=" '
    BEGIN { for (i = 0; i < 256; i++) ord[sprintf("%c", i)] = i }
    /[^ \t\r]/ && n < 1000 {
        sub(/\r$/, ""); s = ""
        for (j = 1; j <= length($0); j++) {
            c = substr($0, j, 1)
            s = s (c ~ /[A-Za-z0-9._~-]/ ? c : sprintf("%%%02X", ord[c]))
        }
        print base s; n++
    }' "$queries" > "$W/urls"
n_queries=$(wc -l <"$W/urls")
[ "$n_queries" -gt 0 ] || { echo "serve_load: $queries holds no query" >&2; exit 2; }

# client c's requests: a curl config of BATCH url/output pairs (sent over one connection),
# starting at its own offset in the queries, made before the clock starts
BATCH=100
for ((c = 0; c < clients; c++)); do
    awk -v off=$((c * 7919)) -v B=$BATCH '{ u[NR] = $0 }
        END { for (i = 0; i < B; i++) printf "url = \"%s\"\noutput = \"/dev/null\"\n", u[(off + i) % NR + 1] }' \
        "$W/urls" > "$W/cfg$c"
done
mem() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }   # kB

# warm-up (each client's batch once), then the memory before
for ((c = 0; c < clients; c++)); do curl -s -K "$W/cfg$c" -o /dev/null & done
wait
rss0=$(mem VmRSS) anon0=$(mem RssAnon)

# each client: its batch again and again until the time is up; one line per request: status, seconds
client() {
    local c=$1 end=$2
    while [ "$(date +%s%N)" -lt "$end" ]; do
        curl -s -K "$W/cfg$c" -w '%{http_code} %{time_total}\n' --max-time 30 || true
    done > "$W/out$c"
}
start=$(date +%s%N)
end=$((start + seconds * 1000000000))
for ((c = 0; c < clients; c++)); do client "$c" "$end" & done
wait
stop=$(date +%s%N)
rss1=$(mem VmRSS) anon1=$(mem RssAnon)

cat "$W"/out* > "$W/all"
total=$(wc -l <"$W/all")
errors=$(awk '$1 != "200"' "$W/all" | wc -l)
awk '$1 == "200" {print $2 * 1000}' "$W/all" | sort -g > "$W/lat"
ok=$(wc -l <"$W/lat")
pct() { [ "$ok" -gt 0 ] && awk -v p="$1" -v n="$ok" 'NR == int((n - 1) * p / 100) + 1 {printf "%.2f", $1}' "$W/lat" || echo nan; }
elapsed=$(awk -v a="$start" -v b="$stop" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
rps=$(awk -v n="$total" -v s="$elapsed" 'BEGIN {printf "%.1f", n / s}')
p50=$(pct 50) p90=$(pct 90) p99=$(pct 99)
max=$(tail -1 "$W/lat" 2>/dev/null | awk '{printf "%.2f", $1}')
if [ "$json" = 1 ]; then
    printf '{"clients":%d,"seconds":%s,"requests":%d,"errors":%d,"rps":%s,"p50_ms":%s,"p90_ms":%s,"p99_ms":%s,"max_ms":%s,' \
        "$clients" "$elapsed" "$total" "$errors" "$rps" "$p50" "$p90" "$p99" "${max:-nan}"
    printf '"rss_kb_before":%s,"rss_kb_after":%s,"rss_anon_kb_before":%s,"rss_anon_kb_after":%s}\n' "$rss0" "$rss1" "$anon0" "$anon1"
else
    echo "serve_load: $clients clients, ${elapsed} s, k $k, attention $attention: $total requests, $errors errors"
    echo "serve_load: $rps requests/s; latency p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, max ${max:-nan} ms"
    echo "serve_load: server RSS $((rss0 / 1024)) MB -> $((rss1 / 1024)) MB (RssAnon ${anon0} kB -> ${anon1} kB)"
fi

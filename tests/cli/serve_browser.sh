#!/usr/bin/env bash
# uarda serve's page in a browser (headless Chromium from Debian, --no-sandbox as root): the
# page runs the query of its URL and the rendered DOM holds k results, each with its picture and
# one box per region, the query's words, the skipped words greyed for a UARDA model and its
# threshold shown (hidden for a SCAN model); an image query lists its captions; a screenshot is
# taken (into the temp folder; UARDA_SCREENSHOT=FILE copies it there). Skipped (77) without
# /usr/bin/chromium or libmicrohttpd.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/serve_common.sh"
serve_skip_without_mhd
if [ ! -x "$CHROMIUM" ]; then
    echo "SKIP: no $CHROMIUM (install the Debian package chromium: scripts/bootstrap --test)"
    exit 77
fi
serve_make_fixture

# browser MODE URL...: chromium's --dump-dom (MODE dom) or --screenshot (MODE FILE.png) of the
# page after its fetches (virtual time runs until they are done), its profile in the temp folder
browser() {
    local mode=$1; shift
    local what=(--dump-dom)
    [ "$mode" = dom ] || what=(--screenshot="$mode" --window-size=1280,900 --hide-scrollbars)
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$T/chromium" --crash-dumps-dir="$T/chromium-crashes" --virtual-time-budget=20000 \
        "${what[@]}" "$@" 2>"$T/chromium.err" || fail "chromium exited $?: $(tail -5 "$T/chromium.err")"
}
count() { grep -o "$1" | wc -l; }

serve_start uarda --index "$T/uarda.idx" --checkpoint "$UARDA" --threads 2 "${PICTURES[@]}"
q=$(sed -n 2p "$D/test_caps.txt")
enc=$(printf '%s' "$q" | od -An -tx1 -v | tr -s ' \n' '%%' | sed 's/%$//')   # every byte %-encoded
browser dom "$URL/?q=$enc&k=5" > "$T/dom.html"
grep -q '<body data-state="done">' "$T/dom.html" || fail "the page did not finish: $(grep -o '<p id="status"[^<]*' "$T/dom.html")"
grep -q 'id="results" class="results" data-state="done" data-count="5"' "$T/dom.html" || fail "results: $(grep -o '<ol id="results"[^>]*>' "$T/dom.html")"
[ "$(count '<li class="result" data-image="[0-9]*">' <"$T/dom.html")" -eq 5 ] || fail "not 5 results"
[ "$(count '<div class="box" data-region="[0-9]*" style="left: [0-9.]*%; top: [0-9.]*%; width: [0-9.]*%; height: [0-9.]*%;">' <"$T/dom.html")" -eq $((5 * 36)) ] ||
    fail "not 36 placed boxes per result: $(count 'class="box' <"$T/dom.html")"
[ "$(count '<img alt="image [0-9]*" src="/api/image/[0-9]*">' <"$T/dom.html")" -eq 5 ] || fail "not 5 pictures"
# the ranking is the API's
want=$(curl -s -G --data-urlencode "q=$q" -d k=5 "$URL/api/search" | grep -o '"image":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
got=$(grep -o '<li class="result" data-image="[0-9]*">' "$T/dom.html" | grep -o '[0-9]*' | tr '\n' ' ')
[ "$got" = "$want" ] || fail "the page's ranking ($got) is not the API's ($want)"
# the words: the query's once, and each result's, some greyed as skipped; the threshold shown
n_words=$(($(wc -w <<<"$q") + 2))
[ "$(count '<span class="word[a-z ]*" data-word="[0-9]*" tabindex="0"' <"$T/dom.html")" -eq $((5 * n_words)) ] || fail "not $n_words words per result"
grep -q 'class="word skipped"' "$T/dom.html" || fail "no skipped word"
grep -q '<p id="threshold" class="threshold">relevance threshold t = 0.3000' "$T/dom.html" || fail "threshold: $(grep -o '<p id="threshold"[^<]*' "$T/dom.html")"
grep -q '<p id="model" class="model">UARDA · t2i · 16 images, 80 captions, 36 regions each' "$T/dom.html" || fail "model line: $(grep -o '<p id="model"[^<]*' "$T/dom.html")"
# hover=WORD lights that word's regions up, with their weights
word=$(awk '{print $NF == "." ? $(NF - 1) : $NF}' <<<"$q")
browser dom "$URL/?q=$enc&k=3&hover=$word" > "$T/hover.html"
grep -q 'class="box lit" data-region="[0-9]*" style="[^"]*--w: 1.000;"><span class="w">0\.[0-9][0-9]</span>' "$T/hover.html" ||
    grep -q '<p class="attended">“'"$word"'” is skipped' "$T/hover.html" || fail "hover=$word lit nothing"
# the screenshot
browser "$T/serve.png" "$URL/?q=$enc&k=8&hover=$word"
[ "$(head -c 8 "$T/serve.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$T/serve.png")" -gt 20000 ] ||
    fail "screenshot: $(ls -l "$T/serve.png")"
[ -z "${UARDA_SCREENSHOT:-}" ] || cp "$T/serve.png" "$UARDA_SCREENSHOT"
# an image query: its captions
browser dom "$URL/?image=3&k=4" > "$T/image.html"
[ "$(count '<li class="caption-result">' <"$T/image.html")" -eq 4 ] || fail "image query: not 4 captions"
grep -q 'captions that best match image 3 (000003.png)' "$T/image.html" || fail "image query's heading"
# an error is shown, not a blank page
browser dom "$URL/?q=a+dog&k=0" > "$T/error.html"
grep -q '<p id="status" class="status error" role="status">k must be a whole number from 1 to 100' "$T/error.html" || fail "error: $(grep -o '<p id="status"[^<]*' "$T/error.html")"
serve_stop

# SCAN: no threshold shown; without boxes the regions are a grid
serve_start scan --index "$T/scan.idx" --checkpoint "$SCAN" --threads 1
browser dom "$URL/?q=$enc&k=2" > "$T/scan.html"
grep -q '<p id="threshold" class="threshold" hidden="">' "$T/scan.html" || fail "SCAN: the threshold is not hidden"
grep -q 'class="word skipped"' "$T/scan.html" && fail "SCAN: a skipped word"
[ "$(count '<div class="frame blank">' <"$T/scan.html")" -eq 2 ] || fail "SCAN: no blank frames"
grep -q 'data-region="7" style="left: 16.6[0-9]*%; top: 16.6[0-9]*%; width: 16.6[0-9]*%; height: 16.6[0-9]*%;"' "$T/scan.html" ||
    fail "SCAN: region 7 is not in the 6 x 6 grid: $(grep -o 'data-region="7" style="[^"]*"' "$T/scan.html" | head -1)"
serve_stop
echo "serve_browser: OK"

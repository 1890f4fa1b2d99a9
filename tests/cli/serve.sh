#!/usr/bin/env bash
# uarda serve: on a free loopback port, its rankings and scores are uarda search's (top 10 of
# text queries, exhaustive and shortlisted, image queries, each word's attended region); the
# API's health and info; every malformed request gets a 4xx, with a JSON error where the request
# reaches the service, and the server keeps serving; concurrent requests get the same answers;
# SIGTERM stops it cleanly (exit 0); bad start-up inputs are one-line errors. Skipped (77) when
# uarda was built without libmicrohttpd.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/serve_common.sh"
serve_skip_without_mhd
serve_make_fixture

# image,score pairs (text queries) and caption,score pairs (image queries) of a JSON answer, in order
pairs() { grep -o '"image":[0-9]*,"score":[-0-9.e]*' | sed 's/"image"://; s/,"score":/ /'; }
caption_pairs() { grep -o '"caption":[0-9]*,"score":[-0-9.e]*' | sed 's/"caption"://; s/,"score":/ /'; }
# a word's region (or - when irrelevant), per result, of search --attention and serve's attention
regions() { grep -o '"relevant":false\|"region":[0-9]*' | sed 's/"relevant":false/-/; s/"region"://' | tr '\n' ' '; }

serve_start scan --index "$T/scan.idx" --checkpoint "$SCAN" --threads 2 "${PICTURES[@]}"
grep -q "16 images, 80 captions, scan t2i, 2 workers, boxes" "$T/scan.out" || fail "start line: $(cat "$T/scan.out")"
get /api/health
[ "$STATUS" = 200 ] && [ "$BODY" = '{"status":"ok"}' ] || fail "health: $STATUS $BODY"
get /api/info
[ "$STATUS" = 200 ] || fail "info: $STATUS $BODY"
fp=$(LC_ALL=C grep -ao '"checkpoint_fingerprint":"[0-9a-f]*"' "$T/scan.idx" | head -1 | cut -d'"' -f4)
for want in '"model":"scan"' '"thresholded":false' '"threshold":null' '"images":16' '"captions":80' '"regions":36' \
            "\"fingerprint\":\"$fp\"" '"boxes":true' '"boxes_unit":true' '"images":true' '"embed_size":16' '"dtype":"f32"' '"agg_func":"Mean"'; do
    grep -qF -- "$want" <<<"$BODY" || fail "info lacks $want: $BODY"
done
grep -q '"data_path"\|"vocab_path"\|"model_name"' <<<"$BODY" && fail "info shows the machine's paths: $BODY"

# ---- the same rankings and scores as uarda search ----
for line in 1 4 9 23; do
    q=$(sed -n "${line}p" "$D/test_caps.txt")
    want=$("$B" search --index "$T/scan.idx" --checkpoint "$SCAN" --query "$q" --top-k 10 --json | pairs)
    [ "$(wc -l <<<"$want")" -eq 10 ] || fail "search gave: $want"
    get /api/search -G --data-urlencode "q=$q" -d k=10
    [ "$STATUS" = 200 ] || fail "search '$q': $STATUS $BODY"
    [ "$(pairs <<<"$BODY")" = "$want" ] || fail "serve's top 10 for '$q' differ from uarda search's:
serve:  $(pairs <<<"$BODY" | tr '\n' ' ')
search: $(tr '\n' ' ' <<<"$want")"
    want5=$("$B" search --index "$T/scan.idx" --checkpoint "$SCAN" --query "$q" --top-k 10 --shortlist 5 --json | pairs)
    get /api/search -G --data-urlencode "q=$q" -d k=10 -d shortlist=5
    [ "$(pairs <<<"$BODY")" = "$want5" ] && grep -q '"scored":5' <<<"$BODY" || fail "shortlist 5 for '$q': $BODY"
done
want=$("$B" search --index "$T/scan.idx" --checkpoint "$SCAN" --image-row 2 --top-k 10 --json | caption_pairs)
get "/api/search?image=2&k=10"
[ "$STATUS" = 200 ] && [ -n "$want" ] && [ "$(caption_pairs <<<"$BODY")" = "$want" ] || fail "image 2's captions: $BODY"
grep -q '"text":"' <<<"$BODY" && grep -q '"image_url":"/api/image/2"' <<<"$BODY" || fail "image query's texts and picture: $BODY"
# a result carries its picture: 36 boxes in the unit square, its name and its picture's URL
get "/api/search?q=a+man&k=1"
grep -q '"name":"0000[0-9][0-9].png","image_url":"/api/image/[0-9]*","boxes":\[\[' <<<"$BODY" || fail "picture of a result: $BODY"
[ "$(grep -o '\],\[' <<<"$BODY" | wc -l)" -eq 35 ] || fail "36 boxes: $BODY"
get /api/image/3
[ "$STATUS" = 200 ] && cmp -s "$T/body" "$D/test_images/000003.png" || fail "/api/image/3: $STATUS"
# k beyond the gallery: all of it
get "/api/search?q=a+man&k=100"
[ "$(pairs <<<"$BODY" | wc -l)" -eq 16 ] || fail "k=100 of 16 images: $(pairs <<<"$BODY" | wc -l) results"
serve_stop

# ---- UARDA: the threshold, each word's attention and relevance as uarda search reports them ----
serve_start uarda --index "$T/uarda.idx" --checkpoint "$UARDA" --threads 3
get /api/info
grep -q '"model":"uarda","direction":"t2i","score":"naaf","thresholded":true,"threshold":0.3[0-9]*,' <<<"$BODY" || fail "UARDA info: $BODY"
grep -q '"boxes":false' <<<"$BODY" || fail "no boxes given: $BODY"
q=$(sed -n 7p "$D/test_caps.txt")
want=$("$B" search --index "$T/uarda.idx" --checkpoint "$UARDA" --query "$q" --top-k 10 --json --attention)
get /api/search -G --data-urlencode "q=$q" -d k=10 -d attention=1
[ "$(pairs <<<"$BODY")" = "$(pairs <<<"$want")" ] || fail "UARDA top 10 differ from uarda search's"
[ "$(regions <<<"$BODY")" = "$(regions <<<"$want")" ] || fail "attended regions differ:
serve:  $(regions <<<"$BODY")
search: $(regions <<<"$want")"
grep -q '"relevant":false' <<<"$BODY" && grep -q '"relevant":true' <<<"$BODY" || fail "no skipped and relevant words: $BODY"
# a relevant word's weights: 36, summing to 1 (rounded to 4 places)
w=$(grep -o '"weights":\[[^]]*\]' <<<"$BODY" | head -1 | sed 's/.*\[//; s/\]//')
awk -F, -v n=36 '{s = 0; for (i = 1; i <= NF; i++) s += $i; exit !(NF == n && s > 0.998 && s < 1.002)}' <<<"$w" || fail "weights: $w"
grep -q '"boxes"\|"image_url"' <<<"$BODY" && fail "pictures without --boxes / --images-dir: $BODY"
# the tokens as written, unknown words marked
get /api/search -G --data-urlencode "q=A Zebroid, and a man" -d k=1
grep -q '"words":\[{"text":"<start>"},{"text":"a","known":true},{"text":"zebroid","known":false},{"text":",","known":' <<<"$BODY" ||
    fail "words: $BODY"

# ---- concurrency: 12 requests at once, each the answer it gets alone ----
for i in $(seq 12); do
    line=$((i * 5))
    sed -n "${line}p" "$D/test_caps.txt" > "$T/q$i"
    get /api/search -G --data-urlencode "q@$T/q$i" -d k=10
    pairs <<<"$BODY" > "$T/alone$i"
done
for i in $(seq 12); do
    curl -s -G --data-urlencode "q@$T/q$i" -d k=10 -d attention=1 "$URL/api/search" > "$T/together$i" &
done
wait $(jobs -p | grep -v "^$PID$") 2>/dev/null || true
for i in $(seq 12); do
    [ "$(pairs <"$T/together$i")" = "$(cat "$T/alone$i")" ] || fail "concurrent request $i got another answer"
done

# ---- malformed requests: a 4xx with a JSON error, and the server goes on ----
head -c 1048576 /dev/zero | tr '\0' a > "$T/big"     # 1 MB
head -c 3000 /dev/zero | tr '\0' b > "$T/long"       # over the 2048-byte limit
printf 'a dog\n' > "$T/ok"
expect() {  # expect STATUS MESSAGE PATH [CURL ARGS...]
    local want=$1 msg=$2; shift 2
    get "$@"
    [ "$STATUS" = "$want" ] || fail "$* -> $STATUS (want $want): $BODY"
    grep -qF "\"error\":\"" <<<"$BODY" && grep -qF "\"status\":$want}" <<<"$BODY" && grep -qF -- "$msg" <<<"$BODY" ||
        fail "$* -> $STATUS: not the JSON error '$msg': $BODY"
}
expect 400 "give q=TEXT (a text query) or image=ROW" "/api/search?k=3"
expect 400 "k must be a whole number from 1 to 100" "/api/search?q=a+dog&k=0"
expect 400 "k must be a whole number from 1 to 100" "/api/search?q=a+dog&k=1000000000"
expect 400 "k must be a whole number from 1 to 100" "/api/search?q=a+dog&k=-1"
expect 400 "k must be a whole number from 1 to 100" "/api/search?q=a+dog&k=3x"
expect 400 "shortlist must be a whole number" "/api/search?q=a+dog&shortlist=1e3"
expect 400 "q is not valid UTF-8 (byte 2)" "/api/search?q=a+%ff%fe+dog"
expect 400 "q is not valid UTF-8" "/api/search?q=%c0%af"
expect 400 "q holds a NUL byte" "/api/search?q=a%00dog"
expect 400 "blank caption" "/api/search?q=%20%20"
expect 400 "q: 3000 bytes, more than the limit of 2048" /api/search -G --data-urlencode "q@$T/long"
expect 400 "q is given twice" "/api/search?q=a&q=b"
expect 400 "unknown argument 'top_k'" "/api/search?q=a&top_k=3"
expect 400 "more than 8 arguments" "/api/search?q=a&k=1&a=1&b=2&c=3&d=4&e=5&f=6&g=7"
expect 400 "give q or image, not both" "/api/search?q=a&image=1"
expect 400 "attention is for text queries" "/api/search?image=1&attention=1"
expect 400 "attention must be 0 or 1" "/api/search?q=a&attention=yes"
expect 400 "attention must be 0 or 1" "/api/search?q=a&attention=1%00x"
expect 404 "image 16: the gallery has 16 images (0..15)" "/api/search?image=16"
expect 400 "image must be a whole number" "/api/search?image=-1"
expect 404 "no such path: /api/nope" /api/nope
expect 404 "no such path: /etc/passwd" /etc/passwd
expect 404 "no such image: an image is /api/image/ROW" "/api/image/../../etc/passwd" --path-as-is
expect 404 "no pictures: the server was started without --images-dir" /api/image/3
expect 404 "no such image" /api/image/3x
expect 405 "POST is not served" /api/search -X POST -d q=dog
expect 405 "DELETE is not served" /api/health -X DELETE
expect 400 "a GET request carries no body" /api/search -G -d q=dog -H "Content-Length: 5" --data-binary hello -X GET
# raw: the request on a connection of its own, the first 200 bytes of the reply
# (the server may close before all of it is sent: a broken pipe there is expected)
raw() { (exec 3<>"/dev/tcp/127.0.0.1/${URL##*:}"; cat >&3 2>/dev/null || true; timeout 5 head -c 200 <&3 || true); }
# a 1 MB query never reaches the service: libmicrohttpd refuses the request line itself (curl
# does not send a URL that long)
{ printf 'GET /api/search?q='; cat "$T/big"; printf ' HTTP/1.1\r\nHost: x\r\n\r\n'; } > "$T/big_request"
reply=$(raw < "$T/big_request")
[[ "$reply" =~ ^HTTP/1\.1\ 414 ]] || fail "a 1 MB query: $reply"
# not HTTP: a bad request line gets a 400, a line without a target is closed unanswered
reply=$(printf '\001\002 x y\r\n\r\n' | raw)
[[ "$reply" =~ ^HTTP/1\.1\ 400 ]] || fail "a request line that is no HTTP: $reply"
reply=$(printf 'GARBAGE\r\n\r\n' | raw)
[ -z "$reply" ] || [[ "$reply" =~ ^HTTP/1\.1\ 4[0-9][0-9] ]] || fail "GARBAGE: $reply"
# still serving, and still the same answers
get /api/health
[ "$STATUS" = 200 ] || fail "health after the malformed requests: $STATUS"
get /api/search -G --data-urlencode "q@$T/q1" -d k=10
[ "$(pairs <<<"$BODY")" = "$(cat "$T/alone1")" ] || fail "another answer after the malformed requests"
get /api/health -I
[ "$STATUS" = 200 ] || fail "HEAD: $STATUS"
serve_stop

# ---- the page is served, with its security headers ----
serve_start page --index "$T/scan.idx" --checkpoint "$SCAN" --threads 1
headers=$(curl -s -D - -o "$T/page.html" "$URL/")
grep -qi '^content-type: text/html; charset=utf-8' <<<"$headers" && grep -qi "^content-security-policy: default-src 'none'" <<<"$headers" ||
    fail "page headers: $headers"
grep -q '<script src="/app.js" defer></script>' "$T/page.html" || fail "the page: $(head -c 300 "$T/page.html")"
get /app.js
[ "$STATUS" = 200 ] && grep -q "function showText" <<<"$BODY" || fail "/app.js: $STATUS"
get /app.css
[ "$STATUS" = 200 ] || fail "/app.css: $STATUS"
# SIGINT stops it too
kill -INT "$PID"
st=0; wait "$PID" || st=$?
PID=""
[ $st -eq 0 ] && grep -q "SIGINT: stopping" "$T/page.err" || fail "SIGINT: exit $st, $(cat "$T/page.err")"

# ---- start-up errors ----
expect_start() {  # expect_start STATUS MESSAGE ARGS...
    local want=$1 msg=$2; shift 2
    set +e
    out=$("$B" serve --port 0 "$@" 2>&1 </dev/null); st=$?
    set -e
    [ $st -eq "$want" ] && grep -qF -- "$msg" <<<"$out" && [ "$(wc -l <<<"$out")" -eq 1 ] ||
        fail "serve $* -> exit $st (want $want, '$msg'): $out"
}
expect_start 2 "--index and --checkpoint are required" --index "$T/scan.idx"
expect_start 2 "--images-dir needs --image-names" --index "$T/scan.idx" --checkpoint "$SCAN" --images-dir "$D/test_images"
expect_start 2 "--port must be between 0 and 65535" --index "$T/scan.idx" --checkpoint "$SCAN" --port 70000
expect_start 1 "was not made with" --index "$T/scan.idx" --checkpoint "$UARDA"
expect_start 1 "test_ims.npy: expected boxes of shape (16, 36, 4)" --index "$T/scan.idx" --checkpoint "$SCAN" --boxes "$D/test_ims.npy"
head -3 "$D/test_image_names.txt" > "$T/names3.txt"
expect_start 1 "names3.txt: 3 names, but the index holds 16 images" --index "$T/scan.idx" --checkpoint "$SCAN" --image-names "$T/names3.txt"
sed '5s|.*|../secret.png|' "$D/test_image_names.txt" > "$T/names_up.txt"
expect_start 1 "names_up.txt: line 5: '../secret.png' is not a file name inside the images folder" \
    --index "$T/scan.idx" --checkpoint "$SCAN" --image-names "$T/names_up.txt" --images-dir "$D/test_images"
sed '2s|.*|notes.txt|' "$D/test_image_names.txt" > "$T/names_txt.txt"
expect_start 1 "line 2: 'notes.txt' is not a picture" --index "$T/scan.idx" --checkpoint "$SCAN" --image-names "$T/names_txt.txt" --images-dir "$D/test_images"
expect_start 1 "--host localhost: not a numeric IPv4 or IPv6 address" --index "$T/scan.idx" --checkpoint "$SCAN" --host localhost
# a port in use
serve_start busy --index "$T/scan.idx" --checkpoint "$SCAN" --threads 1
expect_start 1 "cannot serve on 127.0.0.1 port ${URL##*:}" --index "$T/scan.idx" --checkpoint "$SCAN" --port "${URL##*:}"
serve_stop
echo "serve: OK"

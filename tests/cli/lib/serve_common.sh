# Shared by the uarda serve tests (tests/cli/serve*.sh; sourced, not a test itself): a tiny
# synthetic dataset with its pictures, a SCAN model and a UARDA model (a fixed threshold of 0.3,
# so that some words are judged irrelevant) trained on it, their indexes of the test split, and
# starting and stopping a server on a free loopback port.
# Needs: B (the uarda binary), T (a temp folder), fail (prints and exits 1).

# exit 77 (CTest: skipped) with a message when uarda was built without libmicrohttpd
serve_skip_without_mhd() {
    local msg
    msg=$("$B" serve --index /nonexistent --checkpoint /nonexistent 2>&1 || true)
    if grep -q "built without libmicrohttpd" <<<"$msg"; then
        echo "SKIP: uarda was built without libmicrohttpd (install libmicrohttpd-dev and rebuild)"
        exit 77
    fi
}

serve_make_fixture() {
    "$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
    D="$T/data/synth_tiny_precomp"
    local common=(--data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16
                  --word-dim 8 --batch-size 32 --val-step 0 --threads 2 --quiet --num-epochs 1)
    "$B" train "${common[@]}" --model-name "$T/scan" --logger-name "$T/scan" 2>/dev/null
    "$B" train "${common[@]}" --model uarda --t-mode fixed --t-fixed 0.3 --model-name "$T/uarda" --logger-name "$T/uarda" 2>/dev/null
    SCAN="$T/scan/model_best.safetensors"
    UARDA="$T/uarda/model_best.safetensors"
    "$B" index --checkpoint "$SCAN" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/scan.idx" 2>/dev/null
    "$B" index --checkpoint "$UARDA" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/uarda.idx" 2>/dev/null
    PICTURES=(--boxes "$D/test_boxes.npy" --images-dir "$D/test_images" --image-names "$D/test_image_names.txt")
}

# serve_start NAME ARGS...: starts uarda serve ARGS on a free port; sets PID and URL; its output
# goes to $T/NAME.out and $T/NAME.err
serve_start() {
    local name=$1; shift
    SERVE_NAME=$name
    : >"$T/$name.out"   # there before the background shell opens it, for the sed below
    "$B" serve --port 0 --host 127.0.0.1 "$@" >"$T/$name.out" 2>"$T/$name.err" &
    PID=$!
    local port=""
    for _ in $(seq 200); do
        port=$(sed -n 's|^uarda serve: http://127\.0\.0\.1:\([0-9]*\)/ .*|\1|p' "$T/$name.out" || true)
        [ -n "$port" ] && break
        kill -0 "$PID" 2>/dev/null || fail "uarda serve $* exited at start: $(cat "$T/$name.err")"
        sleep 0.05
    done
    [ -n "$port" ] || fail "uarda serve $* printed no address in 10 s: $(cat "$T/$name.out" "$T/$name.err")"
    URL="http://127.0.0.1:$port"
}

# serve_stop: SIGTERM, then the server must exit 0 within 10 s, having said so
serve_stop() {
    kill -TERM "$PID"
    local st=0
    for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$PID" 2>/dev/null && { kill -KILL "$PID"; fail "uarda serve did not stop within 10 s of SIGTERM"; }
    wait "$PID" || st=$?
    [ "$st" -eq 0 ] || fail "uarda serve exited $st after SIGTERM: $(cat "$T/$SERVE_NAME.err")"
    grep -q "uarda serve: stopped after [0-9]* requests" "$T/$SERVE_NAME.err" ||
        fail "uarda serve's stop message: $(cat "$T/$SERVE_NAME.err")"
    PID=""
}

# get PATH [CURL ARGS...]: sets STATUS (the HTTP status, 000: no reply) and BODY
get() {
    local path=$1; shift
    rm -f "$T/body"
    STATUS=$(curl -s -g -o "$T/body" -w '%{http_code}' "$@" "$URL$path") || STATUS=${STATUS:-000}
    BODY=$(tr -d '\000' <"$T/body" 2>/dev/null || true)
}

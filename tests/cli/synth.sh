#!/usr/bin/env bash
# uarda synth through the CLI: the tiny preset into a temp folder, overrides, determinism,
# --help, and one-line errors with exit status 2 (usage) or 1 (runtime).
set -euo pipefail
BIN=${UARDA_BIN:-build/uarda}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uarda-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# runs the command, expecting exit status $1 and exactly one line on stderr
expect_error() {
    local want=$1; shift
    local rc=0
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "$* exited $rc, expected $want: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$*: expected one line on stderr, got: $(cat "$tmp/err")"
}

"$BIN" synth --help >"$tmp/help" || fail "synth --help exited $?"
grep -q -- '--preset {tiny|small|f30k}' "$tmp/help" || fail "--help does not list --preset"
grep -q -- '--noise X' "$tmp/help" || fail "--help does not list --noise"
"$BIN" synth --preset tiny --help | grep -q -- '--img-dim N .*(default: 32)' || fail "--help does not show the tiny preset's defaults"

# the tiny preset
"$BIN" synth --preset tiny --data-path "$tmp/data" --vocab-path "$tmp/vocab" --seed 3 >"$tmp/out" 2>"$tmp/err" ||
    fail "synth --preset tiny: $(cat "$tmp/err")"
[ ! -s "$tmp/err" ] || fail "a short run printed on stderr: $(cat "$tmp/err")"
grep -q "wrote $tmp/data/synth_tiny_precomp" "$tmp/out" || fail "no summary line: $(cat "$tmp/out")"
d=$tmp/data/synth_tiny_precomp
[ -s "$tmp/vocab/synth_tiny_precomp_vocab.json" ] || fail "no vocabulary"
for split in train:64 dev:16 test:16; do
    s=${split%:*} n=${split#*:}
    for f in ims.npy caps.txt caps_grounding.txt; do [ -s "$d/${s}_$f" ] || fail "no ${s}_$f"; done
    [ "$(wc -l <"$d/${s}_caps.txt")" -eq $((5 * n)) ] || fail "${s}_caps.txt: expected $((5 * n)) lines"
    [ "$(wc -l <"$d/${s}_caps_grounding.txt")" -eq $((5 * n)) ] || fail "${s}_caps_grounding.txt: expected $((5 * n)) lines"
    head -c 128 "$d/${s}_ims.npy" | grep -aq "'shape': ($n, 36, 32)" || fail "${s}_ims.npy: wrong shape"
    # every grounding line has one 0/1 per caption token
    paste -d '|' "$d/${s}_caps.txt" "$d/${s}_caps_grounding.txt" |
        awk -F'|' '{ if (split($1, a, " ") != split($2, b, " ")) { print "line " NR; exit 1 } }' ||
        fail "${s}: grounding does not align with the captions"
done
[ ! -e "$d/testall_ims.npy" ] || fail "testall written without --testall"
grep -q '^seed            3$' "$d/README.synth.txt" || fail "README.synth.txt does not state the seed"

# deterministic: the same seed gives the same bytes
"$BIN" synth --preset tiny --data-path "$tmp/again" --vocab-path "$tmp/vocab2" --seed 3 >/dev/null
for f in "$d"/*; do
    cmp -s "$f" "$tmp/again/synth_tiny_precomp/$(basename "$f")" || fail "$(basename "$f") differs between runs"
done
cmp -s "$tmp/vocab/synth_tiny_precomp_vocab.json" "$tmp/vocab2/synth_tiny_precomp_vocab.json" || fail "the vocabulary differs between runs"

# overrides, --data-name, --testall
"$BIN" synth --preset tiny --data-path "$tmp/data" --data-name mine --vocab-path "$tmp/vocab" \
    --n-train 10 --testall --n-testall 20 --img-dim 8 --noise 0 >/dev/null
m=$tmp/data/mine
[ "$(wc -l <"$m/train_caps.txt")" -eq 50 ] || fail "--n-train 10 did not give 50 captions"
[ "$(wc -l <"$m/testall_caps.txt")" -eq 100 ] || fail "--testall --n-testall 20 did not give 100 captions"
head -c 128 "$m/train_ims.npy" | grep -aq "'shape': (10, 36, 8)" || fail "--img-dim 8 not applied"
[ -s "$tmp/vocab/mine_vocab.json" ] || fail "no vocabulary for --data-name mine"

# errors: one line each, nothing written
expect_error 2 "$BIN" synth --preset huge --data-path "$tmp/x"
grep -q "preset" "$tmp/err" || fail "unknown preset: message does not name the option"
[ ! -e "$tmp/x" ] || fail "an unknown preset wrote files"
expect_error 2 "$BIN" synth --preset tiny --n-train 0 --data-path "$tmp/x"
grep -q "n_train" "$tmp/err" || fail "--n-train 0: message does not name the field"
expect_error 2 "$BIN" synth --preset tiny --seed -1 --data-path "$tmp/x"
expect_error 2 "$BIN" synth --preset tiny --no-such-option
[ ! -e "$tmp/x" ] || fail "a usage error wrote files"
touch "$tmp/file"
expect_error 1 "$BIN" synth --preset tiny --data-path "$tmp/file" --vocab-path "$tmp/vocab"
grep -q "$tmp/file" "$tmp/err" || fail "an unwritable data path: message does not name it"
echo "cli synth: ok"

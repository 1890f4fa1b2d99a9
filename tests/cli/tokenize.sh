#!/usr/bin/env bash
# uarda tokenize: output format, stdin and files, invalid UTF-8, --ids, usage errors.
set -u
BIN=${UARDA_BIN:-build/uarda}
SHARED=${UARDA_SHARED:-../shared}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uarda-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# a small input: clitics, quotes, an empty line, CRLF, surrounding whitespace, a last line
# without newline
printf 'A man'"'"'s dog, "running" fast -- in the U.S. park.\n\n  Two sentences. Here.  \r\n\tCannot stop!\nno newline' > "$tmp/in.txt"
printf '%s\n' "a man 's dog , \`\` running '' fast -- in the u.s. park ." "" "two sentences. here ." \
    "can not stop !" "no newline" > "$tmp/want.txt"
"$BIN" tokenize "$tmp/in.txt" > "$tmp/out.txt" 2> "$tmp/err.txt" || fail "tokenize FILE exited $?: $(cat "$tmp/err.txt")"
cmp -s "$tmp/out.txt" "$tmp/want.txt" || fail "tokenize FILE output: $(diff "$tmp/want.txt" "$tmp/out.txt")"

# stdin, and '-'
"$BIN" tokenize < "$tmp/in.txt" > "$tmp/out2.txt" || fail "tokenize <stdin exited $?"
cmp -s "$tmp/out2.txt" "$tmp/want.txt" || fail "tokenize from stdin differs"
printf 'First.\n' | "$BIN" tokenize - "$tmp/in.txt" > "$tmp/out3.txt" || fail "tokenize - FILE exited $?"
{ echo "first ."; cat "$tmp/want.txt"; } | cmp -s - "$tmp/out3.txt" || fail "tokenize - FILE output differs"

# an empty file gives no output
: > "$tmp/empty.txt"
out=$("$BIN" tokenize "$tmp/empty.txt") || fail "empty file exited $?"
[ -z "$out" ] || fail "empty file printed '$out'"

# invalid UTF-8: one line naming the file and the line, non-zero exit
printf 'fine\nstill fine\nbad \xc3\x28 byte\n' > "$tmp/bad.txt"
"$BIN" tokenize "$tmp/bad.txt" > "$tmp/out.txt" 2> "$tmp/err.txt"
rc=$?
[ "$rc" -ne 0 ] || fail "invalid UTF-8 exited 0"
[ "$(wc -l < "$tmp/err.txt")" -eq 1 ] || fail "invalid UTF-8: expected one error line, got: $(cat "$tmp/err.txt")"
grep -q "bad.txt: line 3: invalid UTF-8 at byte offset 4" "$tmp/err.txt" || fail "invalid UTF-8 message: $(cat "$tmp/err.txt")"

# a missing file
"$BIN" tokenize "$tmp/nope.txt" > /dev/null 2> "$tmp/err.txt" && fail "missing file exited 0"
grep -q "nope.txt" "$tmp/err.txt" || fail "missing file message: $(cat "$tmp/err.txt")"

# --help exits 0; an unknown flag and a half of --ids/--vocab-path exit 2
"$BIN" tokenize --help > "$tmp/help.txt" || fail "--help exited $?"
grep -q "usage: uarda tokenize" "$tmp/help.txt" || fail "--help text: $(cat "$tmp/help.txt")"
"$BIN" tokenize --no-such-flag < /dev/null > /dev/null 2>&1
[ $? -eq 2 ] || fail "unknown flag did not exit 2"
"$BIN" tokenize --ids < /dev/null > /dev/null 2>&1
[ $? -eq 2 ] || fail "--ids without --vocab-path did not exit 2"

# --ids with a vocabulary: <start>=1 ... <end>=2, unknown words -> <unk>=3
cat > "$tmp/vocab.json" <<'JSON'
{"word2idx": {"<pad>": 0, "<start>": 1, "<end>": 2, "<unk>": 3, "a": 4, "dog": 5, "'s": 6, ".": 7},
 "idx2word": {"0": "<pad>", "1": "<start>", "2": "<end>", "3": "<unk>", "4": "a", "5": "dog", "6": "'s", "7": "."},
 "idx": 8}
JSON
printf "A dog's zebra.\n\n" | "$BIN" tokenize --ids --vocab-path "$tmp/vocab.json" > "$tmp/ids.txt" 2> "$tmp/err.txt" \
    || fail "--ids exited $?: $(cat "$tmp/err.txt")"
printf '1 4 5 6 3 7 2\n1 2\n' | cmp -s - "$tmp/ids.txt" || fail "--ids output: $(cat "$tmp/ids.txt")"

# the real F30K vocabulary, when ../shared is there
if [ -f "$SHARED/data/vocab/f30k_precomp_vocab.json" ]; then
    ids=$(echo "A dog ." | "$BIN" tokenize --ids --vocab-path "$SHARED/data/vocab/f30k_precomp_vocab.json") \
        || fail "--ids with the F30K vocabulary exited $?"
    case "$ids" in "1 "*" 2") ;; *) fail "--ids with the F30K vocabulary: '$ids'" ;; esac
    [ "$(echo "$ids" | wc -w)" -eq 5 ] || fail "--ids with the F30K vocabulary: '$ids'"
fi

[ "$fails" -eq 0 ] || exit 1
echo "cli tokenize: ok"

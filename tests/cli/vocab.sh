#!/usr/bin/env bash
# uarda vocab: the OOV rate of the Flickr30K test captions against SCAN's vocabulary, and
# building a vocabulary from a split's captions with a count threshold.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
S=${UARDA_SHARED:-../shared}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
if [ -f "$S/data/vocab/f30k_precomp_vocab.json" ]; then
    out=$("$B" vocab --oov --vocab-path "$S/data/vocab/f30k_precomp_vocab.json" "$S/data/f30k_precomp/test_caps.txt")
    grep -q "8481 words" <<<"$out" || fail "vocabulary size: $out"
    grep -q "5000 captions, 67442 tokens, 658 out of vocabulary (0.98%)" <<<"$out" || fail "OOV rate: $out"
fi
mkdir -p "$T/d/x_precomp"
printf 'a dog runs .\na dog sits\nthe dog\na cat\na "dog"\n' > "$T/d/x_precomp/train_caps.txt"
printf 'a dog\n' > "$T/d/x_precomp/dev_caps.txt"
out=$("$B" vocab --data-path "$T/d" --data-name x_precomp --vocab-path "$T/v" --threshold 2)
# counts over train + dev: a 6, dog 5, every other token once: 4 specials + a + dog, by count
grep -q "6 words" <<<"$out" || fail "built vocabulary: $out"
grep -q '"word2idx":{"<pad>":0,"<start>":1,"<end>":2,"<unk>":3,"a":4,"dog":5}' "$T/v/x_precomp_vocab.json" || fail "vocabulary order"
out=$("$B" vocab --oov --vocab-path "$T/v/x_precomp_vocab.json" "$T/d/x_precomp/train_caps.txt")
grep -q "15 tokens, 7 out of vocabulary" <<<"$out" || fail "OOV on train: $out"
set +e
msg=$("$B" vocab --oov --vocab-path "$T/nope.json" "$T/d/x_precomp/train_caps.txt" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "nope.json" <<<"$msg" || fail "missing vocabulary: $msg"
echo "vocab: OK"

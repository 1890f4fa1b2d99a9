#!/usr/bin/env bash
# uarda index + uarda search: rankings equal the full similarity matrix's (uarda score), a
# shortlist as long as the gallery changes nothing and a shorter one keeps the exact scores of
# the images it keeps, --queries answers each line, --attention names a region per word, a
# mismatched checkpoint is refused, and image queries rank the indexed captions.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
D="$T/data/synth_tiny_precomp"
common=(--data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16 --word-dim 8
        --batch-size 32 --val-step 0 --threads 2 --quiet)
"$B" train "${common[@]}" --num-epochs 1 --model-name "$T/a" --logger-name "$T/a" 2>/dev/null
"$B" train "${common[@]}" --num-epochs 1 --seed 9 --model-name "$T/b" --logger-name "$T/b" 2>/dev/null
C="$T/a/model_best.safetensors"
"$B" index --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/g.safetensors" 2>/dev/null
sed -n 4p "$D/test_caps.txt" > "$T/q.txt"
q=$(cat "$T/q.txt")
# the full similarity matrix of every test caption (the evaluation's blocks), [16 images, 80 captions]
"$B" score --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/s.npy" 2>/dev/null
out=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json)
# the ranking from the index equals the ranking of the matrix's column 3 (line 4), and the scores
# agree (a query alone runs its products in another order: the last bits may differ)
images() { grep -o '"image":[0-9]*' | cut -d: -f2 | tr '\n' ' '; }
pairs() { grep -o '"image":[0-9]*,"score":[-0-9.e]*' | sed 's/"image"://; s/,"score":/ /'; }
got=$(images <<<"$out")
column=$(od -An -v -tf4 -j 128 "$T/s.npy" | tr -s ' ' '\n' | grep -v '^$' | awk '(NR - 1) % 80 == 3 {print int((NR - 1) / 80), $1}')
want=$(sort -k2,2gr -k1,1n <<<"$column" | awk '{printf "%s ", $1}')
[ "$(wc -w <<<"$want")" -eq 16 ] || fail "could not read 16 scores"
[ -n "$got" ] && [ "$got" = "$want" ] || fail "search ranking ($got) differs from the full matrix's ($want)"
joined=$(join <(pairs <<<"$out" | sort -k1,1) <(sort -k1,1 <<<"$column"))
[ "$(wc -l <<<"$joined")" -eq 16 ] || fail "could not pair 16 scores: $joined"
worst=$(awk '{d = $2 - $3; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.3g", m}' <<<"$joined")
awk -v w="$worst" 'BEGIN {exit !(w < 1e-5)}' || fail "search scores differ from the full matrix's by $worst"
# a shortlist of the whole gallery is the exhaustive search; a shorter one keeps exact scores
full=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json --shortlist 16)
[ "$(images <<<"$full")" = "$got" ] || fail "--shortlist 16 of 16 images changed the ranking"
short=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json --shortlist 5)
grep -q '"scored":5' <<<"$short" || fail "--shortlist 5 scored: $short"
[ "$(pairs <<<"$short" | wc -l)" -eq 5 ] || fail "--shortlist 5 returned: $short"
while read -r id score; do
    grep -qx "$id $score" <(pairs <<<"$out") || fail "shortlisted image $id: score $score is not the exhaustive one"
done < <(pairs <<<"$short")
# --queries: one JSON line per line of the file, the first equal to --query's answer
sed -n 7,8p "$D/test_caps.txt" >> "$T/q.txt"
multi=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --queries "$T/q.txt" --top-k 16 --json)
[ "$(wc -l <<<"$multi")" -eq 3 ] || fail "--queries with 3 lines: $multi"
[ "$(head -1 <<<"$multi" | images)" = "$got" ] || fail "--queries' first answer differs from --query's"
# --attention: a region (or "relevant": false) for every word of every result
att=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 2 --json --attention)
n_words=$(grep -o '"word":' <<<"$att" | wc -l)
[ "$n_words" -ge 6 ] && [ $((n_words % 2)) -eq 0 ] || fail "--attention words: $att"
[ "$(grep -o '"region":[0-9]*' <<<"$att" | wc -l)" -eq "$n_words" ] || fail "--attention regions: $att"
# nonsense flags
for bad in "--query x --shortlist -1:--shortlist -1 must be" "--query x --top-k 0:--top-k 0 must be" \
           "--image-row 1 --attention:--attention is for text"; do
    set +e
    msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" ${bad%%:*} 2>&1); st=$?
    set -e
    [ $st -eq 2 ] && grep -q -- "${bad#*:}" <<<"$msg" || fail "search ${bad%%:*}: exit $st ($msg)"
done
# bench shortlist: a shortlist of the whole gallery loses nothing; a short one reports its loss
bs=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$D/test_caps.txt" --shortlist 16,2,1 --json)
[ "$(grep -c '"bench":"shortlist"' <<<"$bs")" -eq 4 ] || fail "bench shortlist rows: $bs"
rk() { grep "\"shortlist\":$1," <<<"$bs" | grep -o "\"r$2\":[0-9.]*" | cut -d: -f2; }
r10() { rk "$1" 10; }
[ -n "$(r10 0)" ] && [ "$(r10 16)" = "$(r10 0)" ] || fail "bench shortlist: K=16 of 16 images differs from exhaustive: $bs"
# a true image outside a shortlist of K < 10 is a miss at every cutoff: with K = 1 or 2 the list
# is all there is, so R@5 = R@10 = the share of queries whose image it holds (= R@1 for K = 1;
# these once read 100 whenever K < 5)
[ "$(rk 2 5)" = "$(rk 2 10)" ] || fail "bench shortlist: K=2: R@5 $(rk 2 5) != R@10 $(rk 2 10): $bs"
[ "$(rk 1 1)" = "$(rk 1 5)" ] && [ "$(rk 1 5)" = "$(rk 1 10)" ] || fail "bench shortlist: K=1: R@1/5/10 differ: $bs"
awk -v a="$(rk 1 10)" -v b="$(rk 2 10)" -v c="$(r10 0)" 'BEGIN {exit !(a <= b && b <= 100 && a < 100)}' ||
    fail "bench shortlist: R@10 of K=1 ($(rk 1 10)), K=2 ($(rk 2 10)), exhaustive $(r10 0): $bs"
grep "\"shortlist\":16," <<<"$bs" | grep -q '"top1_same":100.00' || fail "bench shortlist: K=16 top-1: $bs"
grep "\"shortlist\":2," <<<"$bs" | grep -q '"queries":80,' || fail "bench shortlist: 80 queries: $bs"
set +e
msg=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$T/q.txt" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "3 lines, but the index holds 16 images x 5 captions" <<<"$msg" || fail "bench shortlist, wrong captions: $st $msg"
# a queries file that is missing or empty; shortlist sizes that are not sizes
for case in "$T/none.txt:cannot open" "/dev/null:no queries"; do
    set +e
    msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --queries "${case%%:*}" 2>&1); st=$?
    set -e
    [ $st -eq 1 ] && grep -q -- "${case#*:}" <<<"$msg" || fail "search --queries ${case%%:*}: $st $msg"
done
set +e
msg=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$D/test_caps.txt" --shortlist 5,x 2>&1); st=$?
set -e
[ $st -eq 2 ] && grep -q "is not a list of up to" <<<"$msg" || fail "bench shortlist --shortlist 5,x: $st $msg"
# a blank query line, and a blank line among bench shortlist's captions, are errors naming the line
printf 'a dog\n  \na cat\n' > "$T/blank.txt"
set +e
msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --queries "$T/blank.txt" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "blank.txt: line 2: blank caption" <<<"$msg" || fail "search, a blank query line: $st $msg"
sed '7s/.*/ /' "$D/test_caps.txt" > "$T/caps_blank.txt"
set +e
msg=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$T/caps_blank.txt" --queries 2 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "caps_blank.txt: line 7: blank caption" <<<"$msg" || fail "bench shortlist, a blank line: $st $msg"
# region files: the wrong rank shows the shape found; more regions than the attention takes are refused
npy() {  # FILE SHAPE FLOATS: a float32 .npy of zeros
    local h="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
    while [ $(((10 + ${#h} + 1) % 64)) -ne 0 ]; do h="$h "; done
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(((${#h} + 1) % 256)))\\x$(printf %02x $(((${#h} + 1) / 256)))";
      printf '%s\n' "$h"; head -c $((4 * $3)) /dev/zero; } > "$1"
}
npy "$T/rank2.npy" "(4, 2048)" 8192
npy "$T/many.npy" "(1, 1025, 32)" 32800
for case in "index --output $T/x.safetensors --images $T/rank2.npy:rank2.npy: expected region features of shape (images, regions, dims), got shape (4, 2048)" \
            "score --captions $T/q.txt --output $T/x.npy --images $T/many.npy:many.npy: 1025 regions per image (shape (1, 1025, 32)), more than the limit of 1024"; do
    set +e
    # shellcheck disable=SC2086
    msg=$("$B" ${case%%:*} --checkpoint "$C" 2>&1); st=$?
    set -e
    [ $st -eq 1 ] && grep -qF -- "${case#*:}" <<<"$msg" || fail "${case%% *} with a bad region file: $st $msg"
done
# a vocabulary of another size is refused, not read as the model's
printf '%s' '{"word2idx":{"<pad>":0,"<start>":1,"<end>":2,"<unk>":3},"idx2word":{"0":"<pad>","1":"<start>","2":"<end>","3":"<unk>"},"idx":4}' > "$T/v4.json"
set +e
msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --vocab-path "$T/v4.json" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "v4.json has 4 words but .* was trained with" <<<"$msg" || fail "search, another vocabulary: $st $msg"
# image query over the indexed captions
out=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --image-row 2 --top-k 3)
[ "$(grep -c '^[123] ' <<<"$out")" -eq 3 ] || fail "image query: $out"
# another model's index is refused
set +e
msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$T/b/model_best.safetensors" --query "$q" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "was not made with" <<<"$msg" || fail "mismatched checkpoint: $st $msg"
echo "search: OK"

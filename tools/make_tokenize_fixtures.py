#!/usr/bin/python3
"""Writes the tokenizer fixtures under tests/fixtures/tokenize/ with NLTK 3.8 (dev time only).

Each line is treated as SCAN treats a caption: the file is read in binary, split on b"\\n",
stripped (bytes.strip(): ASCII whitespace), lowercased on bytes A-Z only (Python 2's
str.lower on a byte string), decoded as UTF-8 and given to NLTKWordTokenizer().tokenize
(= word_tokenize(line, preserve_line=True): no Punkt sentence splitting).

Outputs:
  sentences.expected.txt   NLTK's tokens for sentences.txt, space-joined, one line per line
  <name>.diff.txt          for each shared caption file: a header line
                             "lines\\t<N>\\tfnv1a64\\t<16 hex digits>"
                           (FNV-1a 64 of the whole expected output: for every line, its tokens
                           joined by single spaces, then "\\n"), then one line
                             "<0-based line index>\\t<tokens joined by single spaces>"
                           for each line whose tokens differ from line.lower().split() (ASCII
                           lowercase, split on ASCII whitespace).

  --c-tables               instead prints the PCRE2 class bodies for Python's \\w, \\d and \\s
                           (re on str) as C string literals, for src/text/tokenize.c.

Usage: /usr/bin/python3 tools/make_tokenize_fixtures.py [--shared ../shared] [--c-tables]
"""
import argparse
import os
import re
import sys

ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")

CAPTION_FILES = [
    ("f30k_test", "data/f30k_precomp/test_caps.txt"),
    ("f30k_dev", "data/f30k_precomp/dev_caps.txt"),
    ("coco_testall", "data/coco_precomp/testall_caps.txt"),
    ("coco_test", "data/coco_precomp/test_caps.txt"),
]


def read_lines(path):
    """Lines as Python 2's `for line in open(path, 'rb')` gives them, each strip()ped."""
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.strip() for p in parts]


def fnv1a64(data, h=0xCBF29CE484222325):
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def nltk_tokens(tok, raw):
    return tok.tokenize(raw.translate(ASCII_LOWER).decode("utf-8"))


def class_ranges(pred):
    out, start = [], None
    for c in range(0x110001):
        ok = c < 0x110000 and pred(chr(c))
        if ok and start is None:
            start = c
        elif not ok and start is not None:
            out.append((start, c - 1))
            start = None
    return out


def pcre_char(c):
    if c < 0x80 and (chr(c).isalnum() or c == 0x5F):
        return chr(c)
    return "\\\\x{%x}" % c


def print_c_tables():
    for name, rx in (("PY_W", r"\w"), ("PY_D", r"\d"), ("PY_S", r"\s")):
        pat = re.compile(rx)
        ranges = class_ranges(lambda ch: pat.match(ch) is not None)
        items = []
        for a, b in ranges:
            if a == b:
                items.append(pcre_char(a))
            elif b == a + 1:
                items.append(pcre_char(a) + pcre_char(b))
            else:
                items.append(pcre_char(a) + "-" + pcre_char(b))
        print("/* Python %s (re on str, Unicode %s): %d ranges */" % (rx, __import__("unicodedata").unidata_version, len(ranges)))
        print("#define %s \\" % name)
        line = '    "'
        for it in items:
            if len(line) + len(it) > 96:
                print(line + '" \\')
                line = '    "'
            line += it
        print(line + '"')
        print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None, help="the shared folder (default: ../shared from the repository root)")
    ap.add_argument("--c-tables", action="store_true")
    args = ap.parse_args()
    if args.c_tables:
        print_c_tables()
        return 0

    import nltk
    from nltk.tokenize import NLTKWordTokenizer

    if nltk.__version__ != "3.8":
        print("warning: NLTK %s, the fixtures are defined by NLTK 3.8" % nltk.__version__, file=sys.stderr)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shared = args.shared or os.path.join(root, "..", "shared")
    outdir = os.path.join(root, "tests", "fixtures", "tokenize")
    os.makedirs(outdir, exist_ok=True)
    tok = NLTKWordTokenizer()

    lines = read_lines(os.path.join(outdir, "sentences.txt"))
    with open(os.path.join(outdir, "sentences.expected.txt"), "wb") as f:
        for raw in lines:
            f.write(" ".join(nltk_tokens(tok, raw)).encode("utf-8") + b"\n")
    print("sentences: %d lines" % len(lines))

    for name, rel in CAPTION_FILES:
        path = os.path.join(shared, rel)
        if not os.path.exists(path):
            print("skip %s: %s not found" % (name, path), file=sys.stderr)
            continue
        lines = read_lines(path)
        h = 0xCBF29CE484222325
        diffs = []
        for i, raw in enumerate(lines):
            joined = " ".join(nltk_tokens(tok, raw)).encode("utf-8")
            h = fnv1a64(joined + b"\n", h)
            plain = b" ".join(raw.translate(ASCII_LOWER).split())
            if joined != plain:
                diffs.append(b"%d\t%s\n" % (i, joined))
        with open(os.path.join(outdir, name + ".diff.txt"), "wb") as f:
            f.write(b"lines\t%d\tfnv1a64\t%016x\n" % (len(lines), h))
            f.writelines(diffs)
        print("%s: %d lines, %d differ from lower().split(), fnv1a64 %016x" % (name, len(lines), len(diffs), h))
    return 0


if __name__ == "__main__":
    sys.exit(main())

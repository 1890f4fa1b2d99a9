// The page of uarda serve: plain JavaScript, no library, no build step. It reads /api/info once,
// runs the query of its URL (/?q=TEXT&k=K, or /?image=ROW&k=K; &hover=WORD lights that word's
// attention up from the start), and draws each result's picture with its regions as boxes.
// Everything the server sends is put into the page as text (textContent), never as HTML.
"use strict";

const state = { info: null, pinned: null };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(x, digits) {
  return Number(x).toFixed(digits === undefined ? 4 : digits);
}

function setStatus(text, isError) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.classList.toggle("error", !!isError);
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
  return body;
}

// ---- the model line and the threshold -----------------------------------------------------

function showInfo(info) {
  const g = info.gallery;
  document.getElementById("model").textContent =
    info.model.toUpperCase() + " \u00b7 " + info.direction + " \u00b7 " + g.images + " images, " +
    g.captions + " captions, " + g.regions + " regions each \u00b7 index " + g.fingerprint;
  const t = document.getElementById("threshold");
  if (info.thresholded) {
    t.hidden = false;
    t.textContent = "relevance threshold t = " + fmt(info.threshold) +
      ": a word whose best region similarity with an image is \u2264 t is judged irrelevant to it and skipped";
  } else {
    t.hidden = true;   // SCAN: every word attends; there is no threshold to show
  }
}

// ---- pictures -------------------------------------------------------------------------------

// boxes in percent of the picture: the server's (unit square, or pixels of the picture), or a
// grid of the regions when it has none
function boxesPercent(boxes, regions, natural) {
  const out = [];
  if (!boxes) {
    const cols = Math.ceil(Math.sqrt(regions)), rows = Math.ceil(regions / cols);
    for (let i = 0; i < regions; i++)
      out.push([(i % cols) / cols * 100, Math.floor(i / cols) / rows * 100, 100 / cols, 100 / rows]);
    return out;
  }
  let w = 1, h = 1;
  if (!state.info.pictures.boxes_unit) {
    if (natural) { w = natural[0]; h = natural[1]; }
    else for (const b of boxes) { w = Math.max(w, b[2]); h = Math.max(h, b[3]); }
  }
  for (const b of boxes)
    out.push([b[0] / w * 100, b[1] / h * 100, (b[2] - b[0]) / w * 100, (b[3] - b[1]) / h * 100]);
  return out;
}

function placeBoxes(frame, boxes, natural) {
  const p = boxesPercent(boxes, state.info.gallery.regions, natural);
  frame.querySelectorAll(".box").forEach((b, i) => {
    b.style.left = p[i][0] + "%";
    b.style.top = p[i][1] + "%";
    b.style.width = p[i][2] + "%";
    b.style.height = p[i][3] + "%";
  });
}

function picture(item) {
  const fig = el("figure", "picture");
  const frame = el("div", "frame");
  if (item.image_url) {
    const img = el("img");
    img.alt = "image " + item.image;
    img.src = item.image_url;
    if (item.boxes && !state.info.pictures.boxes_unit)
      img.addEventListener("load", () => placeBoxes(frame, item.boxes, [img.naturalWidth, img.naturalHeight]));
    frame.appendChild(img);
  } else {
    frame.classList.add("blank");
  }
  for (let r = 0; r < state.info.gallery.regions; r++) {
    const b = el("div", "box");
    b.dataset.region = r;
    b.appendChild(el("span", "w"));
    frame.appendChild(b);
  }
  placeBoxes(frame, item.boxes, null);
  fig.appendChild(frame);
  return fig;
}

// ---- attention ------------------------------------------------------------------------------

// lights result li's boxes up by word w's weights (null: off)
function light(li, w) {
  const boxes = li.querySelectorAll(".box");
  const list = li.querySelector(".attended");
  li.querySelectorAll(".word").forEach((c) => c.classList.toggle("on", w !== null && Number(c.dataset.word) === w));
  boxes.forEach((b) => { b.classList.remove("lit"); b.style.removeProperty("--w"); b.firstChild.textContent = ""; });
  list.textContent = "";
  if (w === null) return;
  const a = li.result.attention ? li.result.attention[w] : null;
  const word = li.words[w].text;
  if (!a) return;
  if (!a.relevant) {
    list.textContent = "\u201c" + word + "\u201d is skipped: its best similarity " + fmt(a.max_sim) +
      " \u2264 t = " + fmt(state.info.threshold);
    return;
  }
  const max = Math.max(...a.weights) || 1;
  const order = a.weights.map((v, r) => [v, r]).sort((x, y) => y[0] - x[0]);
  order.forEach(([v, r], i) => {
    const b = boxes[r];
    b.classList.add("lit");
    b.style.setProperty("--w", (v / max).toFixed(3));
    if (i < 4 && v >= 0.05) b.firstChild.textContent = fmt(v, 2);   // the weights of the strongest
  });
  list.textContent = "\u201c" + word + "\u201d attends to " +
    order.slice(0, 3).filter((x) => x[0] > 0).map((x) => "region " + x[1] + " (" + fmt(x[0], 2) + ")").join(", ");
}

function wordChips(li, words, attention) {
  const p = el("p", "words");
  words.forEach((w, i) => {
    const c = el("span", "word", w.text);
    c.dataset.word = i;
    c.tabIndex = 0;
    if (i === 0 || i === words.length - 1) c.classList.add("special");
    if (w.known === false) { c.classList.add("unknown"); c.title = "not in the vocabulary: read as <unk>"; }
    const a = attention ? attention[i] : null;
    if (a && !a.relevant) {
      c.classList.add("skipped");
      c.title = "irrelevant to this image: best similarity " + fmt(a.max_sim) + " \u2264 t";
    } else if (a) {
      c.title = "best similarity " + fmt(a.max_sim) + "; attends most to region " + a.region + " (" + fmt(a.weight, 2) + ")";
    }
    const on = () => light(li, i), off = () => light(li, state.pinned === null ? null : state.pinned);
    c.addEventListener("mouseenter", on);
    c.addEventListener("focus", on);
    c.addEventListener("mouseleave", off);
    c.addEventListener("blur", off);
    p.appendChild(c);
  });
  return p;
}

// the query's words above the results: hovering one lights it up in every result
function queryWords(words) {
  const q = document.getElementById("query");
  q.textContent = "";
  q.hidden = false;
  words.forEach((w, i) => {
    const c = el("span", "word", w.text);
    if (i === 0 || i === words.length - 1) c.classList.add("special");
    if (w.known === false) c.classList.add("unknown");
    c.tabIndex = 0;
    const all = (x) => document.querySelectorAll("#results .result").forEach((li) => light(li, x));
    c.addEventListener("mouseenter", () => all(i));
    c.addEventListener("focus", () => all(i));
    c.addEventListener("mouseleave", () => all(state.pinned));
    c.addEventListener("blur", () => all(state.pinned));
    q.appendChild(c);
  });
}

// ---- answers --------------------------------------------------------------------------------

function showText(ans, hover) {
  const ol = document.getElementById("results");
  ol.textContent = "";
  queryWords(ans.words);
  ans.results.forEach((r) => {
    const li = el("li", "result");
    li.dataset.image = r.image;
    li.result = r;
    li.words = ans.words;
    li.appendChild(picture(r));
    const meta = el("div", "meta");
    meta.appendChild(el("span", "rank", "#" + r.rank));
    meta.appendChild(el("span", "score", fmt(r.score)));
    const link = el("a", "image-link", r.name ? r.name : "image " + r.image);
    link.href = "/?image=" + r.image;
    link.title = "the captions that best match this image";
    meta.appendChild(link);
    li.appendChild(meta);
    li.appendChild(wordChips(li, ans.words, r.attention));
    li.appendChild(el("p", "attended"));
    ol.appendChild(li);
  });
  ol.dataset.count = ans.results.length;
  setStatus(ans.scored + " images scored in " + fmt(ans.seconds * 1e3, 1) + " ms");
  if (hover) {
    const w = ans.words.findIndex((x, i) => i > 0 && x.text === hover);
    if (w > 0) {
      state.pinned = w;
      document.querySelectorAll("#results .result").forEach((li) => light(li, w));
    }
  }
}

function showImage(ans) {
  const ol = document.getElementById("results");
  ol.textContent = "";
  ol.classList.add("captions");
  const q = document.getElementById("query");
  q.textContent = "";
  q.hidden = false;
  const head = el("div", "image-query");
  head.appendChild(picture(Object.assign({ image: ans.image_row }, ans)));
  head.appendChild(el("p", "", "captions that best match image " + ans.image_row + (ans.name ? " (" + ans.name + ")" : "")));
  q.appendChild(head);
  ans.results.forEach((r) => {
    const li = el("li", "caption-result");
    li.appendChild(el("span", "rank", "#" + r.rank));
    li.appendChild(el("span", "score", fmt(r.score)));
    const t = el("a", "caption", r.text !== undefined ? r.text : "caption " + r.caption);
    if (r.text !== undefined) t.href = "/?q=" + encodeURIComponent(r.text);
    li.appendChild(t);
    ol.appendChild(li);
  });
  ol.dataset.count = ans.results.length;
  setStatus(ans.scored + " captions scored in " + fmt(ans.seconds * 1e3, 1) + " ms");
}

async function run() {
  const params = new URLSearchParams(location.search);
  const q = params.get("q"), image = params.get("image"), k = params.get("k") || "10";
  document.getElementById("k").value = k;
  try {
    state.info = await getJSON("/api/info");
    showInfo(state.info);
    const ol = document.getElementById("results");
    if (q !== null && q.trim() !== "") {
      document.getElementById("q").value = q;
      ol.dataset.state = "searching";
      setStatus("searching\u2026");
      const ans = await getJSON("/api/search?attention=1&k=" + encodeURIComponent(k) + "&q=" + encodeURIComponent(q));
      showText(ans, params.get("hover"));
    } else if (image !== null) {
      ol.dataset.state = "searching";
      const ans = await getJSON("/api/search?k=" + encodeURIComponent(k) + "&image=" + encodeURIComponent(image));
      showImage(ans);
    }
    ol.dataset.state = "done";
  } catch (e) {
    setStatus(e.message, true);
    document.getElementById("results").dataset.state = "error";
  }
  document.body.dataset.state = "done";
}

document.addEventListener("DOMContentLoaded", run);

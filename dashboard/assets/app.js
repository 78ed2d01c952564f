// jetpool dashboard: polls the JSON API next to this page and redraws.
// Every URL is relative, so the page works under any path prefix.
"use strict";

(function () {
  const pollEvery = 1500;
  const chartPoints = 60;
  const csrf = document.querySelector('meta[name="jetpool-csrf"]').content;
  const $ = (id) => document.getElementById(id);

  const state = {
    batchCursors: [0], // "before" of each page seen; the last is the current page
    batchNext: 0,
    batch: "",         // the batch whose detail is open
    deadQueue: "",
    deadFrom: 1,
    deadNext: 0,
    confirming: "",    // the action awaiting confirmation
    samples: [],       // {t, done}: completed jobs over time
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "width") e.style.width = v; // CSSOM: the CSP forbids style attributes
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const num = (v, field) => el("td", { class: "num", "data-field": field }, v);
  const fill = (tbody, rows) => tbody.replaceChildren(...rows);

  async function api(path, opts) {
    const res = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, opts));
    const body = await res.json().catch(() => ({ error: res.status + " " + res.statusText }));
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }
  function post(path, body) {
    return api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Jetpool-Csrf": csrf },
      body: JSON.stringify(body),
    });
  }
  function showError(err) {
    $("error").hidden = !err;
    $("error").textContent = err ? String(err.message || err) : "";
  }

  function ago(t) {
    const s = Math.max(0, Math.round((Date.now() - new Date(t).getTime()) / 1000));
    return s + " s ago";
  }
  function preview(b64) {
    if (!b64) return "";
    let text;
    try { text = atob(b64); } catch (e) { return "(unreadable)"; }
    if (/[\x00-\x08\x0e-\x1f]/.test(text)) return "(" + text.length + " bytes, binary)";
    return text.length > 120 ? text.slice(0, 120) + "…" : text;
  }

  function drawQueues(st) {
    fill($("queues").tBodies[0], st.queues.map((q) => el("tr", { "data-queue": q.queue },
      el("td", {}, q.queue + (q.consumer ? "" : " (no consumer)")),
      num(q.pending, "pending"), num(q.in_flight, "in_flight"), num(q.awaiting_redelivery, "awaiting_redelivery"), num(q.running, "running"),
      num(q.dead, "dead"), num(q.processes, "processes"), num(q.slots, "slots"),
      num(Math.round(q.per_minute), "per_minute"))));
  }

  function drawChart(st) {
    const done = st.workers.reduce((n, w) => n + (w.completed || 0), 0);
    const now = Date.now() / 1000;
    state.samples.push({ t: now, done: done });
    if (state.samples.length > chartPoints + 1) state.samples.shift();
    const rates = [];
    for (let i = 1; i < state.samples.length; i++) {
      const a = state.samples[i - 1], b = state.samples[i];
      rates.push(Math.max(0, (b.done - a.done) / Math.max(0.001, b.t - a.t)));
    }
    const top = Math.max(1, ...rates);
    const pts = rates.map((r, i) => (i * 600 / (chartPoints - 1)).toFixed(1) + "," + (115 - r / top * 110).toFixed(1));
    const svg = $("chart");
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.replaceChildren(line);
    $("chart-span").textContent = Math.round(now - state.samples[0].t);
    $("chart-now").textContent = rates.length ? rates[rates.length - 1].toFixed(1) : "0";
  }

  function drawWorkers(st) {
    fill($("workers").tBodies[0], st.workers.map((w) => el("tr", {},
      el("td", {}, w.id), el("td", {}, w.queue), el("td", {}, w.host), num(w.pid, "pid"),
      num(w.concurrency, "slots"), num(w.running, "running"), num(Math.round(w.per_minute), "per_minute"),
      el("td", {}, ago(w.last_seen)))));
  }

  function replicas(rs) {
    return (rs || []).map((r) => r.name + (r.offline ? " offline" : r.current ? " current" : " lagging " + r.lag)).join(", ") || "-";
  }
  function drawCluster(st) {
    const c = st.cluster;
    let meta = "meta leader: unknown (" + (c.meta_error || "") + ")";
    if (c.meta) meta = c.meta.leader ? "meta leader: " + c.meta.leader + " of " + c.meta.cluster_size + ", peers " + replicas(c.meta.replicas)
      : c.meta.cluster_size > 1 ? "no meta leader among " + c.meta.cluster_size + " servers (no quorum?)" : "a single server, no cluster";
    $("cluster-summary").textContent = "cluster " + (c.name || "-") + " · connected to " + c.server + " · " + meta;
    fill($("streams").tBodies[0], [
      ...(c.streams || []).map((s) => el("tr", {}, el("td", {}, s.stream), num(s.messages, "messages"), el("td", {}, s.leader || "-"), el("td", {}, replicas(s.replicas)))),
      ...(c.consumers || []).map((q) => el("tr", {}, el("td", {}, "consumer " + q.queue), el("td", {}), el("td", {}, q.leader || "-"), el("td", {}, replicas(q.replicas)))),
    ]);
  }

  function progress(r) {
    const total = Math.max(1, r.expected);
    return el("div", { class: "bar", title: r.completed + " completed, " + r.dead + " dead of " + r.expected },
      el("span", { class: "ok", width: (100 * r.completed / total) + "%" }),
      el("span", { class: "dead", width: (100 * r.dead / total) + "%" }));
  }
  function batchState(r) { return r.done ? "done" : r.sealed ? "running" : "enqueuing"; }

  async function drawBatches() {
    const before = state.batchCursors[state.batchCursors.length - 1];
    const page = await api("api/batches?limit=20" + (before ? "&before=" + before : ""));
    state.batchNext = page.next;
    fill($("batches").tBodies[0], page.reports.map((r) => el("tr", {
      class: "clickable" + (r.batch === state.batch ? " selected" : ""), "data-batch": r.batch,
      onclick: () => { state.batch = r.batch; refresh(); },
    },
      el("td", {}, r.batch), el("td", {}, r.queue), el("td", {}, progress(r)),
      num(r.expected, "expected"), num(r.completed, "completed"), num(r.dead, "dead"), num(r.pending, "pending"),
      el("td", {}, batchState(r)))));
    $("batches-newer").disabled = state.batchCursors.length < 2;
    $("batches-older").disabled = !page.next;
    $("batches-page").textContent = "page " + state.batchCursors.length + " · about " + page.total + " kept";
  }

  async function drawBatch() {
    $("batch").hidden = !state.batch;
    if (!state.batch) return;
    const r = await api("api/batch?id=" + encodeURIComponent(state.batch));
    $("batch-id").textContent = r.batch;
    const stages = new Set([r.queue, ...Object.keys(r.pending_by_queue || {}), ...Object.keys(r.dead_by_queue || {})]);
    fill($("batch-stages").tBodies[0], [...stages].map((q) => el("tr", {},
      el("td", {}, q), num((r.pending_by_queue || {})[q] || 0, "pending"), num((r.dead_by_queue || {})[q] || 0, "dead"))));
    $("batch-summary").textContent = batchState(r) + " · " + r.completed + " of " + r.expected + " completed, " + r.dead + " dead, " +
      r.pending + " pending · " + (r.elapsed_ms / 1000).toFixed(1) + " s" +
      (r.not_enqueued ? " · " + r.not_enqueued + " not enqueued" : "") + (r.may_repeat ? " · " + r.may_repeat + " may have run twice" : "");
  }

  function drawDeadQueues(st) {
    const queues = st.queues.filter((q) => q.dead > 0).map((q) => q.queue);
    if (state.deadQueue && !queues.includes(state.deadQueue)) queues.push(state.deadQueue);
    if (!state.deadQueue && queues.length) state.deadQueue = queues[0];
    const sel = $("dead-queue");
    const want = queues.join("\n");
    if (sel.dataset.queues !== want) {
      sel.dataset.queues = want;
      sel.replaceChildren(...queues.map((q) => el("option", { value: q }, q)));
    }
    sel.value = state.deadQueue;
  }

  function confirmButton(key, label, run) {
    if (state.confirming !== key) {
      return el("button", { type: "button", "data-action": key, onclick: () => { state.confirming = key; refresh(); } }, label);
    }
    return el("span", {}, "sure? ",
      el("button", { type: "button", class: "danger", "data-confirm": key, onclick: async () => {
        state.confirming = "";
        try { await run(); showError(null); } catch (e) { showError(e); }
        refresh();
      } }, "yes, " + label),
      " ",
      el("button", { type: "button", onclick: () => { state.confirming = ""; refresh(); } }, "no"));
  }

  async function drawDead() {
    const tbody = $("dead").tBodies[0];
    $("purge-box").replaceChildren();
    if (!state.deadQueue) {
      fill(tbody, []);
      $("dead-total").textContent = "no dead letters";
      return;
    }
    const q = state.deadQueue;
    const page = await api("api/dead?limit=50&queue=" + encodeURIComponent(q) + "&from=" + state.deadFrom);
    state.deadNext = page.next;
    $("dead-total").textContent = page.total + " dead in " + q;
    if (page.total > 0) {
      $("purge-box").replaceChildren(confirmButton("purge:" + q, "purge all " + page.total, () => post("api/dead/purge", { queue: q })));
    }
    fill(tbody, page.letters.map((l) => el("tr", { "data-job": l.job_id },
      el("td", {}, l.job_id), el("td", {}, l.batch), num(l.attempts, "attempts"),
      el("td", {}, new Date(l.dead_at).toLocaleString()), el("td", { class: "wrap" }, l.error),
      el("td", { class: "wrap" }, preview(l.payload)),
      el("td", {}, confirmButton("retry:" + l.seq, "retry", () => post("api/dead/retry", { queue: q, seq: l.seq }))))));
    $("dead-first").disabled = state.deadFrom <= 1;
    $("dead-next").disabled = !page.next;
  }

  async function findJob(id) {
    const loc = await api("api/job?id=" + encodeURIComponent(id));
    $("job").hidden = false;
    $("job-id").textContent = loc.job_id;
    const said = {
      pending: "waiting for a worker (never delivered yet)",
      in_flight: "delivered to a worker, not acknowledged: waiting in a worker, or for its retry",
      running: "running now",
      dead: "dead-lettered",
      gone: "not in the work stream: completed, or never enqueued",
    };
    const fields = [["state", said[loc.state] || loc.state]];
    if (loc.queue) fields.push(["queue", loc.queue], ["batch", loc.batch], ["sequence", loc.seq]);
    if (loc.state === "pending") fields.push(["attempts so far", "0"]);
    if (loc.state === "in_flight" || loc.state === "running") fields.push(["attempts so far", "at least 1"]);
    if (loc.worker) fields.push(["worker", loc.worker.id + " on " + loc.worker.host + ", pid " + loc.worker.pid]);
    if (loc.enqueued) fields.push(["enqueued", new Date(loc.enqueued).toLocaleString()]);
    if (loc.letter) fields.push(["attempts", loc.letter.attempts], ["error", loc.letter.error], ["payload", preview(loc.letter.payload)]);
    fields.push(["messages read", loc.scanned]);
    $("job-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k }, v)]));
    $("job").dataset.state = loc.state;
    $("job-fields").querySelector("dd").className = "state-" + loc.state;
  }

  let timer = 0;
  let running = false;
  async function refresh() {
    clearTimeout(timer);
    if (running) { timer = setTimeout(refresh, 50); return; }
    running = true;
    try {
      const st = await api("api/status");
      drawQueues(st);
      drawChart(st);
      drawWorkers(st);
      drawCluster(st);
      drawDeadQueues(st);
      await Promise.all([drawBatches(), drawBatch(), drawDead()]);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
      showError(null);
    } catch (e) {
      showError(e);
    } finally {
      running = false;
      timer = setTimeout(refresh, pollEvery);
    }
  }

  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = $("search-id").value.trim();
    if (id) findJob(id).then(() => showError(null), showError);
  });
  $("dead-queue").addEventListener("change", (ev) => { state.deadQueue = ev.target.value; state.deadFrom = 1; refresh(); });
  $("dead-first").addEventListener("click", () => { state.deadFrom = 1; refresh(); });
  $("dead-next").addEventListener("click", () => { if (state.deadNext) { state.deadFrom = state.deadNext; refresh(); } });
  $("batches-older").addEventListener("click", () => { if (state.batchNext) { state.batchCursors.push(state.batchNext); refresh(); } });
  $("batches-newer").addEventListener("click", () => { if (state.batchCursors.length > 1) { state.batchCursors.pop(); refresh(); } });
  refresh();
})();

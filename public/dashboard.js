"use strict";
// GlitchBuster's dashboard: one snapshot a second over server-sent events (/api/live), and
// the REST API for what an operator does. The admin token stays in this tab's sessionStorage.

const HISTORY_SECONDS = 300;
const COLORS = { created: "#57606a", confirmed: "#1a7f37", rejected: "#9a6700", cancelled: "#8250df", dead: "#cf222e" };
const history = [];
const $ = (selector) => document.querySelector(selector);

const tokenInput = $("#token");
tokenInput.value = sessionStorage.getItem("glitchbuster-admin-token") || "";
tokenInput.addEventListener("input", () => sessionStorage.setItem("glitchbuster-admin-token", tokenInput.value));

function say(text) {
  $("#message").textContent = text;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  for (const content of cells) tr.append(content instanceof Node ? content : cell(content));
  return tr;
}

async function admin(method, path, body) {
  if (!tokenInput.value) {
    say("This needs the admin token (top right).");
    return undefined;
  }
  const response = await fetch(`/api${path}`, {
    method,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${tokenInput.value}` },
    body: JSON.stringify(body ?? {}),
  });
  const answer = await response.json();
  say(response.ok ? "" : `${response.status} ${answer.type}: ${answer.message}`);
  return response.ok ? answer : undefined;
}

function renderCounts(orders, deadCount) {
  const counts = $("#counts");
  counts.replaceChildren();
  if (!orders) return counts.append("orders service unavailable");
  const total = Object.values(orders).reduce((sum, count) => sum + count, 0);
  for (const [name, value] of [["created", total], ...Object.entries(orders), ["dead-lettered", deadCount]]) {
    const span = document.createElement("span");
    span.dataset.count = name;
    span.innerHTML = `${name} <b></b>`;
    span.querySelector("b").textContent = String(value);
    counts.append(span);
  }
}

/** Per-second rates from successive snapshots, drawn as one line per outcome. */
function renderChart() {
  const svg = $("#chart");
  const rates = history.slice(1).map((point, index) => {
    const before = history[index];
    const seconds = Math.max(0.001, (point.at - before.at) / 1000);
    return Object.fromEntries(Object.keys(COLORS).map((key) => [key, Math.max(0, (point[key] - before[key]) / seconds)]));
  });
  const top = Math.max(1, ...rates.flatMap((rate) => Object.values(rate)));
  const x = (index) => (600 * (HISTORY_SECONDS - rates.length + index)) / HISTORY_SECONDS;
  svg.replaceChildren();
  for (const [key, color] of Object.entries(COLORS)) {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", rates.map((rate, index) => `${x(index)},${155 - (150 * rate[key]) / top}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", color);
    line.setAttribute("stroke-width", "2");
    svg.append(line);
  }
  const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
  label.setAttribute("x", "4");
  label.setAttribute("y", "14");
  label.setAttribute("font-size", "12");
  label.textContent = `${top.toFixed(1)}/s`;
  svg.append(label);
}

function renderBreakers(resilience) {
  const body = $("#breakers tbody");
  body.replaceChildren();
  if (!resilience) return body.append(row("resilience report unavailable"));
  // The breakers that guard the saga's calls: a participant's own actions and the order steps.
  const interesting = resilience.breakers.filter((breaker) => /^(antifraud|payments|orders)\.(check|authorize|void|confirm|reject)$/.test(breaker.endpoint.action));
  for (const breaker of interesting) {
    body.append(row(breaker.caller, breaker.endpoint.action, cell(breaker.state, `state-${breaker.state}`), breaker.count, breaker.failures));
  }
  const busy = resilience.bulkheads.filter((bulkhead) => bulkhead.inFlight > 0 || bulkhead.queued > 0);
  $("#bulkheads").textContent = busy.length
    ? `bulkheads: ${busy.map((bulkhead) => `${bulkhead.action}@${bulkhead.nodeID} ${bulkhead.inFlight} in flight, ${bulkhead.queued} queued`).join("; ")}`
    : "bulkheads: idle";
}

function renderChaos(chaos) {
  const box = $("#chaos");
  if (box.contains(document.activeElement)) return; // do not overwrite what is being typed
  box.replaceChildren();
  for (const { service, reading } of chaos) {
    const div = document.createElement("form");
    div.className = "chaos-row";
    div.dataset.service = service;
    if ("error" in reading) {
      div.textContent = `${service}: ${reading.error}`;
    } else {
      div.innerHTML = `<strong></strong>
        <label>failure <input name="failureRate" type="number" min="0" max="1" step="0.1"></label>
        <label>latency ms <input name="latencyMs" type="number" min="0" step="50"></label>
        <select name="mode"><option>error</option><option>timeout</option></select>
        <button type="submit">Set</button>`;
      div.querySelector("strong").textContent = service;
      div.failureRate.value = reading.failureRate;
      div.latencyMs.value = reading.latencyMs;
      div.mode.value = reading.mode;
      div.addEventListener("submit", async (event) => {
        event.preventDefault();
        await admin("PUT", `/chaos/${service}`, {
          failureRate: Number(div.failureRate.value),
          latencyMs: Number(div.latencyMs.value),
          mode: div.mode.value,
        });
        div.querySelector("button").blur();
      });
    }
    box.append(div);
  }
}

function renderDeadLetters(deadLetters) {
  const body = $("#dlq tbody");
  body.replaceChildren();
  $("#dlq-depth").textContent = deadLetters ? String(deadLetters.length) : "?";
  for (const entry of deadLetters ?? []) {
    const actions = document.createElement("td");
    const replay = document.createElement("button");
    replay.textContent = "Replay";
    replay.addEventListener("click", () => admin("POST", `/dlq/${entry.id}/replay`));
    const purge = document.createElement("button");
    purge.textContent = "Purge";
    purge.addEventListener("click", () => {
      const reason = prompt("Why purge this message? (kept with it)");
      if (reason) admin("DELETE", `/dlq/${entry.id}`, { reason });
    });
    actions.append(replay, " ", purge);
    body.append(row(entry.orderId, entry.eventType, entry.originQueue, entry.attempts, entry.lastError, entry.lastFailureAt, actions));
  }
}

function button(text, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

/** An admin action that needs a reason, asked for (and kept with the action's record). */
function withReason(question, act) {
  return () => {
    const reason = prompt(question);
    if (reason) act(reason);
  };
}

function renderStuckSagas(sagas) {
  const body = $("#stuck tbody");
  body.replaceChildren();
  if (!sagas) return body.append(row("saga list unavailable"));
  for (const saga of sagas) {
    const actions = document.createElement("td");
    const path = `/sagas/${encodeURIComponent(saga.orderId)}`;
    actions.append(
      button("Retry", withReason("Why retry this saga's step now? (kept with the saga)", (reason) => admin("POST", `${path}/retry`, { reason }))),
      " ",
      button("Cancel", withReason("Why cancel this saga? Its steps are compensated and the order rejected. (kept with the saga)", (reason) => admin("POST", `${path}/cancel`, { reason }))),
    );
    const overdue = saga.deadline && Date.parse(saga.deadline) < Date.now();
    body.append(row(saga.orderId, saga.step, saga.why, saga.startedAt, cell(saga.deadline, overdue ? "overdue" : ""), actions));
  }
}

function renderGroups(groups) {
  const body = $("#dlq-groups tbody");
  body.replaceChildren();
  for (const group of groups ?? []) {
    const actions = document.createElement("td");
    actions.append(
      button("Replay group", () => admin("POST", "/dlq/replay", { group: group.group }).then(sayJob)),
      " ",
      button("Purge group", withReason("Why purge every message of this group? (kept with each)", (reason) => admin("POST", `/dlq/groups/${encodeURIComponent(group.group)}/purge`, { reason }).then(sayJob))),
    );
    body.append(row(`${group.errorType}: ${group.message}`, `${group.originQueue} / ${group.eventType}`, group.count, group.firstSeen, group.lastSeen, actions));
  }
}

function renderJobs(jobs) {
  const box = $("#dlq-jobs");
  box.replaceChildren();
  for (const job of jobs ?? []) {
    const line = document.createElement("p");
    line.className = "job";
    line.dataset.job = job.id;
    const done = job.replayed + job.purged + job.skipped + job.failed;
    const bar = document.createElement("progress");
    bar.max = Math.max(1, job.total);
    bar.value = done;
    const text = document.createElement("span");
    const handled = job.kind === "purge" ? `${job.purged} purged` : `${job.replayed} sent`;
    text.textContent = ` ${job.kind} job ${job.status}: ${done}/${job.total} (${handled}, ${job.skipped} skipped, ${job.failed} failed) by ${job.by}`;
    line.append(bar, text);
    if (job.status === "running") line.append(" ", button("Cancel", () => admin("POST", `/dlq/jobs/${job.id}/cancel`, {})));
    box.append(line);
  }
}

function sayJob(job) {
  if (job) say(`${job.kind} job ${job.id} started: ${job.total} dead letters, ${job.rate}/s`);
}

function renderRedeliveries(redeliveries) {
  const body = $("#redeliveries tbody");
  body.replaceChildren();
  for (const redelivery of redeliveries.slice(0, 10)) {
    const waited = redelivery.waitedMs == null ? "" : `${redelivery.waitedMs} ms`;
    body.append(row(redelivery.at.slice(11, 23), redelivery.orderId, redelivery.topic, redelivery.attempt, waited));
  }
}

$("#replay-all").addEventListener("click", async () => sayJob(await admin("POST", "/dlq/replay")));

$("#saga-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const view = $("#saga");
  const response = await fetch(`/api/sagas/${encodeURIComponent($("#saga-order").value.trim())}`);
  const saga = await response.json();
  view.replaceChildren();
  if (!response.ok) return (view.textContent = `${saga.type}: ${saga.message}`);
  const summary = document.createElement("p");
  summary.textContent = `${saga.status}${saga.outcome ? `: ${saga.outcome}` : ""}${saga.reason ? ` (${saga.reason})` : ""}${saga.deadline ? `, deadline ${saga.deadline}` : ""}`;
  const table = document.createElement("table");
  const start = Date.parse(saga.startedAt);
  for (const { event: name, at, ...details } of saga.timeline) {
    table.append(row(`+${Date.parse(at) - start} ms`, name, Object.entries(details).map(([key, value]) => `${key}=${value}`).join(" ")));
  }
  view.append(summary, table, traceView(saga.traceId));
});

/** The order's trace as a waterfall, fetched again by its button: spans reach the collector about a second after they end. */
function traceView(traceId) {
  const box = document.createElement("div");
  box.id = "trace";
  const heading = document.createElement("h3");
  if (typeof traceId !== "string") {
    heading.textContent = "Trace";
    const none = document.createElement("p");
    none.className = "small";
    none.textContent = "No trace: this saga started before tracing, or with TRACING=off.";
    box.append(heading, none);
    return box;
  }
  const body = document.createElement("div");
  // Only the latest answer is drawn: a slow first fetch must not overwrite a refresh's.
  let latest = 0;
  const load = async () => {
    const request = ++latest;
    const response = await fetch(`/api/traces/${encodeURIComponent(traceId)}`);
    const answer = await response.json();
    if (request === latest) drawTrace(body, response, answer);
  };
  const refresh = button("Refresh", load);
  refresh.id = "trace-refresh";
  const id = document.createElement("code");
  id.textContent = traceId;
  heading.append("Trace ", id, " ", refresh);
  box.append(heading, body);
  load();
  return box;
}

function drawTrace(body, response, answer) {
  body.replaceChildren();
  if (response.status === 404) {
    const waiting = document.createElement("p");
    waiting.className = "small";
    waiting.textContent = "No span of this trace has reached the collector yet (they arrive about a second after they end): refresh.";
    return body.append(waiting);
  }
  if (!response.ok) return (body.textContent = `${answer.type}: ${answer.message}`);
  body.append(waterfall(answer));
}

const spanLabel = (span) => (span.service ? `${span.service} · ${span.name}` : span.name);
const attributeLines = (attributes) => Object.entries(attributes).map(([key, value]) => `${key}=${value}`);

/** The spans depth first, each child under its parent in the order they started; a span whose parent is not in the trace is a root. */
function nested(spans) {
  const byId = new Map(spans.map((span) => [span.id, span]));
  const children = new Map();
  for (const span of spans) {
    const parent = span.parentId !== null && byId.has(span.parentId) ? span.parentId : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(span);
  }
  const ordered = [];
  const seen = new Set();
  const visit = (span, depth) => {
    if (seen.has(span.id)) return;
    seen.add(span.id);
    ordered.push({ span, depth });
    for (const child of children.get(span.id) ?? []) visit(child, depth + 1);
  };
  for (const root of children.get(null) ?? []) visit(root, 0);
  // Spans caught in a loop of parents (a broken report) have no root above them: shown all the same.
  for (const span of spans) visit(span, 0);
  return ordered;
}

function waterfall(trace) {
  const { spans } = trace;
  const start = Math.min(...spans.map((span) => span.startTime));
  const end = Math.max(...spans.map((span) => span.startTime + span.durationMs));
  const total = Math.max(end - start, 0.001);
  const percent = (time) => `${(100 * (time - start)) / total}%`;
  const labels = new Map(spans.map((span) => [span.id, spanLabel(span)]));

  const chart = document.createElement("div");
  chart.className = "waterfall";
  const scale = document.createElement("div");
  scale.className = "span-row scale";
  scale.append(textElement("div", "span-label", `${spans.length} spans${trace.droppedSpans ? `, ${trace.droppedSpans} dropped` : ""}`));
  scale.append(textElement("div", "span-track", `0 … ${total.toFixed(1)} ms`), textElement("div", "span-duration", ""));
  chart.append(scale);

  for (const { span, depth } of nested(spans)) {
    const line = document.createElement("div");
    line.className = span.error ? "span-row error" : "span-row";
    line.dataset.spanId = span.id;
    line.dataset.depth = String(depth);

    const label = textElement("div", "span-label", spanLabel(span));
    label.style.paddingLeft = `${depth * 1.2}em`;
    label.title = [`${span.kind} span ${span.id} on ${span.nodeId}`, ...attributeLines(span.attributes)].join("\n");
    for (const link of span.links) {
      const linked = link.traceId === span.traceId ? labels.get(link.spanId) : undefined;
      const retryOf = textElement("span", "span-link", `↻ retry of ${linked ?? link.spanId}`);
      retryOf.title = [`span ${link.spanId} of trace ${link.traceId}`, ...attributeLines(link.attributes)].join("\n");
      label.append(retryOf);
    }

    const track = document.createElement("div");
    track.className = "span-track";
    const bar = document.createElement("div");
    bar.className = "span-bar";
    bar.style.left = percent(span.startTime);
    bar.style.width = `max(2px, ${(100 * span.durationMs) / total}%)`;
    bar.title = span.error ? `${span.error.name}: ${span.error.message}` : `${span.durationMs.toFixed(2)} ms`;
    track.append(bar);
    for (const spanEvent of span.events) {
      const mark = textElement("span", "span-event", "◆");
      mark.dataset.event = spanEvent.name;
      mark.style.left = percent(spanEvent.time);
      mark.title = [`${spanEvent.name} at +${(spanEvent.time - start).toFixed(1)} ms`, ...attributeLines(spanEvent.attributes)].join("\n");
      track.append(mark);
    }

    line.append(label, track, textElement("div", "span-duration", `${span.durationMs.toFixed(1)} ms`));
    chart.append(line);
  }
  return chart;
}

function textElement(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

const feed = new EventSource("/api/live");
feed.onopen = () => ($("#connection").textContent = "live");
feed.onerror = () => ($("#connection").textContent = "reconnecting…");
feed.onmessage = (message) => {
  const snapshot = JSON.parse(message.data);
  const orders = snapshot.orders ?? { pending: 0, confirmed: 0, rejected: 0, cancelled: 0 };
  const dead = snapshot.deadLetters?.length ?? 0;
  history.push({ at: Date.parse(snapshot.at), created: Object.values(orders).reduce((sum, count) => sum + count, 0), ...orders, dead });
  if (history.length > HISTORY_SECONDS + 1) history.shift();
  renderCounts(snapshot.orders, dead);
  renderChart();
  renderBreakers(snapshot.resilience);
  renderChaos(snapshot.chaos);
  renderDeadLetters(snapshot.deadLetters);
  renderGroups(snapshot.deadLetterGroups);
  renderJobs(snapshot.replayJobs);
  renderStuckSagas(snapshot.stuckSagas);
  renderRedeliveries(snapshot.redeliveries);
};

/* One session: its figures, per-turn chart, per-provider breakdown and transcript with the
   summary folds marked where they happened. */
"use strict";

(() => {
  const { api, el, fmt, setFigure, chart, status } = Dash;
  const PAGE = 500;

  async function allMessages(id) {
    const messages = [];
    for (let offset = 0; ; offset += PAGE) {
      const page = await api(`/api/sessions/${encodeURIComponent(id)}/history?limit=${PAGE}&offset=${offset}`);
      page.messages.forEach((m, i) => messages.push({ ...m, seq: offset + i + 1 }));
      if (!page.has_more) return messages;
    }
  }

  function toolCalls(message) {
    const calls = message.tool_calls || [];
    if (!calls.length) return null;
    return el("ul", { class: "tool-calls", "aria-label": "Tool calls" }, calls.map((call) =>
      el("li", {}, [el("strong", { text: "Tool call " }), el("code", { text: `${call.name}(${call.arguments})` })])));
  }

  function messageItem(message) {
    const who = message.role === "user" ? "User" : `Assistant · ${message.provider || ""} ${message.model || ""}`;
    const figures = message.role === "assistant"
      ? ` · ${fmt.int((message.input_tokens || 0) + (message.output_tokens || 0))} tokens · ${fmt.usd(message.cost)}`
      : "";
    return el("li", { class: message.role, "data-seq": message.seq }, [
      el("div", { class: "meta" }, [
        `#${message.seq} ${who}${figures} · `,
        el("time", { datetime: message.timestamp, text: fmt.time(message.timestamp) }),
        message.interrupted ? " · interrupted" : "",
      ]),
      el("p", { class: "text", text: message.content }),
      toolCalls(message),
    ]);
  }

  function foldItem(fold) {
    return el("li", { class: "fold", "data-fold": fold.version }, [
      el("span", { class: "fold-label", text: "Summary" }),
      `v${fold.version} folded messages ${fold.from_seq}–${fold.to_seq} (${fold.provider} ${fold.model})`,
      el("details", {}, [el("summary", { text: "Summary text" }), el("p", { class: "text", text: fold.content })]),
    ]);
  }

  function transcript(messages, folds) {
    const list = document.getElementById("transcript");
    const byEnd = new Map();
    for (const fold of folds) byEnd.set(fold.to_seq, [...(byEnd.get(fold.to_seq) || []), fold]);
    const items = [];
    for (const message of messages) {
      items.push(messageItem(message));
      for (const fold of byEnd.get(message.seq) || []) items.push(foldItem(fold));
    }
    list.replaceChildren(...items);
  }

  function figures(metrics) {
    const turns = Object.values(metrics.by_provider).reduce((sum, p) => sum + p.turns, 0);
    setFigure("fig-turns", turns, fmt.int(turns));
    setFigure("fig-tokens", metrics.total_tokens, fmt.int(metrics.total_tokens));
    setFigure("fig-cost", metrics.total_cost, fmt.usd(metrics.total_cost));
    setFigure("fig-summaries", metrics.summary_count, fmt.int(metrics.summary_count));
    setFigure("fig-avg", metrics.average_response_time, fmt.seconds(metrics.average_response_time));
    const body = document.querySelector("#by-provider tbody");
    body.replaceChildren(...Object.entries(metrics.by_provider).map(([name, p]) => el("tr", {}, [
      el("th", { scope: "row", text: name }),
      el("td", { class: "num", text: fmt.int(p.turns) }),
      el("td", { class: "num", text: fmt.int(p.tokens) }),
      el("td", { class: "num", text: fmt.usd(p.cost) }),
      el("td", { class: "num", text: fmt.seconds(p.average_response_time) }),
    ])));
  }

  function perTurnChart(calls) {
    const turns = calls.filter((c) => c.kind === "turn");
    chart(document.getElementById("chart-turns"), turns.map((_, i) => i + 1), [
      { label: "Cost in dollars", values: turns.map((c) => c.cost) },
      { label: "Latency (s)", values: turns.map((c) => c.latency), scale: "y2" },
    ], { time: false, xLabel: "Turn call", range: [0.5, turns.length + 0.5] });
  }

  async function load() {
    const id = new URLSearchParams(location.search).get("id");
    if (!id) { status("No session id in the address.", true); return; }
    document.getElementById("session-id").textContent = id;
    document.title = `Session ${id} · Orchestrator dashboard`;
    const encoded = encodeURIComponent(id);
    const [metrics, trail, messages] = await Promise.all([
      api(`/api/sessions/${encoded}/metrics`),
      api(`/api/metrics/sessions/${encoded}/trail`),
      allMessages(id),
    ]);
    figures(metrics);
    perTurnChart(trail.calls);
    transcript(messages, trail.summaries);
    document.getElementById("transcript").dataset.loaded = "true";
  }

  document.addEventListener("DOMContentLoaded", async () => {
    try {
      await load();
      status("");
    } catch (error) {
      if (!(error instanceof Dash.Unauthorized)) status(`Could not load: ${error.message}`, true);
    }
  });
})();

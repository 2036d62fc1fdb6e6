/* The playground: a conversation over WS /api/ws, the reply streaming into the page. */
"use strict";

(() => {
  const { api, el, fmt, status } = Dash;
  let socket = null;
  let sessionId = null;
  let replying = null;
  let catalogue = [];

  function fillModels() {
    const chosen = catalogue.find((p) => p.name === document.getElementById("provider").value);
    const models = document.getElementById("model");
    models.replaceChildren(...(chosen ? chosen.models : []).map((m) =>
      el("option", { value: m, text: m, selected: chosen && m === chosen.default_model })));
  }

  async function loadProviders() {
    catalogue = (await api("/api/providers")).providers;
    const select = document.getElementById("provider");
    select.replaceChildren(...catalogue.map((p) =>
      el("option", { value: p.name, text: p.is_configured ? p.name : `${p.name} (not configured)`, disabled: !p.is_configured })));
    const first = catalogue.find((p) => p.is_configured);
    if (first) select.value = first.name;
    fillModels();
  }

  function append(role, text) {
    const body = el("p", { class: "text", text });
    const item = el("li", { class: role }, [el("div", { class: "meta", text: role === "user" ? "You" : "Assistant" }), body]);
    document.getElementById("conversation").append(item);
    return { item, body };
  }

  function onFrame(frame) {
    if (frame.type === "session") {
      sessionId = frame.session_id;
      document.getElementById("session").textContent = sessionId;
    } else if (frame.type === "delta" && replying) {
      replying.body.textContent += frame.text;
    } else if (frame.type === "tool_call" && replying) {
      replying.item.append(el("p", { class: "meta", text: `Tool call ${frame.name}(${frame.arguments})` }));
    } else if (frame.type === "done" && replying) {
      const m = frame.metadata;
      replying.item.querySelector(".meta").textContent =
        `Assistant · ${frame.agent_used} ${frame.model_used} · ${fmt.int(m.tokens_used)} tokens · ${fmt.usd(m.cost_estimate)}`;
      replying.item.dataset.done = "true";
      replying = null;
      document.getElementById("send").disabled = false;
      status("");
    } else if (frame.type === "error") {
      status(frame.error.message, true);
      if (replying) replying.item.remove();
      replying = null;
      document.getElementById("send").disabled = false;
    }
  }

  function connect() {
    return new Promise((resolve, reject) => {
      if (socket && socket.readyState === WebSocket.OPEN) { resolve(socket); return; }
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}/api/ws`);
      socket.addEventListener("open", () => {
        if (Dash.key()) socket.send(JSON.stringify({ type: "auth", token: Dash.key() }));
        resolve(socket);
      });
      socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
      socket.addEventListener("close", (event) => {
        if (event.code === 4401) Dash.showKeyPrompt();
        socket = null;
      });
      socket.addEventListener("error", () => reject(new Error("the connection failed")));
    });
  }

  async function send(event) {
    event.preventDefault();
    const input = document.getElementById("message");
    const message = input.value.trim();
    if (!message || replying) return;
    document.getElementById("send").disabled = true;
    append("user", message);
    replying = append("assistant", "");
    input.value = "";
    status("Waiting for the reply…");
    try {
      (await connect()).send(JSON.stringify({
        type: "turn",
        session_id: sessionId,
        message,
        agent_config: { provider: document.getElementById("provider").value, model: document.getElementById("model").value },
      }));
    } catch (error) {
      onFrame({ type: "error", error: { message: error.message } });
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("provider").addEventListener("change", fillModels);
    document.getElementById("composer").addEventListener("submit", send);
    document.getElementById("new-conversation").addEventListener("click", () => {
      sessionId = null;
      document.getElementById("session").textContent = "new";
      document.getElementById("conversation").replaceChildren();
    });
    try {
      await loadProviders();
    } catch (error) {
      if (!(error instanceof Dash.Unauthorized)) status(`Could not load providers: ${error.message}`, true);
    }
  });
})();

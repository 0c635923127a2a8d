// MangaAssist chat window: speaks the contract's WebSocket (/ws) — query → token* → done | error,
// then possibly a guardrail verdict on an answer already shown (which then leaves the screen).
// Dependency-free; all text goes through textContent (never innerHTML), so answers and
// product data cannot inject markup.
"use strict";

(() => {
  const SEGMENTS = [
    // The span hierarchy (docs/decisions/0008-budgets-pools-breakers.md), in order; depth indents the label.
    ["manga-assist-request", 0], ["request-validation", 1], ["intent-classification", 1],
    ["parallel-data-retrieval", 1], ["query-embedding", 2], ["vector-search", 2],
    ["dynamodb-session-load", 2], ["cache-lookup", 1], ["prompt-assembly", 1],
    ["bedrock-invoke", 1], ["model-inference", 2], ["guardrails-check", 1], ["response-streaming", 1],
  ];
  const ERRORS = {
    invalid_json: "The message could not be read.",
    invalid_request: "Something in the question or filters isn't valid.",
    too_large: "Your message is too long.",
    rate_limited: "Too many questions at once — please wait a moment.",
    unauthorized: "There is a problem with your sign-in.",
    unavailable: "The assistant is temporarily unavailable.",
    timeout: "The answer took too long.",
    stream_interrupted: "The answer was cut off before it finished.",
    internal: "Something went wrong on our side.",
    connection_lost: "The connection dropped before the answer finished.",
  };
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 8000;
  const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]/;

  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const form = $("ask");
  const question = $("question");
  const sendButton = $("send");
  const conn = $("conn");
  const sessionLabel = $("session");

  const turns = new Map(); // request_id → turn (in send order)
  // Finished turns, for a guardrail verdict that arrives after `done` (the newest few suffice).
  const answered = new Map();
  const ANSWERED_KEPT = 50;
  let socket = null;
  let attempt = 0;
  let reconnectTimer = null;
  let token = "";
  let counter = 0;
  let sessionId = readSession();

  function readSession() {
    try { return sessionStorage.getItem("mangaassist.session") || null; } catch { return null; }
  }

  function setSession(id) {
    sessionId = id;
    try {
      if (id) sessionStorage.setItem("mangaassist.session", id);
      else sessionStorage.removeItem("mangaassist.session");
    } catch { /* storage disabled: the session still lasts as long as the page */ }
    sessionLabel.textContent = id ? `Conversation ${id.slice(0, 10)}…` : "New conversation";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function langOf(text) { return JAPANESE.test(text) ? "ja" : "en"; }

  // --- connection -------------------------------------------------------------------

  function showState(state, text) {
    conn.dataset.state = state;
    conn.textContent = text;
    sendButton.disabled = state !== "open";
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ws` + (token ? `?token=${encodeURIComponent(token)}` : "");
    showState("connecting", attempt ? `Reconnecting… (attempt ${attempt + 1})` : "Connecting…");
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      if (socket !== ws) return;
      attempt = 0;
      showState("open", "Connected");
    };
    ws.onmessage = (event) => { if (socket === ws) receive(event.data); };
    ws.onclose = () => {
      if (socket !== ws) return; // replaced on purpose (new token)
      socket = null;
      for (const turn of turns.values()) fail(turn, "connection_lost", "Ask again once the connection is back.", true);
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    attempt += 1;
    showState("reconnecting", `Connection lost — reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt})`);
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    const old = socket;
    socket = null;
    if (old) old.close(1000, "new sign-in");
    attempt = 0;
    connect();
  }

  // --- turns --------------------------------------------------------------------------

  function send(text, filters) {
    // Not connected: the text stays in the box and the status line says why.
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    counter += 1;
    const requestId = `r-${Date.now().toString(36)}-${counter}`;
    const frame = { type: "query", request_id: requestId, text };
    if (sessionId) frame.session_id = sessionId;
    if (filters) frame.filters = filters;
    // Send before building the turn's DOM (which forces a layout): frames for it arrive in later tasks.
    socket.send(JSON.stringify(frame));
    turns.set(requestId, addTurn(requestId, text, filters));
    return true;
  }

  function addTurn(requestId, text, filters) {
    const item = el("li", "turn");
    item.dataset.requestId = requestId;
    const q = el("p", "question", text);
    q.lang = langOf(text);
    const answer = el("div", "answer");
    answer.setAttribute("aria-busy", "true");
    const body = el("p", "answer-text");
    const caret = el("span", "typing", "Thinking…");
    answer.append(body, caret);
    item.append(el("h3", "visually-hidden", "You asked"), q, answer);
    log.append(item);
    item.scrollIntoView({ block: "end" });
    return { requestId, text, filters, item, answer, body, caret, tokens: 0 };
  }

  function receive(data) {
    let frame;
    try { frame = JSON.parse(data); } catch { return; }
    let turn = frame.request_id ? turns.get(frame.request_id) : undefined;
    if (!turn && frame.type === "guardrail") turn = answered.get(frame.request_id);
    // Errors about a frame the server could not read carry no request id: oldest pending turn.
    if (!turn && frame.type === "error") turn = turns.values().next().value;
    if (!turn) return;
    if (frame.type === "token") {
      if (turn.flagged) return;
      turn.tokens += 1;
      turn.body.append(frame.text);
      if (turn.tokens === 1) {
        turn.caret.textContent = "";
        turn.caret.className = "typing streaming";
        turn.body.lang = langOf(frame.text);
      }
    } else if (frame.type === "done") {
      finish(turn, frame);
    } else if (frame.type === "error") {
      fail(turn, frame.code, frame.message, frame.retryable);
    } else if (frame.type === "guardrail") {
      withdraw(turn, frame);
    }
  }

  // The output check flagged an answer the customer may already be reading: its text
  // leaves the screen and a notice says why (a flagged answer is never shown as if clean).
  function withdraw(turn, verdict) {
    if (verdict.action !== "flagged" || turn.flagged) return;
    turn.flagged = true;
    turn.item.classList.add("flagged");
    turn.body.replaceChildren();
    turn.body.removeAttribute("lang");
    const notice = el("div", "guardrail");
    notice.setAttribute("role", "alert");
    notice.append(el("strong", "", "This answer was withdrawn by our safety check."));
    notice.append(" ", el("span", "detail", "Please ask again or rephrase your question."));
    turn.answer.prepend(notice);
  }

  function finish(turn, done) {
    turns.delete(turn.requestId);
    answered.set(turn.requestId, turn);
    if (answered.size > ANSWERED_KEPT) answered.delete(answered.keys().next().value);
    turn.caret.remove();
    turn.item.classList.add("done");
    if (done.language) turn.body.lang = done.language;
    if (done.session_id) setSession(done.session_id);
    turn.answer.append(badges(done));
    if (Array.isArray(done.products) && done.products.length) turn.answer.append(cards(done.products));
    if (done.timings_ms) turn.answer.append(chart(done.timings_ms));
    turn.answer.setAttribute("aria-busy", "false");
  }

  function fail(turn, code, message, retryable) {
    turns.delete(turn.requestId);
    turn.caret.remove();
    const partial = turn.tokens > 0;
    turn.item.classList.add("failed");
    if (partial) {
      turn.answer.classList.add("incomplete");
      turn.answer.prepend(el("p", "incomplete-mark", "Incomplete answer — the text below was cut off."));
    }
    const box = el("div", "error");
    box.setAttribute("role", "alert");
    box.dataset.code = code || "internal";
    box.append(el("strong", "", ERRORS[code] || ERRORS.internal));
    if (message) box.append(" ", el("span", "detail", message));
    box.append(" ", el("span", "code", `(${code || "internal"})`));
    if (retryable) {
      const retry = el("button", "secondary retry", "Ask again");
      retry.type = "button";
      retry.addEventListener("click", () => {
        if (send(turn.text, turn.filters)) retry.disabled = true;
      });
      box.append(" ", retry);
    }
    turn.answer.append(box);
    turn.answer.setAttribute("aria-busy", "false");
  }

  // --- rendering of the done frame ---------------------------------------------------

  function badges(done) {
    const row = el("ul", "badges");
    row.setAttribute("aria-label", "About this answer");
    const add = (label, value, kind) => {
      const b = el("li", `badge ${kind || ""}`.trim());
      b.append(el("span", "badge-label", `${label} `), el("span", "badge-value", String(value)));
      row.append(b);
    };
    add("intent", done.intent);
    add("model", done.model);
    add("cache", done.cache_hit ? "hit" : "miss", done.cache_hit ? "hit" : "");
    if (done.backend) add("backend", done.backend);
    if (Array.isArray(done.fallbacks) && done.fallbacks.length) add("fallback", done.fallbacks.join(", "), "warn");
    return row;
  }

  const yen = (n) => `¥${Number(n).toLocaleString("en-US")}`;

  function cards(products) {
    const list = el("ul", "cards");
    list.setAttribute("aria-label", "Products");
    for (const p of products) {
      const card = el("li", "card");
      card.dataset.asin = p.asin || "";
      if (p.language) card.lang = p.language;
      card.append(el("h4", "card-title", p.title || p.asin || "untitled"));
      if (Array.isArray(p.authors) && p.authors.length) card.append(el("p", "card-author", p.authors.join(", ")));
      const facts = el("p", "card-facts");
      if (p.price_jpy !== undefined) facts.append(el("span", "price", yen(p.price_jpy)));
      const stock = p.in_stock
        ? el("span", "stock in", p.stock_count ? `In stock (${p.stock_count})` : "In stock")
        : el("span", "stock out", "Out of stock");
      facts.append(stock);
      if (p.volumes) facts.append(el("span", "volumes", `${p.volumes} vol.`));
      if (p.language) facts.append(el("span", "edition", p.language === "ja" ? "日本語版" : "English edition"));
      card.append(facts);
      if (Array.isArray(p.genres) && p.genres.length) card.append(el("p", "card-genres", p.genres.join(" · ")));
      if (p.synopsis_short) card.append(el("p", "card-synopsis", p.synopsis_short));
      list.append(card);
    }
    return list;
  }

  function chart(timings) {
    const total = Number(timings["manga-assist-request"]) || Math.max(...Object.values(timings).map(Number));
    const box = el("details", "timings");
    box.append(el("summary", "", `Where the time went: ${total.toFixed(1)} ms`));
    const table = el("table");
    const caption = el("caption", "visually-hidden", "Time per segment in milliseconds");
    table.append(caption);
    for (const [name, depth] of SEGMENTS) {
      if (!(name in timings)) continue;
      const ms = Number(timings[name]);
      const row = el("tr");
      row.dataset.segment = name;
      const label = el("th", `seg depth-${depth}`, name);
      label.scope = "row";
      const barCell = el("td", "bar-cell");
      const bar = el("span", "bar");
      // CSSOM, not a style attribute: allowed under style-src 'self'.
      bar.style.width = `${total > 0 ? Math.max(0.5, Math.min(100, (ms / total) * 100)) : 0}%`;
      barCell.append(bar);
      row.append(label, barCell, el("td", "ms", ms.toFixed(1)));
      table.append(row);
    }
    box.append(table);
    return box;
  }

  // --- input ------------------------------------------------------------------------

  function readFilters() {
    const filters = {};
    const price = $("f-price").value.trim();
    if (price !== "") filters.max_price_jpy = Number(price);
    const lang = $("f-lang").value;
    if (lang) filters.language = lang;
    if ($("f-stock").checked) filters.in_stock = true;
    return Object.keys(filters).length ? filters : null;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text) { question.focus(); return; }
    if (send(text, readFilters())) {
      question.value = "";
      $("count").textContent = "0";
    }
    question.focus();
  });

  question.addEventListener("keydown", (event) => {
    // Enter while an IME is composing (Japanese input) confirms the conversion; never send then.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  question.addEventListener("input", () => { $("count").textContent = String(question.value.length); });

  $("new-session").addEventListener("click", () => { setSession(null); question.focus(); });

  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    setSession(null); // a different customer must not continue someone else's conversation
    reconnectNow();
    question.focus();
  });

  setSession(sessionId);
  connect();
  question.focus();
})();

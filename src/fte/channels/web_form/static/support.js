// The support page (support.html): the form, then the ticket's conversation, live for as long as
// the page is open: the customer reads replies as they come, writes back, and rates the ticket
// once it is solved.
(() => {
  const STATUS_PATH = /^\/support\/tickets\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const TOKEN = /^[A-Za-z0-9_-]{1,200}$/;
  // How often the page asks for news: often while it is looked at, less when in the background.
  const POLL_MS = 2000;
  const BACKGROUND_POLL_MS = 10000;

  // A ticket's status link on this site ({path: "/support/tickets/ID", token}), or null.
  // `?ticket=` is written by whoever made the link, so a javascript: URL, another site or
  // another path must never become the page's link or fetch. Our own API's status_url may
  // name the configured public URL (FTE_PUBLIC_URL) instead of this origin: `ours` keeps
  // only its path for that one.
  function statusLink(value, ours) {
    let url;
    try { url = new URL(value, location.origin); } catch (e) { return null; }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    if (!ours && url.origin !== location.origin) return null;
    if (!STATUS_PATH.test(url.pathname)) return null;
    const token = url.searchParams.get("token");
    if (!token || !TOKEN.test(token)) return null;
    return {path: url.pathname, token: token, href: url.pathname + "?token=" + token};
  }

  function newKey() {
    return crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random());
  }

  const form = document.getElementById("support-form");
  const button = document.getElementById("submit");
  // One key per filled-in form: a double click or a retry files one ticket, not two.
  let idempotencyKey = newKey();

  // Each message under its field, the field marked invalid (aria-invalid) and described by it
  // (aria-describedby, in the page); what names no field of `scope` goes to `fallback`.
  function showErrors(scope, detail, fallback, fieldIds) {
    scope.querySelectorAll(".error").forEach(el => { el.textContent = ""; });
    scope.querySelectorAll("[aria-invalid]").forEach(el => el.removeAttribute("aria-invalid"));
    for (const item of detail || []) {
      const id = (fieldIds || {})[item.field] || item.field;
      const input = scope.querySelector("#" + CSS.escape(id));
      const el = input && document.getElementById(input.getAttribute("aria-describedby"));
      if (el) {
        input.setAttribute("aria-invalid", "true");
        el.textContent = item.reason;
      } else {
        fallback.textContent = item.reason;
      }
    }
    const first = scope.querySelector("[aria-invalid]");
    if (first) first.focus();
  }

  async function send(method, url, payload, key) {
    const headers = {"Content-Type": "application/json", "Accept": "application/json"};
    if (key) headers["Idempotency-Key"] = key;
    const res = await fetch(url, {method: method, headers: headers, body: JSON.stringify(payload)});
    const body = await res.json().catch(() => ({}));
    return {res: res, body: body};
  }

  function problems(res, body) {
    if (res.status === 429) return [{field: "body", reason: "You are sending a lot at once; please wait a minute and try again."}];
    if (Array.isArray(body.detail)) return body.detail;
    return [{field: "body", reason: "Something went wrong; please try again."}];
  }

  const UNREACHABLE = [{field: "body", reason: "We could not reach the server; please try again."}];

  // The ticket the page follows; replaced when a reply opened a new one.
  let current = null;
  let shown = "";

  function renderMessages(ticket) {
    const box = document.getElementById("messages");
    box.replaceChildren(...ticket.messages.map(m => {
      const div = document.createElement("div");
      div.className = "msg " + m.author;
      div.dataset.author = m.author;
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = (m.author === "you" ? "You" : "Support") + " · " +
                         new Date(m.created_at).toLocaleString();
      const body = document.createElement("div");
      body.textContent = m.body;  // text, never HTML
      div.append(meta, body);
      return div;
    }));
  }

  function renderRating(ticket) {
    const section = document.getElementById("rating");
    section.hidden = ticket.state !== "solved";
    const score = ticket.rating ? ticket.rating.score : 0;
    document.querySelectorAll(".score").forEach(b => {
      b.setAttribute("aria-pressed", String(Number(b.dataset.score) === score));
    });
    const comment = document.getElementById("rating-comment");
    if (ticket.rating && ticket.rating.comment && !comment.value && document.activeElement !== comment) {
      comment.value = ticket.rating.comment;  // back on the page later: what they wrote
    }
  }

  function render(ticket) {
    document.getElementById("form-section").hidden = true;
    document.getElementById("ticket-section").hidden = false;
    document.getElementById("ticket-number").textContent = "#" + ticket.number;
    document.getElementById("ticket-status").textContent = ticket.status_text;
    document.getElementById("ticket-status").dataset.state = ticket.state;
    document.getElementById("ticket-link").href = location.origin + current.href;
    // Redrawn only when something changed: a screen reader hears each new message once.
    const seen = JSON.stringify([ticket.messages, ticket.state, ticket.rating]);
    if (seen === shown) return;
    shown = seen;
    renderMessages(ticket);
    const last = ticket.messages[ticket.messages.length - 1];
    document.getElementById("waiting").hidden = !(ticket.state === "on_it" && last && last.author === "you");
    document.getElementById("reply-form").hidden = !ticket.can_reply;
    // A reply reopens a solved request: say so where the customer writes it.
    document.getElementById("reply-label").textContent = ticket.state === "solved"
      ? "Still need help? Write to us and we will reopen your request" : "Write a reply";
    document.getElementById("closed-note").hidden = ticket.can_reply;
    renderRating(ticket);
  }

  // False when the link names no request (a wrong or cut-off token): nothing to wait for.
  async function refresh() {
    const followed = current;
    try {
      const res = await fetch(followed.href, {headers: {"Accept": "application/json"}, cache: "no-store"});
      if (res.status === 404 && !shown) {
        showErrors(form, [{field: "body", reason: "We could not find this request; please check the link you were given, or send a new request."}], document.getElementById("form-error"));
        return false;
      }
      if (res.ok && followed === current) render(await res.json());
    } catch (e) { /* keep polling through a blip */ }
    return true;
  }

  // Never stops while the page is open: a person may answer hours later, the customer may
  // reply, the ticket may be solved.
  async function follow(link) {
    current = link;
    shown = "";
    while (await refresh()) {
      await new Promise(r => setTimeout(r, document.hidden ? BACKGROUND_POLL_MS : POLL_MS));
    }
  }

  function setCurrent(link) {
    current = link;
    shown = "";
    history.replaceState(null, "", "?ticket=" + encodeURIComponent(link.href));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    const data = Object.fromEntries(new FormData(form));
    if (!data.category) delete data.category;
    try {
      const {res, body} = await send("POST", "/support/submit", data, idempotencyKey);
      const link = res.ok ? statusLink(body.status_url, true) : null;
      if (link) {
        history.replaceState(null, "", "?ticket=" + encodeURIComponent(link.href));
        follow(link);
      } else {
        showErrors(form, problems(res, body), document.getElementById("form-error"));
      }
    } catch (e) {
      showErrors(form, UNREACHABLE, document.getElementById("form-error"));
    } finally {
      button.disabled = false;
    }
  });

  const replyForm = document.getElementById("reply-form");
  const replyBox = document.getElementById("reply");
  const replyButton = document.getElementById("reply-send");
  const replyError = document.getElementById("reply-error");
  let replyKey = newKey();
  replyBox.addEventListener("input", () => { replyKey = newKey(); });

  replyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    if (!replyBox.value.trim()) {
      showErrors(replyForm, [{field: "message", reason: "Please write your message"}], replyError, {message: "reply"});
      return;
    }
    replyButton.disabled = true;
    try {
      const {res, body} = await send("POST", current.path + "/replies",
                                     {token: current.token, message: replyBox.value}, replyKey);
      if (res.ok) {
        showErrors(replyForm, [], replyError);
        replyBox.value = "";
        replyKey = newKey();
        const link = statusLink(body.status_url, true);
        if (link && link.path !== current.path) setCurrent(link);
        await refresh();
      } else {
        showErrors(replyForm, problems(res, body), replyError, {message: "reply"});
      }
    } catch (e) {
      showErrors(replyForm, UNREACHABLE, replyError);
    } finally {
      replyButton.disabled = false;
    }
  });

  const ratingForm = document.getElementById("rating-form");
  const ratingComment = document.getElementById("rating-comment");
  const ratingThanks = document.getElementById("rating-thanks");
  const ratingError = document.getElementById("rating-comment-error");
  let chosen = 0;

  async function rate(score) {
    if (!current) return;
    chosen = score;
    const payload = {token: current.token, score: score};
    if (ratingComment.value.trim()) payload.comment = ratingComment.value;
    try {
      const {res, body} = await send("PUT", current.path + "/rating", payload);
      if (res.ok) {
        showErrors(ratingForm, [], ratingError);
        ratingThanks.textContent = "Thank you for your rating.";
        await refresh();
      } else {
        ratingThanks.textContent = "";
        showErrors(ratingForm, problems(res, body), ratingError, {comment: "rating-comment"});
      }
    } catch (e) {
      showErrors(ratingForm, UNREACHABLE, ratingError);
    }
  }

  document.querySelectorAll(".score").forEach(b => {
    b.addEventListener("click", () => rate(Number(b.dataset.score)));
  });
  ratingForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const pressed = document.querySelector('.score[aria-pressed="true"]');
    const score = chosen || (pressed ? Number(pressed.dataset.score) : 0);
    if (!score) {
      ratingThanks.textContent = "Please choose a rating from 1 to 5 first.";
      return;
    }
    rate(score);
  });

  // Opened from a status link (/support/tickets/ID?token=...) or resumed after submitting.
  const resume = statusLink(location.pathname.startsWith("/support/tickets/") ? location.href
                            : new URLSearchParams(location.search).get("ticket") || "", false);
  if (resume) follow(resume);
})();

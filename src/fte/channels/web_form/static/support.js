// The support page (support.html): the form, then the ticket's conversation as it arrives.
(() => {
  const STATUS_PATH = /^\/support\/tickets\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const TOKEN = /^[A-Za-z0-9_-]{1,200}$/;

  // A ticket's status path on this site ("/support/tickets/ID?token=T"), or null.
  // `?ticket=` is written by whoever made the link, so a javascript: URL, another site or
  // another path must never become the page's link or fetch. Our own API's status_url may
  // name the configured public URL (FTE_PUBLIC_URL) instead of this origin: `ours` keeps
  // only its path for that one.
  function statusPath(value, ours) {
    let url;
    try { url = new URL(value, location.origin); } catch (e) { return null; }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    if (!ours && url.origin !== location.origin) return null;
    if (!STATUS_PATH.test(url.pathname)) return null;
    const token = url.searchParams.get("token");
    if (!token || !TOKEN.test(token)) return null;
    return url.pathname + "?token=" + token;
  }

  const form = document.getElementById("support-form");
  const button = document.getElementById("submit");
  // One key per filled-in form: a double click or a retry files one ticket, not two.
  let idempotencyKey = crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random());

  function showErrors(detail) {
    document.querySelectorAll(".error").forEach(el => el.textContent = "");
    for (const item of detail || []) {
      const el = document.querySelector(`.error[data-for="${item.field}"]`) ||
                 document.getElementById("form-error");
      el.textContent = item.reason;
    }
  }

  function render(ticket, path) {
    document.getElementById("form-section").hidden = true;
    document.getElementById("ticket-section").hidden = false;
    document.getElementById("ticket-number").textContent = "#" + ticket.number;
    document.getElementById("ticket-status").textContent = ticket.status;
    document.getElementById("ticket-link").href = location.origin + path;
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
    document.getElementById("waiting").hidden = ticket.messages.some(m => m.author === "support");
  }

  async function follow(path) {
    for (;;) {
      try {
        const res = await fetch(path, {headers: {"Accept": "application/json"}});
        if (res.ok) {
          const ticket = await res.json();
          render(ticket, path);
          if (ticket.messages.some(m => m.author === "support")) return;
        }
      } catch (e) { /* keep polling through a blip */ }
      await new Promise(r => setTimeout(r, 2000));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    const data = Object.fromEntries(new FormData(form));
    if (!data.category) delete data.category;
    try {
      const res = await fetch("/support/submit", {
        method: "POST",
        headers: {"Content-Type": "application/json", "Idempotency-Key": idempotencyKey},
        body: JSON.stringify(data),
      });
      const body = await res.json().catch(() => ({}));
      const path = res.ok ? statusPath(body.status_url, true) : null;
      if (path) {
        history.replaceState(null, "", "?ticket=" + encodeURIComponent(path));
        follow(path);
      } else {
        showErrors(body.detail && Array.isArray(body.detail) ? body.detail
                   : [{field: "body", reason: body.error || "Something went wrong; please try again."}]);
      }
    } catch (e) {
      showErrors([{field: "body", reason: "We could not reach the server; please try again."}]);
    } finally {
      button.disabled = false;
    }
  });

  // Opened from a status link (/support/tickets/ID?token=...) or resumed after submitting.
  const resume = statusPath(location.pathname.startsWith("/support/tickets/") ? location.href
                            : new URLSearchParams(location.search).get("ticket") || "", false);
  if (resume) follow(resume);
})();

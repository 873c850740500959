/* The assistant's reply in the page: after the composer's "chat:sent" event, ask the reply route
 * (chatapp/ui/replies.py) to answer the stored message and show the reply as it streams in
 * (newline-delimited JSON: user, delta..., then assistant or error), as live Markdown
 * (markdown.js), until the server's final HTML (with highlighted code) replaces it.
 *
 * One reply at a time: while it streams, Send and Retry are disabled and Stop (or Esc) aborts
 * the request. The server then sees the client go and stores the partial reply as incomplete;
 * this script waits for that item (GET /t/<id>/items?after=...) and shows the stored items, so
 * the page always shows the thread in its stored order. A connection that breaks ends the same
 * way. A failed reply shows its reason and a Retry button, which asks again for the same message;
 * the last reply offers Regenerate, the same request. Either way the new reply takes the old one's
 * place in the page (the server keeps the old one as another version, or drops a failure notice).
 * Builds on window.Chat from chat.js. No inline script: the page's CSP allows only files.
 */
(function () {
  "use strict";

  var NDJSON = "application/x-ndjson";
  var current = null; // the reply streaming now: {controller, stopped}

  function csrfToken() {
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function messagesList() {
    return document.querySelector("[data-thread-messages]");
  }

  function sleep(milliseconds) {
    return new Promise(function (resolve) { window.setTimeout(resolve, milliseconds); });
  }

  // The last stored message above `element` (streamed ones have no id yet).
  function lastStoredId(element) {
    var node = element.previousElementSibling;
    while (node && !node.id) node = node.previousElementSibling;
    return node ? node.id : null;
  }

  function statusBox(element, text) {
    var box = element.querySelector(".reply-status") || document.createElement("div");
    box.className = "reply-status reply-status-incomplete";
    box.replaceChildren();
    var line = document.createElement("p");
    line.className = "reply-problem";
    line.textContent = text;
    box.appendChild(line);
    (element.querySelector(".msg-main") || element).appendChild(box);
    return box;
  }

  function retryForm(replyUrl, itemId) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = replyUrl;
    form.className = "reply-retry";
    form.setAttribute("data-retry", "");
    [["csrf_token", csrfToken()], ["item_id", itemId]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      form.appendChild(input);
    });
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "button button-quiet";
    button.textContent = "Retry";
    form.appendChild(button);
    return form;
  }

  function finished(element) {
    element.classList.remove("is-pending", "is-stopping");
    element.removeAttribute("aria-busy");
  }

  function announceReply(element) {
    var problem = element.querySelector(".reply-problem");
    var body = element.querySelector(".msg-body");
    if (problem) Chat.announce(problem.textContent);
    else if (body) Chat.announce("The assistant replied: " + body.textContent.trim());
  }

  // The reply was cut short on this side (Stop, or the connection broke). The server stores what
  // it had as incomplete once it notices the client went away; wait for that item, then show the
  // stored items in place of the streamed one.
  async function settle(element, replyUrl, itemId, afterId, note, replaced) {
    element.classList.add("is-stopping");
    statusBox(element, note);
    var list = messagesList();
    var url = list && list.dataset.itemsUrl;
    var seconds = list ? parseFloat(list.dataset.settleSeconds || "70") : 70;
    var deadline = Date.now() + seconds * 1000;
    var delay = 150;
    var problem = "";
    while (url && Date.now() < deadline) {
      try {
        var response = await fetch(url + (afterId ? "?after=" + encodeURIComponent(afterId) : ""), {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error("status " + response.status);
        var body = await response.json();
        var stored = body.items.some(function (entry) {
          // Not one of the replies this one replaces: they answer the same question.
          return entry.item.role === "assistant" && (entry.item.metadata || {}).in_reply_to === itemId
            && replaced.indexOf(entry.item.id) < 0;
        });
        if (stored) {
          var html = body.items
            .filter(function (entry) { return !document.getElementById(entry.item.id); })
            .map(function (entry) { return entry.html; })
            .join("");
          return Chat.replaceMessage(element, html);
        }
      } catch (error) {
        problem = " (" + error.message + ")"; // the server may be restarting: ask again until the deadline
      }
      await sleep(delay);
      delay = Math.min(delay * 1.5, 2000);
    }
    finished(element);
    var box = statusBox(element, "The reply was interrupted, and the page could not confirm what was saved" + problem + ". Reload the page to see it, or retry.");
    box.appendChild(retryForm(replyUrl, itemId));
    return element;
  }

  // `replaced`: ids of the stored items this reply takes the place of in the page (a regenerated
  // or retried reply, and what followed it), which the server may still list until it is stored.
  async function streamReply(replyUrl, itemId, replaced) {
    if (Chat.isReplying()) return;
    replaced = replaced || [];
    // Only the last reply of the chat offers Regenerate; this one will be the last.
    document.querySelectorAll("form[data-regenerate]").forEach(function (form) { form.remove(); });
    var element = Chat.createMessage("assistant");
    element.setAttribute("data-reply-for", itemId);
    var afterId = lastStoredId(element);
    var reply = { controller: new AbortController(), stopped: false };
    current = reply;
    Chat.setReplying(true);
    try {
      element = await run(reply, element, replyUrl, itemId, afterId, replaced);
    } finally {
      current = null;
      Chat.setReplying(false);
    }
    if (element) announceReply(element);
    Chat.scrollToLatest();
  }

  async function run(reply, element, replyUrl, itemId, afterId, replaced) {
    var body = new FormData();
    body.append("csrf_token", csrfToken());
    body.append("item_id", itemId);
    var response;
    try {
      response = await fetch(replyUrl, {
        method: "POST",
        body: body,
        headers: { Accept: NDJSON },
        credentials: "same-origin",
        signal: reply.controller.signal,
      });
    } catch (error) {
      if (reply.stopped) return settle(element, replyUrl, itemId, afterId, "Stopping…", replaced);
      finished(element);
      statusBox(element, "Could not reach the server to ask for a reply.").appendChild(retryForm(replyUrl, itemId));
      return element;
    }
    if (!response.ok) {
      var failure = await response.json().catch(function () { return null; });
      if (failure && failure.html) return Chat.replaceMessage(element, failure.html);
      finished(element);
      var reason = failure && failure.error ? failure.error.message : "The reply failed (" + response.status + ").";
      statusBox(element, reason).appendChild(retryForm(replyUrl, itemId));
      return element;
    }
    var reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    var buffer = "";
    var text = "";
    var frame = 0;
    var render = function () {
      frame = 0;
      Chat.setMessageMarkdown(element, text);
      Chat.scrollToLatest();
    };
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer += chunk.value;
        var newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          var line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (!line.trim()) continue;
          var message = JSON.parse(line);
          if (message.event === "delta") {
            text += message.data.text;
            if (!frame) frame = window.requestAnimationFrame(render);
          } else if (message.event === "assistant" || message.event === "error") {
            if (frame) window.cancelAnimationFrame(frame);
            return Chat.replaceMessage(element, message.data.html);
          }
        }
      }
    } catch (error) {
      if (frame) window.cancelAnimationFrame(frame);
      if (text) render();
      return settle(element, replyUrl, itemId, afterId, reply.stopped ? "Stopping…" : "The connection broke; checking what was saved…", replaced);
    }
    if (frame) window.cancelAnimationFrame(frame);
    if (text) render();
    return settle(element, replyUrl, itemId, afterId, "The reply ended early; checking what was saved…", replaced);
  }

  function stop() {
    if (!current || current.stopped) return false;
    current.stopped = true;
    current.controller.abort();
    Chat.announce("Stopped. The reply so far is kept.");
    return true;
  }

  function start() {
    document.addEventListener("chat:sent", function (event) {
      var detail = event.detail;
      if (!detail.response.reply_url) return;
      streamReply(detail.response.reply_url, detail.response.item.id);
    });
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-retry]");
      if (!form) return;
      event.preventDefault();
      if (Chat.isReplying()) return;
      var itemId = form.querySelector('input[name="item_id"]').value;
      var action = form.action;
      // The new reply takes the place of this one and of what followed it: the server keeps
      // them as another version (or, for a failure notice, replaces it).
      var replaced = [];
      var node = form.closest("[data-thread-messages] > *");
      while (node) {
        var next = node.nextElementSibling;
        if (node.id) replaced.push(node.id);
        node.remove();
        node = next;
      }
      if (!replaced.length) form.remove();
      streamReply(action, itemId, replaced);
    });
    document.addEventListener("click", function (event) {
      if (event.target.closest("[data-stop]")) stop();
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || event.shiftKey || event.defaultPrevented) return;
      if (document.querySelector("dialog[open], details[data-menu][open]")) return; // Esc closes those first
      if (stop()) event.preventDefault();
    });
  }

  window.Chat.stopReply = stop;

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* The assistant's reply in the page: after the composer's "chat:sent" event, ask the reply route
 * (chatapp/ui/replies.py) to answer the stored message and show the text as it streams in
 * (newline-delimited JSON: user, delta..., then assistant or error). A failed or interrupted
 * reply shows its reason and a Retry button, which asks again for the same message.
 * Builds on window.Chat from chat.js. No inline script: the page's CSP allows only files.
 */
(function () {
  "use strict";

  var NDJSON = "application/x-ndjson";

  function csrfToken() {
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  // A reply that ended without its final event (the connection broke): say so, offer a retry.
  function markInterrupted(element, replyUrl, itemId) {
    element.classList.remove("is-pending");
    var status = document.createElement("div");
    status.className = "reply-status reply-status-incomplete";
    status.setAttribute("role", "status");
    var text = document.createElement("p");
    text.textContent = "The reply was interrupted. Reload the page to see what was saved, or retry.";
    status.appendChild(text);
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
    status.appendChild(form);
    (element.querySelector(".msg-main") || element).appendChild(status);
  }

  async function streamReply(replyUrl, itemId) {
    var element = Chat.createMessage("assistant");
    element.setAttribute("data-reply-for", itemId);
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
      });
    } catch (error) {
      markInterrupted(element, replyUrl, itemId);
      return;
    }
    if (!response.ok) {
      var failure = await response.json().catch(function () { return null; });
      if (failure && failure.html) {
        Chat.replaceMessage(element, failure.html);
      } else {
        markInterrupted(element, replyUrl, itemId);
        Chat.showComposerError(failure && failure.error ? failure.error.message : "The reply failed (" + response.status + ").");
      }
      return;
    }
    var reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    var buffer = "";
    var text = "";
    var finished = false;
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
            Chat.setMessageText(element, text);
            Chat.scrollToLatest();
          } else if (message.event === "assistant" || message.event === "error") {
            element = Chat.replaceMessage(element, message.data.html);
            finished = true;
          }
        }
      }
    } catch (error) {
      finished = false;
    }
    if (!finished) markInterrupted(element, replyUrl, itemId);
    Chat.scrollToLatest();
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
      var itemId = form.querySelector('input[name="item_id"]').value;
      var action = form.action;
      form.remove(); // the failed reply stays in the thread; the new one follows it
      streamReply(action, itemId);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* Versions in the page, without reloads (each also works as a plain form, chatapp/ui/versions.py):
 *   - the arrows of `< k/n >` switch a message to another version: the server moves the chat to
 *     that branch, then the conversation is read again (the chat's page) and swapped in place,
 *     keeping the arrow that was pressed focused;
 *   - Edit turns a message of yours into a form; Send stores the edit as a new version, the
 *     conversation after it gives way to the reply to the edit (assistant.js streams it, on the
 *     "chat:sent" event), and the old branch stays a version away. Esc or Cancel leaves it.
 * One reply at a time: while a reply is written, both wait (Chat.REPLYING says so).
 * Builds on window.Chat from chat.js. No inline script: the page's CSP allows only files.
 */
(function () {
  "use strict";

  function csrfToken() {
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function messagesList() {
    return document.querySelector("[data-thread-messages]");
  }

  function busy() {
    if (!Chat.isReplying()) return false;
    Chat.showComposerError(Chat.REPLYING);
    return true;
  }

  function fail(text) {
    Chat.showComposerError(text);
    Chat.announce(text);
  }

  // -- versions --------------------------------------------------------------------------------

  // Read the chat's page again and put its conversation in place of this one.
  async function refreshConversation(url) {
    var response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) throw new Error("status " + response.status);
    var doc = new DOMParser().parseFromString(await response.text(), "text/html");
    var fresh = doc.querySelector(".conversation");
    var current = document.querySelector(".conversation");
    if (!fresh || !current) throw new Error("no conversation in the page");
    var nodes = Array.prototype.slice.call(fresh.children).map(function (node) { return document.importNode(node, true); });
    current.replaceChildren.apply(current, nodes);
    nodes.forEach(function (node) { document.dispatchEvent(new CustomEvent("chat:added", { detail: { node: node } })); });
  }

  async function switchVersion(form, button) {
    if (busy() || form.getAttribute("aria-busy") === "true") return;
    form.setAttribute("aria-busy", "true");
    var body = new FormData(form);
    body.append(button.name, button.value);
    var which = button.getAttribute("data-version");
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      var answer = await response.json().catch(function () { return null; });
      if (!response.ok || !answer || !answer.item) {
        throw new Error(answer && answer.error ? answer.error.message : "status " + response.status);
      }
      await refreshConversation(answer.thread_url);
    } catch (error) {
      form.removeAttribute("aria-busy");
      fail("Could not switch versions (" + error.message + "). Reload the page to try again.");
      return;
    }
    var shown = document.getElementById(answer.item.id);
    if (shown) {
      var again = shown.querySelector('[data-version="' + which + '"]:not(:disabled)')
        || shown.querySelector("[data-version]:not(:disabled)");
      if (again) again.focus();
      shown.scrollIntoView({ block: "nearest" });
    }
    Chat.announce("Version " + answer.item.version + " of " + answer.item.versions + ".");
  }

  // -- edit ------------------------------------------------------------------------------------

  function button(text, type, className) {
    var element = document.createElement("button");
    element.type = type;
    element.className = className;
    element.textContent = text;
    return element;
  }

  function openEditor(link) {
    var message = link.closest(".msg");
    if (!message || message.querySelector(".edit-form")) return;
    var main = message.querySelector(".msg-main");
    var shown = Array.prototype.slice.call(main.children);
    var form = document.createElement("form");
    form.className = "edit-form";
    form.method = "post";
    form.action = link.href;
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrfToken();
    var label = document.createElement("label");
    label.className = "visually-hidden";
    label.htmlFor = "edit-" + message.id;
    label.textContent = "Edit your message";
    var textarea = document.createElement("textarea");
    textarea.id = "edit-" + message.id;
    textarea.name = "content";
    textarea.required = true;
    textarea.value = message.querySelector(".msg-body").textContent;
    var error = document.createElement("p");
    error.className = "form-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    var buttons = document.createElement("div");
    buttons.className = "edit-buttons";
    var cancel = button("Cancel", "button", "button button-quiet");
    buttons.append(cancel, button("Send", "submit", "button"));
    form.append(token, label, textarea, error, buttons);
    shown.forEach(function (node) { node.hidden = true; });
    main.appendChild(form);
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);

    function close() {
      form.remove();
      shown.forEach(function (node) { node.hidden = false; });
      link.focus();
    }
    cancel.addEventListener("click", close);
    form.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close();
      } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      resend(form, message, error);
    });
  }

  async function resend(form, message, error) {
    if (busy() || form.dataset.busy) return;
    form.dataset.busy = "1";
    var response, answer;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      answer = await response.json().catch(function () { return null; });
    } catch (failure) {
      answer = null;
    } finally {
      delete form.dataset.busy;
    }
    if (!response || !response.ok || !answer || !answer.item) {
      error.textContent = (answer && answer.error ? answer.error.message : "Sending failed.") + " Your text is still here.";
      error.hidden = false;
      return;
    }
    // The edit continues the chat from here: what followed the old version leaves the page.
    var node = message;
    while (node) {
      var next = node.nextElementSibling;
      node.remove();
      node = next;
    }
    var element = Chat.appendMessage(answer.html);
    document.dispatchEvent(new CustomEvent("chat:sent", { detail: { form: form, element: element, response: answer } }));
  }

  function start() {
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-versions]");
      if (!form) return;
      event.preventDefault();
      var pressed = event.submitter || form.querySelector("[data-version]:not(:disabled)");
      if (pressed) switchVersion(form, pressed);
    });
    document.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-edit]");
      if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || !messagesList()) return;
      event.preventDefault();
      if (!busy()) openEditor(link);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* chatapp's page script. Every action also works without it (plain forms and links); this
 * file only enhances: the composer sends without a reload, and "Load earlier" / "More chats"
 * fill the page in place.
 *
 * Other scripts (the assistant's streamed reply) build on window.Chat:
 *   Chat.appendMessage(html)        add a server-rendered message (templates/_item.html)
 *   Chat.createMessage(role)        add an empty message to fill while text streams in
 *   Chat.setMessageText(el, text)   show plain text in it (escaped: textContent)
 *   Chat.replaceMessage(el, html)   swap it for the server-rendered final message
 *   Chat.showComposerError(text)    the composer's error line ("" hides it)
 * and listen for the "chat:sent" event on document, whose detail is
 *   {form, element, response: {item, html, thread, thread_url, post_url, next_item_id}}.
 */
(function () {
  "use strict";

  function messagesList() {
    return document.querySelector("[data-thread-messages]");
  }

  function elementFrom(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function scrollToLatest() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  function appendMessage(html) {
    var list = messagesList();
    if (!list) return null;
    var empty = list.querySelector("[data-empty-state]");
    if (empty) empty.remove();
    var node = elementFrom(html);
    list.appendChild(node);
    scrollToLatest();
    return node;
  }

  function createMessage(role) {
    var article = document.createElement("article");
    article.className = "msg msg-" + role + " is-pending";
    if (role === "assistant") {
      var avatar = document.createElement("div");
      avatar.className = "msg-avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = "AI";
      article.appendChild(avatar);
    }
    var body = document.createElement("div");
    body.className = "msg-body plain";
    article.appendChild(body);
    var list = messagesList();
    if (list) {
      list.appendChild(article);
      scrollToLatest();
    }
    return article;
  }

  function setMessageText(element, text) {
    element.querySelector(".msg-body").textContent = text;
  }

  function replaceMessage(element, html) {
    var node = elementFrom(html);
    element.replaceWith(node);
    return node;
  }

  function showComposerError(message, form) {
    form = form || document.querySelector("[data-composer]");
    if (!form) return;
    var line = form.querySelector(".composer-error");
    line.textContent = message;
    line.hidden = !message;
  }

  function autosize(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = textarea.scrollHeight + "px";
  }

  // The start page's composer becomes the new chat's composer once its first message is stored.
  function becomeThread(form, response) {
    form.action = response.post_url;
    var threadField = form.querySelector('input[name="thread_id"]');
    if (threadField) threadField.remove();
    var title = (response.thread && response.thread.title) || "New chat";
    history.pushState({}, "", response.thread_url);
    document.title = title + " · chatapp";
    var topbarTitle = document.querySelector(".topbar-title");
    if (topbarTitle) topbarTitle.textContent = title;
    var list = document.getElementById("sidebar-threads");
    if (!list) {
      var nav = document.querySelector(".sidebar-threads");
      var empty = nav && nav.querySelector(".sidebar-empty");
      if (empty) empty.remove();
      list = document.createElement("ul");
      list.className = "thread-list";
      list.id = "sidebar-threads";
      if (nav) nav.prepend(list);
    }
    list.prepend(elementFrom(response.sidebar_html));
  }

  async function send(form) {
    var textarea = form.querySelector("textarea");
    var button = form.querySelector('button[type="submit"]');
    if (form.dataset.busy) return;
    if (!textarea.value.trim()) {
      showComposerError("Type a message before sending.", form);
      return;
    }
    form.dataset.busy = "1";
    button.disabled = true;
    var response, body;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      body = await response.json().catch(function () { return null; });
    } catch (error) {
      showComposerError("Could not reach the server. Your message is still here: try again.", form);
      return;
    } finally {
      delete form.dataset.busy;
      button.disabled = false;
    }
    if (!response.ok || !body || !body.item) {
      var reason = body && body.error ? body.error.message : "Sending failed (" + response.status + ").";
      showComposerError(reason + " Your message is still here.", form);
      return;
    }
    showComposerError("", form);
    textarea.value = "";
    autosize(textarea);
    form.querySelector('input[name="item_id"]').value = body.next_item_id;
    if (body.sidebar_html) becomeThread(form, body);
    var element = appendMessage(body.html);
    document.dispatchEvent(new CustomEvent("chat:sent", { detail: { form: form, element: element, response: body } }));
  }

  // "Load earlier" and "More chats": fetch the link's page, move its items here, advance the link.
  async function page(link) {
    if (link.getAttribute("aria-busy") === "true") return;
    link.setAttribute("aria-busy", "true");
    var response;
    try {
      response = await fetch(link.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    } catch (error) {
      response = null;
    }
    if (!response || !response.ok) {
      window.location.href = link.href; // let the page itself show what went wrong
      return;
    }
    var doc = new DOMParser().parseFromString(await response.text(), "text/html");
    var source = doc.querySelector(link.dataset.source);
    var target = document.querySelector(link.dataset.target);
    var nodes = source ? Array.prototype.slice.call(source.children) : [];
    nodes = nodes.map(function (node) { return document.importNode(node, true); });
    if (link.dataset.insert === "prepend") {
      // Keep what the reader was looking at in place while older items appear above it.
      var heightBefore = document.documentElement.scrollHeight;
      var top = window.scrollY;
      target.prepend.apply(target, nodes);
      window.scrollTo(0, top + document.documentElement.scrollHeight - heightBefore);
    } else {
      target.append.apply(target, nodes);
    }
    var next = doc.querySelector(link.dataset.next);
    if (next) {
      link.href = next.getAttribute("href");
      link.removeAttribute("aria-busy");
    } else {
      link.remove();
    }
  }

  function start() {
    var form = document.querySelector("[data-composer]");
    if (form) {
      var textarea = form.querySelector("textarea");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        send(form);
      });
      textarea.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
      textarea.addEventListener("input", function () { autosize(textarea); });
      autosize(textarea);
      if (!location.search && messagesList() && messagesList().children.length) scrollToLatest();
    }
    document.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-pager]");
      if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      page(link);
    });
  }

  window.Chat = {
    appendMessage: appendMessage,
    createMessage: createMessage,
    setMessageText: setMessageText,
    replaceMessage: replaceMessage,
    showComposerError: showComposerError,
    scrollToLatest: scrollToLatest,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* chatapp's page script. Every action also works without it (plain forms and links); this
 * file only enhances: the composer sends without a reload (and counts characters near the
 * limit), and "Load earlier" / "More chats" fill the page in place.
 *
 * Other scripts (assistant.js streams replies, controls.js adds Copy buttons and times) build
 * on window.Chat:
 *   Chat.appendMessage(html)          add a server-rendered message (templates/_item.html)
 *   Chat.createMessage(role)          add an empty message (typing dots) to fill while text streams in
 *   Chat.setMessageMarkdown(el, text) show Markdown in it, rendered and sanitized (markdown.js)
 *   Chat.replaceMessage(el, html)     swap it for server-rendered messages (one or more)
 *   Chat.setReplying(on)              while a reply streams: Send disabled, Stop shown
 *   Chat.isReplying()                 (Chat.REPLYING says why an action waits for it)
 *   Chat.showComposerError(text)      the composer's error line ("" hides it)
 *   Chat.announce(text)               say it through the page's aria-live region
 * and listen on document for
 *   "chat:sent"   {form, element, response: {item, html, thread, thread_url, post_url,
 *                  reply_url, items_url, next_item_id}}  (form: the composer, or an edit's form)
 *   "chat:added"  {node}: a message or list was put into the page (to enhance it)
 */
(function () {
  "use strict";

  var REPLYING = "A reply is being written. Wait for it to finish, or stop it (Esc), then send.";
  var replying = false;

  function messagesList() {
    return document.querySelector("[data-thread-messages]");
  }

  function fragmentFrom(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function elementFrom(html) {
    return fragmentFrom(html).firstElementChild;
  }

  function added(node) {
    if (node) document.dispatchEvent(new CustomEvent("chat:added", { detail: { node: node } }));
  }

  function scrollToLatest() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  function removeEmptyState(list) {
    var empty = list.querySelector("[data-empty-state]");
    if (empty) empty.remove();
  }

  function appendMessage(html) {
    var list = messagesList();
    if (!list) return null;
    removeEmptyState(list);
    var node = elementFrom(html);
    list.appendChild(node);
    added(node);
    scrollToLatest();
    return node;
  }

  function createMessage(role) {
    var article = document.createElement("article");
    article.className = "msg msg-" + role + " is-pending";
    article.setAttribute("aria-busy", "true");
    if (role === "assistant") {
      var avatar = document.createElement("div");
      avatar.className = "msg-avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = "AI";
      article.appendChild(avatar);
    }
    var main = document.createElement("div");
    main.className = "msg-main";
    var body = document.createElement("div");
    body.className = "msg-body markdown";
    body.setAttribute("aria-label", role === "assistant" ? "Assistant" : "You");
    var dots = document.createElement("span");
    dots.className = "typing";
    dots.setAttribute("role", "img");
    dots.setAttribute("aria-label", "The assistant is writing");
    dots.append(document.createElement("span"), document.createElement("span"), document.createElement("span"));
    body.appendChild(dots);
    main.appendChild(body);
    article.appendChild(main);
    var list = messagesList();
    if (list) {
      removeEmptyState(list);
      list.appendChild(article);
      scrollToLatest();
    }
    return article;
  }

  function setMessageMarkdown(element, text) {
    var body = element.querySelector(".msg-body");
    body.replaceChildren(window.ChatMarkdown.render(text));
    added(element);
  }

  // Swap a streamed message for the stored one(s), as the server renders them.
  function replaceMessage(element, html) {
    var fragment = fragmentFrom(html);
    var nodes = Array.prototype.slice.call(fragment.children);
    element.replaceWith(fragment);
    nodes.forEach(added);
    return nodes[nodes.length - 1] || null;
  }

  function composer() {
    return document.querySelector("[data-composer]");
  }

  function showComposerError(message, form) {
    form = form || composer();
    if (!form) return;
    var line = form.querySelector(".composer-error");
    line.textContent = message;
    line.hidden = !message;
  }

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region) return;
    region.textContent = "";
    // A change after a tick is announced even when the text repeats.
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function setReplying(on) {
    replying = on;
    var form = composer();
    document.querySelectorAll("form[data-retry] button").forEach(function (button) { button.disabled = on; });
    if (!form) return;
    form.querySelector(".button-send").disabled = on;
    var stop = form.querySelector("[data-stop]");
    if (stop) {
      var hadFocus = document.activeElement === stop;
      stop.hidden = !on;
      if (hadFocus && !on) form.querySelector("textarea").focus(); // not lost to the page when Stop goes away
    }
    var line = form.querySelector(".composer-error");
    if (!on && line.textContent === REPLYING) showComposerError("", form);
  }

  // Characters as the server counts them: code points, and a line break as the two characters
  // (CR LF) a form sends.
  function characterCount(text) {
    var pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
    var breaks = text.match(/\n/g);
    return text.length - (pairs ? pairs.length : 0) + (breaks ? breaks.length : 0);
  }

  function updateCounter(form) {
    var textarea = form.querySelector("textarea");
    var counter = form.querySelector(".composer-count");
    var limit = parseInt(form.dataset.maxChars, 10);
    if (!counter || !limit) return 0;
    var count = characterCount(textarea.value);
    counter.hidden = count < limit * 0.9;
    counter.classList.toggle("is-over", count > limit);
    counter.textContent = count > limit
      ? (count - limit).toLocaleString("en-US") + " characters over the " + limit.toLocaleString("en-US") + " limit: shorten the message to send it."
      : count.toLocaleString("en-US") + " / " + limit.toLocaleString("en-US") + " characters";
    return count;
  }

  function autosize(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = textarea.scrollHeight + "px";
  }

  // The start page's composer becomes the new chat's composer once its first message is stored,
  // and the chat's header (title, Rename, Delete) appears.
  function becomeThread(form, response) {
    form.action = response.post_url;
    var threadField = form.querySelector('input[name="thread_id"]');
    if (threadField) threadField.remove();
    var title = (response.thread && response.thread.title) || "New chat";
    history.pushState({}, "", response.thread_url);
    document.title = title + " · chatapp";
    var topbarTitle = document.querySelector(".topbar-title");
    if (topbarTitle) topbarTitle.textContent = title;
    var messages = messagesList();
    if (messages) messages.dataset.itemsUrl = response.items_url;
    var conversation = document.querySelector(".conversation");
    if (response.header_html && conversation && !document.querySelector("[data-thread-header]")) {
      conversation.before(elementFrom(response.header_html));
    }
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
    var link = elementFrom(response.sidebar_html);
    list.prepend(link);
    added(link);
  }

  async function send(form) {
    var textarea = form.querySelector("textarea");
    var button = form.querySelector('button[type="submit"]');
    if (form.dataset.busy) return;
    if (replying) {
      showComposerError(REPLYING, form);
      return;
    }
    if (!textarea.value.trim()) {
      showComposerError("Type a message before sending.", form);
      return;
    }
    var limit = parseInt(form.dataset.maxChars, 10);
    var count = updateCounter(form);
    if (limit && count > limit) {
      showComposerError(
        "Messages are limited to " + limit.toLocaleString("en-US") + " characters; this one has " + count.toLocaleString("en-US") + ".",
        form
      );
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
      button.disabled = replying;
    }
    if (!response.ok || !body || !body.item) {
      var reason = body && body.error ? body.error.message : "Sending failed (" + response.status + ").";
      showComposerError(reason + " Your message is still here.", form);
      return;
    }
    showComposerError("", form);
    textarea.value = "";
    autosize(textarea);
    updateCounter(form);
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
    nodes.forEach(added);
    var next = doc.querySelector(link.dataset.next);
    if (next) {
      link.href = next.getAttribute("href");
      link.removeAttribute("aria-busy");
    } else {
      link.remove();
    }
  }

  function start() {
    var form = composer();
    if (form) {
      var textarea = form.querySelector("textarea");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        send(form);
      });
      textarea.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          if (replying) showComposerError(REPLYING, form);
          else form.requestSubmit();
        }
      });
      textarea.addEventListener("input", function () {
        autosize(textarea);
        updateCounter(form);
      });
      autosize(textarea);
      updateCounter(form);
      var anchored = location.hash && location.hash !== "#latest"; // an edit's Cancel, a chosen version
      if (!location.search && !anchored && messagesList() && messagesList().children.length) scrollToLatest();
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
    setMessageMarkdown: setMessageMarkdown,
    replaceMessage: replaceMessage,
    setReplying: setReplying,
    isReplying: function () { return replying; },
    REPLYING: REPLYING,
    showComposerError: showComposerError,
    scrollToLatest: scrollToLatest,
    announce: announce,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* Controls around the conversation, all enhancements (the page works without them):
 *   - Copy buttons under every message, on every code block, and beside a new API token;
 *   - relative times ("5 min ago") kept fresh, with the exact local time on hover;
 *   - keyboard shortcuts, listed in the "?" dialog: Ctrl/Cmd+Shift+O new chat, Shift+Esc the
 *     message box, Esc stops a reply (assistant.js), ? this list;
 *   - the phone's account menu closes on Esc or a click elsewhere.
 * Messages the other scripts add are enhanced on their "chat:added" event (chat.js).
 */
(function () {
  "use strict";

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // -- copy ------------------------------------------------------------------------------------

  function copyButton(label, kind) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", label);
    button.setAttribute("data-copy", kind);
    return button;
  }

  function enhance(root) {
    if (!root || !root.querySelectorAll) return;
    var messages = Array.prototype.slice.call(root.querySelectorAll(".msg-user, .msg-assistant"));
    if (root.matches && root.matches(".msg-user, .msg-assistant")) messages.push(root);
    messages.forEach(function (message) {
      var meta = message.querySelector(".msg-meta");
      var hasText = message.querySelector(".msg-body");
      if (meta && hasText && !meta.querySelector("[data-copy]")) meta.appendChild(copyButton("Copy message", "message"));
    });
    root.querySelectorAll(".markdown pre").forEach(function (pre) {
      if (pre.parentElement.classList.contains("code-block")) return;
      var block = document.createElement("div");
      block.className = "code-block";
      pre.replaceWith(block);
      block.append(copyButton("Copy code", "code"), pre);
    });
    root.querySelectorAll("[data-copy-from], [data-open-shortcuts], .js-only").forEach(function (node) {
      node.hidden = false;
    });
    root.querySelectorAll("time[data-relative]").forEach(refreshTime);
  }

  function textToCopy(button) {
    var kind = button.getAttribute("data-copy");
    if (button.hasAttribute("data-copy-from")) return document.querySelector(button.getAttribute("data-copy-from")).value;
    if (kind === "code") return button.parentElement.querySelector("pre").textContent;
    var message = button.closest(".msg");
    var source = message.querySelector("template.msg-source");
    if (source) return source.content.textContent; // the assistant's Markdown as written
    return message.querySelector(".msg-body").textContent;
  }

  // Outside a secure context (plain http to a non-local host) there is no clipboard API.
  function legacyCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var copied = document.execCommand("copy");
    area.remove();
    if (!copied) throw new Error("the browser refused to copy");
  }

  async function copy(button) {
    var text = textToCopy(button);
    try {
      if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
      else legacyCopy(text);
    } catch (error) {
      button.textContent = "Copy failed";
      window.Chat.announce("Copying failed: " + error.message);
      return;
    }
    button.textContent = "Copied";
    button.classList.add("is-copied");
    window.Chat.announce("Copied to the clipboard.");
    window.setTimeout(function () {
      button.textContent = "Copy";
      button.classList.remove("is-copied");
    }, 2000);
  }

  // -- times -----------------------------------------------------------------------------------

  // The same wording as chatapp/ui/rendering.py's relative_time.
  function relativeTime(moment, now) {
    var seconds = (now - moment) / 1000;
    if (seconds < 60) return "just now";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    if (seconds < 2 * 86400) return "yesterday";
    var label = MONTHS[moment.getUTCMonth()] + " " + moment.getUTCDate();
    return moment.getUTCFullYear() === now.getUTCFullYear() ? label : label + ", " + moment.getUTCFullYear();
  }

  function refreshTime(node) {
    var moment = new Date(node.getAttribute("datetime"));
    if (isNaN(moment)) return;
    node.textContent = relativeTime(moment, new Date());
    node.title = moment.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
  }

  // -- keyboard --------------------------------------------------------------------------------

  function typingIn(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]");
  }

  function openShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }

  function onKeydown(event) {
    var key = event.key;
    if ((event.ctrlKey || event.metaKey) && event.shiftKey && key.toLowerCase() === "o") {
      event.preventDefault();
      var newChat = document.querySelector(".button-new, .topbar-new");
      if (newChat) window.location.href = newChat.href;
    } else if (key === "Escape" && event.shiftKey) {
      var textarea = document.querySelector("[data-composer] textarea");
      if (textarea) {
        event.preventDefault();
        textarea.focus();
      }
    } else if (key === "Escape") {
      var menu = document.querySelector("details[data-menu][open]");
      if (menu) {
        menu.open = false;
        menu.querySelector("summary").focus();
        event.preventDefault();
      }
    } else if (key === "?" && !event.ctrlKey && !event.metaKey && !event.altKey && !typingIn(event.target)) {
      event.preventDefault();
      openShortcuts();
    }
  }

  function start() {
    enhance(document);
    document.addEventListener("chat:added", function (event) { enhance(event.detail.node); });
    document.addEventListener("keydown", onKeydown);
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-copy], [data-copy-from]");
      if (button) copy(button);
      if (event.target.closest("[data-open-shortcuts]")) {
        closeMenus(null);
        openShortcuts();
      }
      var closer = event.target.closest("[data-close-dialog]");
      if (closer) closer.closest("dialog").close();
      closeMenus(event.target.closest("details[data-menu]"));
    });
    window.setInterval(function () {
      document.querySelectorAll("time[data-relative]").forEach(refreshTime);
    }, 30000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* Files to send with a message. Without this script the composer has the browser's own file field
 * (name "files"); with it, the + button opens the same field, files dropped anywhere on the page
 * join it, and the chosen files show as chips with a Remove button. The field stays the one place
 * files are kept (a DataTransfer rebuilds its list), so chat.js sends them in its FormData as a
 * plain form would. Files over the size limit, or past the number allowed, are refused at once,
 * with a reason; the server checks both again. After a send (chat.js's "chat:sent" for the
 * composer) the field is emptied.
 */
(function () {
  "use strict";

  function composer() {
    return document.querySelector("[data-composer]");
  }

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " kB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function fileInput(form) {
    return form.querySelector('input[type="file"][name="files"]');
  }

  function setFiles(form, files) {
    var transfer = new DataTransfer();
    files.forEach(function (file) { transfer.items.add(file); });
    fileInput(form).files = transfer.files;
    render(form);
  }

  // Add files to those chosen already; returns the reason some were refused ("" when none was).
  function addFiles(form, incoming) {
    var maxBytes = parseInt(form.dataset.maxFileBytes, 10);
    var maxFiles = parseInt(form.dataset.maxFiles, 10);
    var files = Array.prototype.slice.call(fileInput(form).files);
    var refused = [];
    Array.prototype.slice.call(incoming).forEach(function (file) {
      if (maxBytes && file.size > maxBytes) refused.push("“" + file.name + "” is larger than the " + sizeText(maxBytes) + " limit.");
      else if (maxFiles && files.length >= maxFiles) refused.push("At most " + maxFiles + " files go with one message.");
      else files.push(file);
    });
    setFiles(form, files);
    var reason = refused.filter(function (line, index) { return refused.indexOf(line) === index; }).join(" ");
    Chat.showComposerError(reason, form);
    if (reason) Chat.announce(reason);
    return reason;
  }

  function render(form) {
    var list = form.querySelector("[data-file-chips]");
    var files = Array.prototype.slice.call(fileInput(form).files);
    list.replaceChildren();
    files.forEach(function (file, index) {
      var chip = document.createElement("li");
      chip.className = "composer-file";
      var name = document.createElement("span");
      name.className = "composer-file-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "composer-file-size";
      size.textContent = sizeText(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "composer-file-remove";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.addEventListener("click", function () {
        var kept = Array.prototype.slice.call(fileInput(form).files);
        kept.splice(index, 1);
        setFiles(form, kept);
        Chat.announce("Removed " + file.name + ".");
        form.querySelector("textarea").focus();
      });
      chip.append(name, size, remove);
      list.appendChild(chip);
    });
    list.hidden = files.length === 0;
  }

  function carriesFiles(event) {
    return event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0;
  }

  function start() {
    var form = composer();
    if (!form || !fileInput(form)) return;
    var input = fileInput(form);
    var attach = form.querySelector("[data-attach]");
    var target = form.querySelector("[data-drop-target]");
    form.querySelector("[data-file-field]").hidden = true; // the + button and drops stand in for it
    attach.hidden = false;
    attach.addEventListener("click", function () { input.click(); });
    // The field's own dialog replaces its list; keep what was chosen before and add to it.
    var before = [];
    input.addEventListener("click", function () { before = Array.prototype.slice.call(input.files); });
    input.addEventListener("change", function () {
      var picked = Array.prototype.slice.call(input.files);
      setFiles(form, before);
      addFiles(form, picked);
    });

    var depth = 0; // dragenter/dragleave pairs, which nested elements multiply
    document.addEventListener("dragenter", function (event) {
      if (!carriesFiles(event)) return;
      depth += 1;
      target.hidden = false;
    });
    document.addEventListener("dragleave", function (event) {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (!depth) target.hidden = true;
    });
    document.addEventListener("dragover", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault(); // allows the drop
      event.dataTransfer.dropEffect = "copy";
    });
    document.addEventListener("drop", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault(); // the browser would open the file instead
      depth = 0;
      target.hidden = true;
      if (!addFiles(form, event.dataTransfer.files)) Chat.announce("Attached " + event.dataTransfer.files.length + " file(s).");
      form.querySelector("textarea").focus();
    });

    document.addEventListener("chat:sent", function (event) {
      if (event.detail.form !== form) return;
      setFiles(form, []);
    });
    render(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

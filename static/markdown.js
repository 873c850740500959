/* Live Markdown for the streaming reply: the same rendering as the server's (chatapp/ui/markdown.py),
 * so the final HTML replaces it without a jump.
 *
 * markdown-it's "default" preset is the one markdown-it-py calls "js-default": CommonMark with
 * tables and strikethrough, raw HTML escaped. The same rules follow: images off, every link checked
 * as it is rendered (only http, https, mailto and relative targets keep their href), table
 * alignment as classes, code blocks as <pre class="highlight" tabindex="0"> (the server adds the
 * Pygments spans at the end). DOMPurify then keeps only the tags and attributes that rendering can
 * produce: a second, independent guard.
 *
 *   ChatMarkdown.render(text)      a sanitized DocumentFragment
 *   ChatMarkdown.renderHTML(text)  the same as an HTML string (tests compare it with the server's)
 */
(function () {
  "use strict";

  var SAFE_SCHEMES = ["http", "https", "mailto"];
  var SCHEME = /^([a-z][a-z0-9+.\-]*):/i;
  var ALIGNMENTS = ["left", "center", "right"];

  function isSafeLink(url) {
    var match = SCHEME.exec(url.trim());
    return !match || SAFE_SCHEMES.indexOf(match[1].toLowerCase()) >= 0;
  }

  var PURIFY = {
    ALLOWED_TAGS: [
      "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
      "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
    ],
    ALLOWED_ATTR: ["href", "title", "class", "rel", "tabindex", "start"],
    ALLOW_DATA_ATTR: false,
    ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.\-]+(?:[^a-z+.\-:]|$))/i,
  };

  function build() {
    var md = window.markdownit("default", {
      highlight: function (code, language) { return codeBlock(md, code, language); },
    });
    md.validateLink = function () { return true; };
    md.disable("image");
    md.core.ruler.push("alignment_classes", function (state) {
      state.tokens.forEach(function (token) {
        if (token.type !== "th_open" && token.type !== "td_open") return;
        var style = token.attrGet("style") || "";
        token.attrs = (token.attrs || []).filter(function (pair) { return pair[0] !== "style"; });
        var alignment = style.replace(/^text-align:/, "");
        if (ALIGNMENTS.indexOf(alignment) >= 0) token.attrSet("class", "align-" + alignment);
      });
    });
    md.renderer.rules.link_open = function (tokens, index, options, env, self) {
      var token = tokens[index];
      if (!isSafeLink(token.attrGet("href") || "")) {
        token.attrs = token.attrs.filter(function (pair) { return pair[0] !== "href"; });
        token.attrSet("class", "link-removed");
        token.attrSet("title", "Link removed: its address is not http, https or mailto");
      } else {
        token.attrSet("rel", "nofollow noopener noreferrer");
      }
      return self.renderToken(tokens, index, options);
    };
    md.renderer.rules.code_block = function (tokens, index) {
      return codeBlock(md, tokens[index].content, "") + "\n";
    };
    return md;
  }

  function codeBlock(md, code, language) {
    var escape = md.utils.escapeHtml;
    var languageClass = language ? ' class="language-' + escape(language) + '"' : "";
    return '<pre class="highlight" tabindex="0"><code' + languageClass + ">" + escape(code) + "</code></pre>";
  }

  var markdown = null;

  function renderHTML(text) {
    markdown = markdown || build();
    return window.DOMPurify.sanitize(markdown.render(text || ""), PURIFY);
  }

  function render(text) {
    markdown = markdown || build();
    return window.DOMPurify.sanitize(markdown.render(text || ""), Object.assign({ RETURN_DOM_FRAGMENT: true }, PURIFY));
  }

  window.ChatMarkdown = { render: render, renderHTML: renderHTML, isSafeLink: isSafeLink };
})();

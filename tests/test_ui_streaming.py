"""The streamed reply in Chromium against gunicorn and the fake model server (tests/support/fake_llm.py):
Stop and Esc store the partial reply as incomplete, one reply at a time keeps the page in stored
order, live Markdown renders as it arrives and stays as safe as the server's, typing dots, errors
in plain words, and the aria-live announcement."""

from __future__ import annotations

import re
import time

import pytest

from chatapp.ui.markdown import render_markdown
from support.browser import DESKTOP, PHONE, chromium, register, send, serve, watch
from support.databases import BACKENDS

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=20_000)

LONG_REPLY = [f"word{index} " for index in range(400)]
# The hostile corpus, and Markdown that must render while it streams: a table, a list, a code fence.
HOSTILE_MARKDOWN = (
    "# Live\n\n<script>alert('script')</script> <img src=x onerror=alert('img')>\n\n"
    "[x](javascript:alert('link')) [y](JAVASCRIPT:alert(1)) [z](data:text/html,<b>hi</b>) [w](jav&#x09;ascript:alert(2))\n\n"
    "<a href=\"javascript:alert('a')\">raw</a> <svg onload=alert('svg')></svg> <iframe src=\"javascript:alert(3)\"></iframe>\n\n"
    "![i](https://example.com/t.png) <style>body{display:none}</style> [ok](https://example.com/docs)\n\n"
    "| col | <b onmouseover=alert(4)>x</b> |\n|:--|--:|\n| 1 | 2 |\n\n"
    "- one\n- two [bad](vbscript:x)\n\n"
    "```python\nimport os\nprint('<script>alert(5)</script>')\n```\n"
)
# Recorded in the page while the reply streams: anything unsafe, and which Markdown rendered early.
OBSERVER = """() => {
  window.streamLog = {unsafe: [], liveTags: new Set(), cspViolations: []};
  document.addEventListener('securitypolicyviolation', e => window.streamLog.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
  const check = () => {
    const pending = document.querySelector('.msg-assistant.is-pending .msg-body');
    for (const element of document.querySelectorAll('#messages *')) {
      const tag = element.tagName.toLowerCase();
      // Forms are the page's own controls only: Retry, and under a message (.msg-meta) its versions and Regenerate.
      if (['script', 'img', 'iframe', 'object', 'embed', 'svg', 'style', 'form', 'input'].includes(tag) && !element.closest('.reply-retry, .msg-meta'))
        window.streamLog.unsafe.push('<' + tag + '>');
      for (const attribute of element.attributes) {
        const value = attribute.value.trim().toLowerCase();
        if (attribute.name.startsWith('on') || attribute.name === 'style' || attribute.name === 'src'
            || (['href', 'action', 'formaction', 'xlink:href'].includes(attribute.name) && /^(javascript|data|vbscript):/.test(value)))
          window.streamLog.unsafe.push(tag + '[' + attribute.name + '=' + attribute.value + ']');
      }
    }
    if (pending) for (const element of pending.querySelectorAll('h1, table, th, li, pre code, a[href], strong, em'))
      window.streamLog.liveTags.add(element.tagName.toLowerCase() + (element.getAttribute('class') ? '.' + element.getAttribute('class') : ''));
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""



@pytest.fixture(scope="module", params=BACKENDS)
def served(request, llm, tmp_path_factory):
    env = {"ASSISTANT_BASE_URL": llm.base_url, "ASSISTANT_MODEL": "fake-model", "ASSISTANT_TIMEOUT": "3"}
    with serve(request.param, tmp_path_factory.mktemp("streaming"), env=env) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def new_page(browser, viewport=DESKTOP, scheme="light"):
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    tab.problems = watch(tab)  # type: ignore[attr-defined]
    return tab


@pytest.fixture
def page(browser):
    tab = new_page(browser)
    yield tab
    tab.context.close()


def thread_id_of(page) -> str:
    page.wait_for_url(re.compile(r".*/t/thr_[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[-1]


def shown(page) -> list[tuple[str, str]]:
    """(role, id) of every message on the page, top to bottom."""
    return [
        (element["role"], element["id"])
        for element in page.eval_on_selector_all(
            "#messages .msg", "els => els.map(e => ({role: e.classList.contains('msg-user') ? 'user' : 'assistant', id: e.id}))"
        )
    ]


@pytest.fixture
def screen(request, browser):
    """A page on the requested (viewport, colour scheme)."""
    viewport, scheme = request.param
    tab = new_page(browser, viewport, scheme)
    yield tab
    tab.context.close()


@pytest.mark.parametrize(
    "how, screen", [("button", (PHONE, "dark")), ("escape", (DESKTOP, "light"))], indirect=["screen"], ids=["button-phone-dark", "escape-desktop-light"]
)
def test_stop_ends_the_stream_and_the_partial_reply_is_stored_as_incomplete(served, screen, llm, how):
    page = screen
    email = register(page, served.base)
    llm.script("reply", deltas=LONG_REPLY, delay=0.05)
    send(page, "Write something long")
    pending = page.locator(".msg-assistant.is-pending .msg-body")
    expect(pending).to_contain_text("word5 ")
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    if how == "button":
        stop.click()
    else:
        page.get_by_label("Message", exact=True).press("Escape")
    # The page waits for the stored item and shows it in place of the streamed text.
    reply = page.locator(".msg-assistant").last
    expect(reply.locator(".reply-problem")).to_have_text("This reply is incomplete: it was stopped before it finished.")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(stop).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "message"  # focus returns to the message box
    assert llm.client_gone.wait(10), "the backend stream was not closed"
    thread_id = thread_id_of(page)
    user, assistant = served.items(served.user_id(email), thread_id)
    assert assistant.metadata["status"] == "incomplete" and assistant.metadata["in_reply_to"] == user.id
    assert assistant.content.startswith("word0 word1 word2 word3 word4 word5 ")
    assert len(assistant.content) < len("".join(LONG_REPLY))
    assert reply.get_attribute("id") == assistant.id  # what the page shows is the stored item
    assert reply.locator(".msg-body").inner_text().strip() == assistant.content.strip()
    before = shown(page)
    page.reload()
    assert shown(page) == before
    assert page.problems == []


def test_one_reply_at_a_time_keeps_the_page_in_stored_order(served, page, llm):
    email = register(page, served.base)
    llm.script("reply", deltas=[f"first{index} " for index in range(40)], delay=0.05)
    send(page, "U1")
    expect(page.locator(".msg-assistant.is-pending")).to_have_count(1)
    composer = page.get_by_label("Message", exact=True)
    composer.fill("U2 typed while the reply streams")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    composer.press("Enter")
    expect(page.locator("#composer-error")).to_have_text(re.compile(r"^A reply is being written\. Wait for it to finish, or stop it"))
    expect(composer).to_have_value("U2 typed while the reply streams")  # kept, not sent
    expect(page.locator(".msg-assistant .reply-status, .msg-assistant.is-pending")).to_have_count(0, timeout=20_000)
    expect(page.locator("#composer-error")).to_be_hidden()
    llm.script("reply", deltas=["second ", "reply"])
    composer.press("Enter")
    expect(page.locator(".msg-assistant .msg-body").last).to_have_text("second reply")
    thread_id = thread_id_of(page)
    stored = [(item.role, item.id) for item in served.items(served.user_id(email), thread_id)]
    assert [role for role, _id in stored] == ["user", "assistant", "user", "assistant"]
    assert shown(page) == stored
    page.reload()
    assert shown(page) == stored
    assert page.problems == []


@pytest.mark.parametrize("screen", [(DESKTOP, "light"), (PHONE, "dark")], indirect=True, ids=["desktop-light", "phone-dark"])
def test_live_markdown_renders_as_it_arrives_and_nothing_hostile_becomes_live(served, screen, llm):
    page = screen
    register(page, served.base)
    deltas = [HOSTILE_MARKDOWN[index : index + 3] for index in range(0, len(HOSTILE_MARKDOWN), 3)]
    llm.script("reply", deltas=deltas, delay=0.02)
    page.evaluate(OBSERVER)
    send(page, "Show me everything")
    final = page.locator(".msg-assistant").last
    expect(final.locator(".highlight .kn")).to_have_text("import")  # the server's highlighted HTML replaced the live one
    log = page.evaluate("({unsafe: window.streamLog.unsafe, liveTags: [...window.streamLog.liveTags], csp: window.streamLog.cspViolations})")
    assert log["unsafe"] == [] and log["csp"] == []
    live = set(log["liveTags"])
    # While it streamed, the Markdown was already HTML: heading, table (aligned by class), list, code, safe link.
    assert {"h1", "table", "th.align-left", "li", "code.language-python", "a"} <= live, live
    # Every link left resolves, by the browser's own URL parser, to http(s): the escaped tab of
    # "jav&#x09;ascript:" stays in the path of a relative URL, as on the server.
    protocols = final.locator("a[href]").evaluate_all("links => links.map(l => new URL(l.getAttribute('href'), location.href).protocol)")
    assert protocols == ["http:", "https:", "https:"]
    expect(final.locator(".msg-body")).to_contain_text("<script>alert('script')</script>")  # shown as text
    assert final.locator(".link-removed").count() == 4  # javascript:, JAVASCRIPT:, data:, vbscript:
    assert page.problems == []


def test_live_markdown_equals_the_server_rendering(served, page):
    register(page, served.base)
    corpus = [
        HOSTILE_MARKDOWN,
        "Autolinks <javascript:alert(1)> <https://example.com/a> <mailto:a@example.com> www.example.com",
        "[ref]\n\n[ref]: javascript:alert(1) \"t\"\n\n[ok]: https://example.com",
        "[a](<javascript:alert(1)>) [b](java\tscript:x) [c](&#106;avascript:x) [d]( javascript:x) [e](/relative?q=1#x)",
        "```\nunclosed fence <b>\n",
        "    indented <code>\n\n1. one\n2. two\n\n> quote **bold** _em_ ~~gone~~ `tick`\n\n---\n\nline  \nbreak &amp; &copy; &#x3C;",
        "```js\nconst x = '<img src=x onerror=alert(1)>';\n```",
        # tests/test_ui_chats.py's hostile Markdown, as stored replies render it
        "# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
        "[x](javascript:alert(3)) [y](JAVASCRIPT:alert(4)) [z](data:text/html,hi) ![i](https://example.com/t.png)\n\n"
        "[ok](https://example.com/docs)\n\n```python\nprint('" + "x" * 150 + "')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    ]
    live = page.evaluate("corpus => corpus.map(text => ChatMarkdown.renderHTML(text))", corpus)
    server = [re.sub(r'</?span[^>]*>', "", str(render_markdown(text))) for text in corpus]  # highlighting aside
    # Both serialized by the browser, so only the structure is compared.
    normalized = page.evaluate(
        "pairs => pairs.map(([a, b]) => { const x = document.createElement('div'), y = document.createElement('div');"
        " x.innerHTML = a; y.innerHTML = b; return [x.innerHTML.trim(), y.innerHTML.trim()]; })",
        list(zip(live, server, strict=True)),
    )
    for text, (from_page, from_server) in zip(corpus, normalized, strict=True):
        assert from_page == from_server, text


def test_typing_dots_until_the_first_words_then_a_timeout_in_plain_words(served, page, llm):
    register(page, served.base)
    llm.script("hang")  # no answer at all: ASSISTANT_TIMEOUT (3 s) ends it
    send(page, "Hello?")
    dots = page.locator(".msg-assistant.is-pending .typing")
    expect(dots).to_be_visible()
    assert dots.get_attribute("aria-label") == "The assistant is writing"
    failed = page.locator(".msg-assistant").last
    expect(failed.locator(".reply-problem")).to_have_text("The model server took too long to answer; try again.", timeout=20_000)
    expect(dots).to_have_count(0)
    detail = failed.locator("details.reply-detail")
    expect(detail.locator("p")).to_be_hidden()  # the technical detail waits behind its disclosure
    detail.locator("summary").click()
    expect(detail.locator("p")).to_contain_text("upstream_timeout")
    expect(page.locator("#announcer")).to_have_text("The model server took too long to answer; try again.")

    llm.script("reply", deltas=["Back ", "again."])
    failed.get_by_role("button", name="Retry").click()
    expect(page.locator(".msg-assistant .msg-body").last).to_have_text("Back again.")
    expect(page.locator("#announcer")).to_have_text("The assistant replied: Back again.")
    assert [problem for problem in page.problems if "status of 504" not in problem] == []  # the timeout's own answer


def test_a_backend_error_mid_stream_says_so_and_keeps_the_text(served, page, llm):
    register(page, served.base)
    llm.script("drop", deltas=["Partial ", "answer ", "that ", "breaks"])
    started = time.monotonic()
    send(page, "Break please")
    reply = page.locator(".msg-assistant").last
    expect(reply.locator(".reply-problem")).to_have_text(re.compile("the model server stopped answering midway; try again"))
    expect(reply.locator(".msg-body")).to_have_text("Partial answer")
    expect(reply.get_by_role("button", name="Retry")).to_be_enabled()
    assert time.monotonic() - started < 15
    assert page.problems == []

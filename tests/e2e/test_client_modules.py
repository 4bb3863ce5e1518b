"""The client's pure modules (markdown, seq tracking, list reconciliation) in the browser."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def page(browser, chatd_url):  # type: ignore[no-untyped-def]
    """One page for the module: these tests only import modules into it."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(chatd_url)
    yield page
    context.close()


def render(page, text: str) -> str:  # type: ignore[no-untyped-def]
    """The rendered DOM as HTML, for comparing structure (the renderer never uses it)."""
    return page.evaluate(
        """async (text) => {
            const md = await import('/static/js/markdown.js');
            const div = document.createElement('div');
            div.append(md.renderMarkdown(text, {me: 'alice'}));
            return div.innerHTML;
        }""",
        text,
    )


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "**bold** *it* _it_ ~~gone~~",
            "<p><strong>bold</strong> <em>it</em> <em>it</em> <del>gone</del></p>",
        ),
        ("snake_case_name and 2 * 3 * 4", "<p>snake_case_name and 2 * 3 * 4</p>"),
        ("`a **not bold** <b>`", "<p><code>a **not bold** &lt;b&gt;</code></p>"),
        ("```py\nx = 1\n<tag>\n```", '<pre><code data-lang="py">x = 1\n&lt;tag&gt;</code></pre>'),
        ("> quoted *text*\nafter", "<blockquote>quoted <em>text</em></blockquote><p>after</p>"),
        ("line\nbreak", "<p>line<br>break</p>"),
        (
            "@alice hi @bob.",
            '<p><span class="mention mention-me" data-username="alice">@alice</span> hi '
            '<span class="mention" data-username="bob">@bob</span>.</p>',
        ),
        ("mail me at x@alice.org", "<p>mail me at x@alice.org</p>"),
        ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>"),
        (
            "[x](javascript:alert(1)) [y](data:text/html,hi) [z](/relative)",
            "<p>[x](javascript:alert(1)) [y](data:text/html,hi) [z](/relative)</p>",
        ),
    ],
)
def test_markdown_subset(page, text, html):
    assert render(page, text) == html


def test_links_are_safe_and_open_in_a_new_tab(page):
    html = render(
        page, "see https://example.com/a_(b). and [docs](https://example.com/d) or mailto:x@y.z"
    )
    assert html == (
        '<p>see <a href="https://example.com/a_(b)" rel="noopener noreferrer" target="_blank" '
        'title="https://example.com/a_(b)">https://example.com/a_(b)</a>. and '
        '<a href="https://example.com/d" rel="noopener noreferrer" target="_blank" '
        'title="https://example.com/d">docs</a> or <a href="mailto:x@y.z" rel="noopener noreferrer" '
        'target="_blank" title="mailto:x@y.z">mailto:x@y.z</a></p>'
    )


def test_seq_tracker_accepts_each_event_once_even_when_replay_arrives_late(page):
    result = page.evaluate(
        """async () => {
            const {SeqTracker} = await import('/static/js/socket.js');
            const t = new SeqTracker(10);
            const seen = [];
            // Live 14 arrives before the replay of 11..13, then the replay, then dupes.
            for (const seq of [14, 11, 12, 13, 14, 12, 15, 9]) if (t.accept(seq)) seen.push(seq);
            const afterReplay = t.upto;
            t.accept(20);  // a gap: 16..19 not seen
            const stuck = t.upto;
            t.caughtUp(19);  // the server says everything to 19 was delivered
            return {seen, afterReplay, stuck, upto: t.upto, above: [...t.above]};
        }"""
    )
    assert result == {
        "seen": [14, 11, 12, 13, 15],
        "afterReplay": 15,
        "stuck": 15,
        "upto": 20,
        "above": [],
    }


def test_reconcile_moves_nodes_instead_of_rebuilding(page):
    result = page.evaluate(
        """async () => {
            const {reconcile} = await import('/static/js/views/messages.js');
            const ol = document.createElement('ol');
            const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((t) => { const li = document.createElement('li'); li.textContent = t; return li; });
            ol.append(a, b, c);
            reconcile(ol, [d, a, c]);
            const same = ol.children[1] === a && ol.children[2] === c;
            return {order: [...ol.children].map((e) => e.textContent).join(''), same};
        }"""
    )
    assert result == {"order": "dac", "same": True}


def test_avatars_are_stable_and_readable(page):
    result = page.evaluate(
        """async () => {
            const av = await import('/static/js/avatar.js');
            return {
                initials: ['alice', 'bob_smith', 'x.y-z', 'Zoë'].map(av.initials),
                stable: av.colorIndex('alice') === av.colorIndex('ALICE'),
                spread: new Set(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'].map(av.colorIndex)).size,
            };
        }"""
    )
    assert result["initials"] == ["AL", "BS", "XY", "ZO"]
    assert result["stable"] and result["spread"] >= 4

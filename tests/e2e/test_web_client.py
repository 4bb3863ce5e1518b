"""The web client end to end: two people in two browser contexts, one real server."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    PASSWORD,
    composer,
    enter_room,
    message_texts,
    send,
    unique_name,
    wait_for_message,
)


def member(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.member-list li.member[data-username="{name}"]')


def test_two_people_sign_up_chat_and_see_typing_and_presence(users, shot):
    login = users.page()
    expect(login.get_by_label("Username")).to_be_focused()
    shot(login, "login")

    alice, alice_name = users.signup("alice")
    assert alice.url.endswith("#/room/general")
    bob, bob_name = users.signup("bob")

    # Presence: each sees the other online in the member list.
    expect(member(alice, bob_name)).to_have_class(re.compile(r"\bonline\b"))
    expect(member(bob, alice_name)).to_have_class(re.compile(r"\bonline\b"))
    expect(alice.locator(".member-count")).not_to_have_text("")

    # Typing shows for the other person only.
    composer(bob).press_sequentially("hel")
    expect(alice.locator(".typing")).to_have_text(f"{bob_name} is typing...")
    expect(bob.locator(".typing")).to_have_text("")

    send(bob, f"hello {alice_name}, **welcome**")
    wait_for_message(alice, f"hello {alice_name}, welcome")
    expect(alice.locator(".typing")).to_have_text("")
    expect(alice.locator(".message-text strong", has_text="welcome")).to_be_visible()
    send(alice, f"hi @{bob_name} :)")
    wait_for_message(bob, "hi @")
    expect(bob.locator("li.message.mentions-me")).to_have_count(1)
    # Grouping: a second message right after is a continuation without a header.
    send(alice, "and a second line from me")
    wait_for_message(bob, "and a second line from me")
    expect(bob.locator("li.message").last).to_have_class(re.compile(r"\bcontinuation\b"))
    expect(alice.locator(".day-separator")).to_have_count(1)
    shot(alice, "chat")
    unnamed = alice.locator("button, a[href], input, textarea").evaluate_all(
        """els => els.filter(e => {
            const label = e.getAttribute('aria-label') || e.textContent.trim() || e.title
                || (e.id && document.querySelector(`label[for="${e.id}"]`)) || e.getAttribute('aria-labelledby');
            return !label && e.type !== 'file';
        }).map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []

    # A new room: alice creates it, bob finds and joins it from the room browser.
    room = unique_name("proj")
    alice.get_by_role("button", name="Create or join a room").click()
    alice.get_by_label("Room name").fill(room)
    alice.get_by_label("Topic (optional)").fill("Planning the launch")
    alice.get_by_role("button", name="Create room").click()
    expect(alice.locator(".room-title")).to_contain_text(room)
    expect(alice.locator(".room-topic")).to_have_text("Planning the launch")
    bob.get_by_role("button", name="Create or join a room").click()
    bob.get_by_role("button", name=f"Join {room}").click()
    expect(bob.locator(".room-title")).to_contain_text(room)
    expect(member(alice, bob_name)).to_be_visible()
    send(bob, "joined the project room")
    wait_for_message(alice, "joined the project room")

    # Unread badge and tab title while alice looks at another room.
    alice.locator(".room-link", has_text="general").click()
    expect(alice.locator(".room-title")).to_contain_text("general")
    send(bob, "psst, over here")
    link = alice.locator(f'.room-link[data-room="{room}"]')
    expect(link.locator(".badge")).to_have_text("1")
    expect(alice).to_have_title(re.compile(r"^\(1\) #general"))
    link.click()
    wait_for_message(alice, "psst, over here")
    expect(link.locator(".badge")).to_have_count(0)
    expect(alice).to_have_title(re.compile(rf"^#{room}"))
    shot(alice, "members")

    # Leaving takes the room out of the list and goes back to general.
    alice.get_by_role("button", name="Leave room").click()
    alice.get_by_role("dialog").get_by_role("button", name="Leave room").click()
    expect(link).to_have_count(0)
    expect(alice.locator(".room-title")).to_contain_text("general")

    # Bob leaves: alice sees him go offline.
    bob.context.close()
    expect(member(alice, bob_name)).to_have_class(re.compile(r"\boffline\b"))


def test_log_in_errors_are_inline_and_focus_the_field(users):
    page = users.page()
    page.get_by_label("Username").fill("ab")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#username-error")).to_contain_text("3-32 characters")
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Username")).to_be_focused()

    name = unique_name("carol")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert").first).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Password")).to_be_focused()

    page.get_by_role("button", name="Sign up").click()
    expect(composer(page)).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    # Taken name on sign-up; then logging in lands in the app without a reload.
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#username-error")).to_contain_text("taken")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Log in").click()
    expect(composer(page)).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
    # A reload keeps the session (refresh cookie).
    page.reload()
    expect(composer(page)).to_be_visible()


def test_messages_sent_while_offline_arrive_exactly_once(users):
    alice, _ = users.signup("alice")
    bob, bob_name = users.signup("bob")
    room = unique_name("drop")
    enter_room(alice, room)
    enter_room(bob, room)
    send(bob, "before the drop")
    wait_for_message(alice, "before the drop")

    sent: list[dict] = []
    alice.on("websocket", lambda ws: ws.on("framesent", lambda data: sent.append(json.loads(data))))
    alice.context.set_offline(True)
    expect(alice.locator(".conn-banner")).to_contain_text("offline")
    expect(alice.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    for i in range(5):
        send(bob, f"while away {i}")
    send(alice, "queued while offline")
    expect(alice.locator("li.message.pending")).to_have_count(1)

    alice.context.set_offline(False)
    expect(alice.locator(".conn-banner")).to_be_hidden()
    for i in range(5):
        wait_for_message(alice, f"while away {i}")
    wait_for_message(bob, "queued while offline")
    send(bob, "after the drop")
    wait_for_message(alice, "after the drop")
    expect(alice.locator("li.message.pending")).to_have_count(0)

    texts = message_texts(alice)
    wanted = [
        "before the drop",
        *[f"while away {i}" for i in range(5)],
        "queued while offline",
        "after the drop",
    ]
    mine = [t for t in texts if t in wanted]
    assert sorted(mine) == sorted(wanted), texts
    # Bob's order is the server's order; alice's list shows the same messages in seq order.
    assert [t for t in message_texts(bob) if t in wanted] == [t for t in texts if t in wanted]
    assert [t for t in message_texts(bob) if t == "queued while offline"] == [
        "queued while offline"
    ]
    assert bob_name
    # The way back resumed in hello (no window for live events before the replay).
    hello = next(f for f in sent if f["type"] == "hello")
    assert hello["resume"].get(room, 0) >= 1, hello
    assert not [f for f in sent if f["type"] == "resume"]


def test_markup_in_messages_renders_as_text(users):
    alice, _ = users.signup("alice")
    bob, _ = users.signup("bob")
    room = unique_name("markup")
    enter_room(alice, room)
    enter_room(bob, room)
    hostile = [
        '<img src=x onerror="window.__pwned=1">',
        "[click me](javascript:window.__pwned=2)",
        "javascript:window.__pwned=3",
        "<script>window.__pwned=4</script>",
        "[ok](https://example.com/a?b=<c>)",
    ]
    for text in hostile:
        send(alice, text)
    for text in hostile[:4]:
        wait_for_message(bob, text)
    for page in (alice, bob):
        pane = page.locator(".message-pane")
        expect(pane.locator(".message-text img")).to_have_count(0)
        expect(pane.locator(".message-text script")).to_have_count(0)
        assert page.evaluate("window.__pwned") is None
        hrefs = pane.locator(".message-text a").evaluate_all(
            "els => els.map(a => [a.href, a.rel, a.target])"
        )
        assert hrefs == [["https://example.com/a?b=%3Cc%3E", "noopener noreferrer", "_blank"]]

    # 10,000 characters on one line: the composer refuses it with a clear message...
    box = composer(alice)
    box.fill("x" * 10_000)
    box.press("Enter")
    expect(alice.locator(".composer-error")).to_contain_text("too long")
    box.fill("")
    # ...and the renderer handles it (and the longest allowed message) without breaking layout.
    rendered = alice.evaluate(
        """async () => {
            const md = await import('/static/js/markdown.js');
            const line = '<img src=x onerror=window.__pwned=5>' + 'y'.repeat(10000);
            const div = document.createElement('div');
            div.append(md.renderMarkdown(line));
            const started = performance.now();
            md.renderMarkdown('*a _b ~~c `d [e '.repeat(650));  // unclosed markers everywhere
            return {same: div.textContent === line, tags: [...div.querySelectorAll('*')].map(e => e.tagName),
                    slowMs: performance.now() - started};
        }"""
    )
    assert rendered["same"] and rendered["tags"] == ["P"]
    assert rendered["slowMs"] < 1000, rendered
    send(alice, "z" * 4000)
    wait_for_message(bob, "z" * 4000)
    for page in (alice, bob):
        overflow = page.evaluate(
            """() => {
                const s = document.querySelector('.message-scroller');
                return [document.documentElement.scrollWidth - innerWidth, s.scrollWidth - s.clientWidth];
            }"""
        )
        assert overflow == [0, 0]


def test_composer_keys_autocomplete_emoji_picker_and_threads(users, shot):
    alice, alice_name = users.signup("alice")
    bob, bob_name = users.signup("bob")
    room = unique_name("compose")
    enter_room(alice, room)
    enter_room(bob, room)
    box = composer(alice)

    # Shift+Enter is a newline, Enter sends.
    box.press_sequentially("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    box.press("Enter")
    wait_for_message(bob, "line two")
    assert bob.locator(".message-text", has_text="line two").inner_text() == "line one\nline two"
    expect(box).to_have_value("")

    # @ completes member names, : completes emoji.
    expect(alice.locator(f'.member-list li.member[data-username="{bob_name}"]')).to_be_visible()
    box.press_sequentially(f"hey @{bob_name[:-2]}")
    expect(alice.get_by_role("option", name=f"@{bob_name}")).to_be_visible()
    box.press("Tab")
    box.press_sequentially("look :thumbs_u")
    expect(alice.get_by_role("option", name=":thumbs_up:")).to_be_visible()
    box.press("Enter")
    expect(box).to_have_value(f"hey @{bob_name} look 👍")

    # The emoji picker searches the catalog and inserts at the caret.
    alice.get_by_role("button", name="Choose an emoji").click()
    alice.get_by_role("searchbox", name="Search emoji").fill("rocket")
    alice.get_by_role("button", name="rocket", exact=True).click()
    expect(box).to_have_value(f"hey @{bob_name} look 👍🚀")
    box.press("Enter")
    wait_for_message(bob, "look 👍🚀")

    # Up in the empty composer edits the last own message; Escape cancels.
    box.press("ArrowUp")
    editor = alice.get_by_role("textbox", name="Edit", exact=True)
    expect(editor).to_have_value(f"hey @{bob_name} look 👍🚀")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(box).to_be_focused()

    # Threads: a reply goes to the side panel; the other person sees "1 reply" and opens it.
    parent = alice.locator("li.message", has_text="line two")
    parent.hover()
    parent.get_by_role("button", name="Reply in thread").click()
    reply_box = alice.get_by_role("textbox", name="Reply to thread")
    expect(reply_box).to_be_focused()
    reply_box.fill("a reply in the thread")
    reply_box.press("Enter")
    panel = alice.locator(".side-panel")
    expect(panel.locator("li.message", has_text="a reply in the thread")).to_have_count(1)
    expect(
        alice.locator(".message-pane li.message", has_text="a reply in the thread")
    ).to_have_count(0)
    shot(alice, "thread")
    bob_parent = bob.locator(".message-pane li.message", has_text="line two")
    bob_parent.get_by_role("button", name="1 reply").click()
    expect(bob.locator(".side-panel li.message", has_text="a reply in the thread")).to_be_visible()
    assert alice_name

    # Files: picking a file stages it with its name and size before sending.
    alice.get_by_role("button", name="Close panel").click()
    alice.locator(".composer input[type=file]").set_input_files(
        files=[{"name": "diagram.png", "mimeType": "image/png", "buffer": _png(8, 8)}]
    )
    tray = alice.get_by_role("list", name="Files to send")
    expect(tray).to_contain_text("diagram.png")
    expect(alice.get_by_role("button", name="Remove diagram.png")).to_be_visible()
    alice.get_by_role("button", name="Remove diagram.png").click()
    expect(tray).to_be_hidden()


def test_phone_width_uses_drawers_and_the_theme_toggle_sticks(users, shot):
    page, _ = users.signup(
        "dana", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    sidebar = page.get_by_role("navigation", name="Rooms and direct messages")
    expect(sidebar).to_be_hidden()
    send(page, "hello from a phone")
    wait_for_message(page, "hello from a phone")
    shot(page, "mobile")
    page.get_by_role("button", name="Open rooms").click()
    expect(sidebar).to_be_visible()
    shot(page, "mobile-drawer")
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(page.get_by_role("button", name="Open rooms")).to_be_focused()
    page.get_by_role("button", name=re.compile("members?: show member list")).click()
    expect(page.get_by_role("complementary")).to_be_visible()
    page.get_by_role("button", name="Close panel").click()

    page.get_by_role("button", name="Open rooms").click()
    page.get_by_role("button", name="Switch to light theme").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.reload()
    expect(composer(page)).to_be_visible()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "chat-light")


def _capture(errors: list[BaseException], fn) -> None:  # type: ignore[no-untyped-def]
    try:
        fn()
    except BaseException as exc:  # re-raised in the test thread
        errors.append(exc)


def _png(width: int, height: int) -> bytes:
    """A valid PNG with a diagonal gradient, made in-process (no image files in the repo)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            t = (x + y) / (width + height)
            row += bytes((int(71 + 150 * t), int(82 + 60 * t), int(196 - 120 * t)))
        rows.append(bytes(row))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def test_uploads_show_progress_thumbnails_and_file_cards(users, shot):
    alice, _ = users.signup("alice")
    bob, _ = users.signup("bob")
    room = unique_name("files")
    enter_room(alice, room)
    enter_room(bob, room)

    # An image with a caption: both see the server's thumbnail (loaded with the file cookie).
    alice.locator(".composer input[type=file]").set_input_files(
        files=[{"name": "diagram.png", "mimeType": "image/png", "buffer": _png(320, 180)}]
    )
    expect(alice.get_by_role("list", name="Files to send")).to_contain_text("diagram.png")
    send(alice, "the new diagram")
    for page in (alice, bob):
        image = page.locator(".message-pane li.message", has_text="the new diagram").locator("img")
        expect(image).to_have_attribute("alt", "diagram.png")
        expect(image).to_have_attribute("src", re.compile(r"/thumb$"))
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
    expect(alice.get_by_role("list", name="Files to send")).to_be_hidden()
    shot(bob, "upload")

    # A bigger file over a throttled link shows a progress bar until it is done.
    cdp = alice.context.new_cdp_session(alice)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 600_000},
    )
    alice.locator(".composer input[type=file]").set_input_files(
        files=[
            {
                "name": "data.bin",
                "mimeType": "application/octet-stream",
                "buffer": bytes(range(256)) * 6000,
            }
        ]
    )
    composer(alice).press("Enter")
    progress = alice.get_by_role("progressbar", name="Uploading data.bin")
    expect(progress).to_be_visible()
    expect(progress).not_to_have_attribute("value", "0")  # XHR upload progress moves the bar
    shot(alice, "upload-progress")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    expect(progress).to_have_count(0, timeout=20_000)
    card = bob.locator(".attachment-file", has_text="data.bin")
    expect(card).to_contain_text("1.5 MB")
    expect(card.get_by_role("link", name="data.bin")).to_have_attribute("download", "data.bin")

    # Dropping a file onto the chat stages it like the file picker does.
    alice.evaluate(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(['hello from a dropped file'], 'notes.txt', {type: 'text/plain'}));
            const chat = document.querySelector('main.chat');
            chat.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt, bubbles: true, cancelable: true}));
            chat.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }"""
    )
    expect(alice.get_by_role("list", name="Files to send")).to_contain_text("notes.txt")
    composer(alice).press("Enter")
    expect(bob.locator(".attachment-file", has_text="notes.txt")).to_be_visible()
    assert alice.locator(".message-pane li.message .attachments").count() == 3

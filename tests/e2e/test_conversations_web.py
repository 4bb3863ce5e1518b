"""Conversations in the web client: reactions, edits, deletes, threads, DMs, search."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import composer, enter_room, send, unique_name, wait_for_message


def test_react_edit_and_delete_show_live_for_both(users):
    alice, _ = users.signup("alice")
    bob, bob_name = users.signup("bob")
    room = unique_name("conv")
    enter_room(alice, room)
    enter_room(bob, room)
    send(alice, "a message to react to")
    wait_for_message(bob, "a message to react to")

    # React from the toolbar's picker; the other side sees the chip and adds to it.
    msg = alice.locator(".message-pane li.message", has_text="a message to react to")
    msg.hover()
    msg.get_by_role("button", name="Add reaction").first.click()
    alice.get_by_role("searchbox", name="Search emoji").fill("thumbs up")
    alice.get_by_role("button", name="thumbs up", exact=True).click()
    bob_msg = bob.locator(".message-pane li.message", has_text="a message to react to")
    chip = bob_msg.get_by_role("button", name=re.compile("^👍 1 reaction"))
    expect(chip).to_have_attribute("aria-pressed", "false")
    chip.click()
    expect(
        msg.get_by_role("button", name=re.compile("^👍 2 reactions, including you"))
    ).to_be_visible()
    expect(
        bob_msg.get_by_role("button", name=re.compile("^👍 2 reactions, including you"))
    ).to_have_attribute("aria-pressed", "true")
    bob_msg.get_by_role("button", name=re.compile("^👍 2")).click()
    expect(msg.get_by_role("button", name=re.compile("^👍 1 reaction,"))).to_be_visible()

    # Up edits the last own message; both see the new text and "(edited)".
    box = composer(alice)
    box.press("ArrowUp")
    editor = alice.get_by_role("textbox", name="Edit", exact=True)
    editor.fill("a message, edited")
    editor.press("Enter")
    for page in (alice, bob):
        edited = page.locator(".message-pane li.message", has_text="a message, edited")
        expect(edited.locator(".edited")).to_have_text("(edited)")
    expect(bob.locator(".message-text", has_text="a message to react to")).to_have_count(0)

    # Delete, after confirming; gone on both sides.
    target = alice.locator(".message-pane li.message", has_text="a message, edited")
    target.hover()
    target.get_by_role("button", name="Delete").click()
    alice.get_by_role("dialog").get_by_role("button", name="Delete").click()
    for page in (alice, bob):
        expect(
            page.locator(".message-pane li.message", has_text="a message, edited")
        ).to_have_count(0)
    assert bob_name


def test_thread_history_dm_from_a_username_and_search_jumps_to_the_message(users, shot):
    alice, alice_name = users.signup("alice")
    bob, bob_name = users.signup("bob")
    room = unique_name("talk")
    enter_room(alice, room)
    enter_room(bob, room)
    needle = unique_name("needle")
    send(alice, f"the {needle} is here")
    wait_for_message(bob, needle)

    # A thread reply, then bob reloads: the thread comes back from the server's thread API.
    parent = alice.locator(".message-pane li.message", has_text=needle)
    parent.hover()
    parent.get_by_role("button", name="Reply in thread").click()
    alice.get_by_role("textbox", name="Reply to thread").fill("threaded reply")
    alice.get_by_role("textbox", name="Reply to thread").press("Enter")
    expect(
        bob.locator(".message-pane li.message", has_text=needle).get_by_role(
            "button", name="1 reply"
        )
    ).to_be_visible()
    bob.reload()
    expect(composer(bob)).to_be_visible()
    bob.locator(".message-pane li.message", has_text=needle).get_by_role(
        "button", name="1 reply"
    ).click()
    expect(bob.locator(".side-panel li.message", has_text="threaded reply")).to_be_visible()

    # A DM opened from a username; the other side gets it live in the sidebar.
    bob.locator(".message-pane .author", has_text=alice_name).first.click()
    bob.get_by_role("dialog").get_by_role("button", name="Send message").click()
    expect(bob.locator(".room-title")).to_contain_text(alice_name)
    send(bob, "hello in private")
    dm_link = alice.locator(".room-link", has_text=bob_name)
    expect(dm_link.locator(".badge-mention")).to_have_text("1")
    dm_link.click()
    wait_for_message(alice, "hello in private")
    expect(dm_link.locator(".badge, .badge-mention")).to_have_count(0)
    shot(alice, "dm")

    # Search finds the message and jumps to it in its room.
    alice.get_by_role("searchbox", name="Search messages").fill(needle)
    alice.get_by_role("searchbox", name="Search messages").press("Enter")
    result = alice.get_by_role("list", name="Search results").get_by_role("button").first
    expect(result).to_contain_text(needle)
    result.click()
    expect(alice.locator(".room-title")).to_contain_text(room)
    expect(alice.locator(".message-pane li.message.highlight", has_text=needle)).to_be_visible()

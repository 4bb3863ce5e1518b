"""Calls between real browsers: headless Chromium with fake camera and microphone.

chatd runs as two real processes sharing Redis and one SQLite data dir (two nodes),
plus one node that forces every peer connection through the test's coturn
(`CHATD_ICE_TRANSPORT_POLICY=relay`). Each page records its RTCPeerConnections (an
init script), and the tests read `getStats()` from them: media must really flow.

Media stays on this machine: peers are on 127.0.0.1 (`--allow-loopback-in-peer-connection`)
or relayed by coturn listening and relaying on 127.0.0.1 only, and any traffic to a
local address is delivered through the loopback interface.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Browsers, enter_room, unique_name
from tests.fixtures.turn import TurnServer
from tests.integration.processes import ChatdProcess

pytestmark = pytest.mark.slow

MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
LOOPBACK_ARGS = ["--allow-loopback-in-peer-connection"]

#: Records every RTCPeerConnection the page makes, so tests can read its stats.
RECORD_PEERS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
})();
"""

#: Per open peer connection: inbound/outbound RTP counters by transceiver mid
#: (0 microphone, 1 camera, 2 screen) and the selected candidate pair.
READ_STATS = """
async () => {
  const result = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    const one = { state: pc.connectionState, in: {}, out: {}, pair: null };
    report.forEach((s) => {
      if (s.type === "inbound-rtp") {
        one.in[s.mid] = { frames: s.framesDecoded || 0, samples: s.totalSamplesReceived || 0 };
      }
      if (s.type === "outbound-rtp") {
        one.out[s.mid] = { packets: s.packetsSent || 0, frames: s.framesSent || 0 };
      }
      if (s.type === "transport" && s.selectedCandidatePairId) {
        const pair = byId.get(s.selectedCandidatePairId);
        const local = pair && byId.get(pair.localCandidateId);
        const remote = pair && byId.get(pair.remoteCandidateId);
        if (local && remote) {
          one.pair = { local: local.candidateType, remote: remote.candidateType,
                       localAddress: local.address, remoteAddress: remote.address };
        }
      }
    });
    result.push(one);
  }
  return result;
}
"""

AUDIO, CAMERA, SCREEN = "0", "1", "2"


# -- fixtures -------------------------------------------------------------------------
def _launch(p: Any, extra: list[str]) -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)")
    return p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *MEDIA_ARGS, *extra])


@pytest.fixture(scope="module")
def browsers_by_kind() -> Iterator[dict[str, Browser]]:
    """A Chromium that may use loopback host candidates, and one that must relay."""
    with sync_playwright() as p:
        launched = {"loopback": _launch(p, LOOPBACK_ARGS), "relay": _launch(p, [])}
        yield launched
        for b in launched.values():
            b.close()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, turn_server: TurnServer
) -> Iterator[list[ChatdProcess]]:
    """Two chatd nodes sharing Redis and a data dir; TURN offered but not forced."""
    shared = tmp_path_factory.mktemp("calls-cluster")
    env = {"REDIS_URL": redis_url, "CHATD_MESSAGE_RATE": "1000", **turn_server.env}
    nodes = [ChatdProcess(shared, shared, **env).start() for _ in range(2)]
    yield nodes
    for node in nodes:
        node.stop_quietly()


@pytest.fixture(scope="module")
def relay_node(
    tmp_path_factory: pytest.TempPathFactory, turn_server: TurnServer
) -> Iterator[ChatdProcess]:
    """A node whose clients must send every packet through the test's coturn."""
    data = tmp_path_factory.mktemp("calls-relay")
    node = ChatdProcess(
        data,
        data,
        CHATD_ICE_TRANSPORT_POLICY="relay",
        CHATD_MESSAGE_RATE="1000",
        **turn_server.env,
    ).start()
    yield node
    node.stop_quietly()


def open_dm(page: Page, username: str) -> None:
    """Open a DM with `username` from the sidebar's "New direct message" dialog."""
    page.get_by_role("button", name="New direct message").click()
    page.get_by_role("dialog").get_by_label("Username").fill(username)
    page.get_by_role("button", name="Open conversation").click()
    expect(page.locator(".room-title")).to_contain_text(username)


class CallUsers:
    """Signs users up on a given node, each in a context that records its peer connections."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.opened: list[Browsers] = []

    def signup(self, node: ChatdProcess, prefix: str) -> Page:
        """A new user on `node`, looking at #general; the page knows its `username`."""
        users = Browsers(self.browser, node.url + "/")
        self.opened.append(users)
        original = users.context

        def recording_context(**options: object):  # type: ignore[no-untyped-def]
            ctx = original(**options)
            ctx.add_init_script(RECORD_PEERS)
            return ctx

        users.context = recording_context  # type: ignore[method-assign]
        page, name = users.signup(prefix)
        page.username = name  # type: ignore[attr-defined]
        return page

    def close(self) -> None:
        errors = [e for users in self.opened for e in users.errors]
        for users in self.opened:
            users.close()
        assert not errors, f"uncaught errors in the pages: {errors}"


@pytest.fixture
def people(browsers_by_kind: dict[str, Browser]) -> Iterator[Callable[..., Page]]:
    made: list[CallUsers] = []

    def person(node: ChatdProcess, prefix: str, *, relay: bool = False) -> Page:
        users = CallUsers(browsers_by_kind["relay" if relay else "loopback"])
        made.append(users)
        return users.signup(node, prefix)

    yield person
    for users in made:
        users.close()


# -- helpers -------------------------------------------------------------------------------
def stats(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(READ_STATS)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")


def counters(page: Page, direction: str, mid: str, field: str) -> list[int]:
    return [s[direction].get(mid, {}).get(field, 0) for s in stats(page)]


def grows(page: Page, direction: str, mid: str, field: str, peers: int, what: str) -> None:
    """On every one of `peers` connections, the counter goes up between two samples."""

    def check() -> bool:
        before = counters(page, direction, mid, field)
        time.sleep(0.6)
        after = counters(page, direction, mid, field)
        return (
            len(after) == peers
            and len(before) == peers
            and all(a > b for a, b in zip(after, before, strict=True))
        )

    wait_for(check, f"{what} ({direction} mid {mid} {field}) to grow on {peers} connection(s)")


def stalls(page: Page, direction: str, mid: str, field: str, what: str) -> None:
    """The counter stops moving on every connection (after in-flight packets drain)."""

    def check() -> bool:
        before = counters(page, direction, mid, field)
        time.sleep(1.0)
        return counters(page, direction, mid, field) == before

    wait_for(check, f"{what} to stop", timeout=10)


def media_flows(page: Page, peers: int) -> None:
    """Video frames decoded and audio samples received keep increasing from every peer."""
    grows(page, "in", CAMERA, "frames", peers, "inbound video")
    grows(page, "in", AUDIO, "samples", peers, "inbound audio")


def start_call(page: Page) -> None:
    page.get_by_role("button", name="Start video call").click()
    expect(page.locator(".call-stage")).to_be_visible()


def join_call(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^Join video call")).click()
    expect(page.locator(".call-stage")).to_be_visible()


def tiles(page: Page, count: int) -> None:
    expect(page.locator(".call-grid > .call-tile:not(.call-tile-screen)")).to_have_count(count)


def control(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(".call-controls").get_by_role("button", name=name, exact=True)


# -- tests -----------------------------------------------------------------------------------
def test_video_call_between_two_nodes_with_mute_camera_and_screen_share(cluster, people, shot):
    node_a, node_b = cluster
    alice, bob = people(node_a, "alice"), people(node_b, "bob")
    room = unique_name("call-")
    enter_room(alice, room)
    enter_room(bob, room)

    start_call(alice)
    # Bob's sidebar shows who is in the call before he joins (Discord style).
    expect(bob.locator(f'.room-link[data-room="{room}"] + .call-roster')).to_contain_text(
        alice.locator(".user-name").inner_text()
    )
    join_call(bob)
    for page in (alice, bob):
        tiles(page, 2)
        media_flows(page, peers=1)
    # Hints: a speaking ring from audio levels (the fake microphone beeps), and the
    # connection quality from getStats.
    expect(alice.locator(".call-tile.speaking")).not_to_have_count(0)
    quality = alice.locator(".call-tile:not(.call-tile-local) .call-quality")
    expect(quality).to_have_class(re.compile(r"q-(good|fair)"))
    expect(quality).to_have_attribute("title", re.compile(r"ms round trip"))
    shot(alice, "call-two-nodes")

    # Device pickers: switching microphones keeps audio going out (replaceTrack).
    control(alice, "Devices").click()
    mics = alice.get_by_label("Microphone")
    expect(mics).to_be_visible()
    expect(alice.get_by_label("Camera", exact=True)).to_be_visible()
    choices = mics.locator("option").all()
    if len(choices) > 1:
        mics.select_option(index=1)
        grows(alice, "out", AUDIO, "packets", 1, "audio from the other microphone")
    control(alice, "Devices").click()

    # Mute: alice's microphone sends nothing; bob sees her muted.
    control(alice, "Mute").click()
    expect(control(alice, "Unmute")).to_have_attribute("aria-pressed", "true")
    stalls(alice, "out", AUDIO, "packets", "alice's outbound audio")
    expect(bob.locator(".call-tile .call-muted:visible")).to_have_count(1)
    control(alice, "Unmute").click()
    grows(alice, "out", AUDIO, "packets", 1, "alice's outbound audio after unmute")

    # Camera off: no more video frames leave bob; alice sees his avatar instead.
    control(bob, "Turn camera off").click()
    stalls(bob, "out", CAMERA, "frames", "bob's outbound video")
    expect(alice.locator(".call-tile.no-video")).to_have_count(1)
    control(bob, "Turn camera on").click()
    grows(alice, "in", CAMERA, "frames", 1, "bob's video back at alice")

    # Screen share: a third track, decoded on the other side, with no renegotiation.
    control(alice, "Share screen").click()
    expect(control(alice, "Stop sharing")).to_be_visible()
    grows(bob, "in", SCREEN, "frames", 1, "alice's screen at bob")
    expect(bob.locator(".call-tile-screen")).to_have_count(1)
    shot(bob, "call-screen-share")
    control(alice, "Stop sharing").click()
    expect(bob.locator(".call-tile-screen")).to_have_count(0)

    control(bob, "Leave call").click()
    tiles(alice, 1)
    expect(bob.locator(".call-stage")).to_be_hidden()


def test_three_way_mesh_survives_one_leaving(cluster, people):
    node_a, node_b = cluster
    alice, bob, carol = people(node_a, "alice"), people(node_b, "bob"), people(node_a, "carol")
    room = unique_name("mesh-")
    for page in (alice, bob, carol):
        enter_room(page, room)
    start_call(alice)
    join_call(bob)
    join_call(carol)
    for page in (alice, bob, carol):
        tiles(page, 3)
        media_flows(page, peers=2)

    # Carol closes her tab: the others drop her tile and keep talking.
    carol.close()
    for page in (alice, bob):
        tiles(page, 2)
        media_flows(page, peers=1)


def test_relay_only_call_through_coturn(relay_node, people):
    alice = people(relay_node, "alice", relay=True)
    bob = people(relay_node, "bob", relay=True)
    room = unique_name("relay-")
    enter_room(alice, room)
    enter_room(bob, room)
    start_call(alice)
    join_call(bob)
    for page in (alice, bob):
        media_flows(page, peers=1)
        (pc,) = stats(page)
        assert pc["pair"]["local"] == "relay", pc["pair"]
        assert pc["pair"]["localAddress"] == "127.0.0.1", pc["pair"]


def test_voice_channel_is_audio_only_and_lists_who_is_connected(cluster, people):
    node_a, node_b = cluster
    alice, bob = people(node_a, "alice"), people(node_b, "bob")
    room = unique_name("lounge-")
    alice.get_by_role("button", name="Create or join a room").click()
    alice.get_by_label("Room name").fill(room)
    alice.get_by_label("Voice channel (calls are audio-only)").check()
    alice.get_by_role("button", name="Create room").click()
    expect(alice.locator(".room-title")).to_contain_text(room)
    enter_room(bob, room)

    expect(alice.get_by_role("button", name="Start video call")).to_be_hidden()
    alice.get_by_role("button", name="Join voice channel", exact=True).click()
    expect(alice.locator(".call-stage")).to_be_visible()
    expect(control(alice, "Share screen")).to_be_hidden()
    bob.get_by_role("button", name=re.compile(r"^Join voice channel \(1 connected\)")).click()
    for page in (alice, bob):
        tiles(page, 2)
        roster = page.locator(f'.room-link[data-room="{room}"] + .call-roster li')
        expect(roster).to_have_count(2)
        grows(page, "in", AUDIO, "samples", 1, "voice")
        assert all(s["out"].get(CAMERA, {}).get("frames", 0) == 0 for s in stats(page))


def test_losing_the_socket_leaves_the_call_and_reconnecting_rejoins(cluster, people):
    node_a, node_b = cluster
    alice, bob = people(node_a, "alice"), people(node_b, "bob")
    room = unique_name("flaky-")
    enter_room(alice, room)
    enter_room(bob, room)
    start_call(alice)
    join_call(bob)
    media_flows(alice, peers=1)

    bob.context.set_offline(True)  # the WebSocket drops; the server takes bob out
    tiles(alice, 1)
    bob.context.set_offline(False)  # back: bob's client joins again by itself
    tiles(alice, 2)
    for page in (alice, bob):
        media_flows(page, peers=1)


def test_a_dm_call_rings_and_can_be_declined_or_accepted(cluster, people):
    node_a, node_b = cluster
    alice, bob = people(node_a, "alice"), people(node_b, "bob")
    open_dm(alice, bob.username)
    expect(bob.locator(".room-link", has_text=alice.username)).to_be_visible()

    start_call(alice)
    ring = bob.get_by_role("alertdialog")
    expect(ring).to_contain_text(f"{alice.username} is calling you")
    ring.get_by_role("button", name="Decline").click()
    expect(ring).to_be_hidden()
    expect(alice.locator(".toast")).to_contain_text(f"{bob.username} declined the call")
    control(alice, "Leave call").click()

    start_call(alice)
    ring.get_by_role("button", name="Video").click()
    expect(bob.locator(".room-title")).to_contain_text(alice.username)
    for page in (alice, bob):
        tiles(page, 2)
        media_flows(page, peers=1)

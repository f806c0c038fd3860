"""The bridge's MQTT client reads frames as the socket delivers them: split anywhere, several
in one read, lengths of one to three bytes."""

import pytest

from telemetry.mqtt.client import (
    CONNACK,
    PUBACK,
    Message,
    packet,
    parse_frames,
    puback_packets,
    publish_packet,
)

FRAMES = [
    publish_packet("iot/3/t/1/d/19/telemetry", b'{"t":1}', 0),
    publish_packet("iot/3/t/1/d/19/telemetry", b"x" * 200, 1, mid=7),  # 2-byte length
    packet(CONNACK, b"\x00\x00"),
    publish_packet("iot/presence/1/19", b"1" * 20_000, 1, mid=65535),  # 3-byte length
    puback_packets([258]),
]
EXPECTED = [
    Message(b"iot/3/t/1/d/19/telemetry", b'{"t":1}', 0, 0, 5.0),
    Message(b"iot/3/t/1/d/19/telemetry", b"x" * 200, 1, 7, 5.0),
    Message(b"iot/presence/1/19", b"1" * 20_000, 1, 65535, 5.0),
]


def test_frames_in_one_read() -> None:
    buffer = bytearray(b"".join(FRAMES))
    messages, others = parse_frames(buffer, 5.0)
    assert messages == EXPECTED
    assert others == [(CONNACK, b"\x00\x00"), (PUBACK, b"\x01\x02")]
    assert buffer == bytearray()


@pytest.mark.parametrize("step", [1, 2, 3, 7, 150, 4096])
def test_frames_split_anywhere_come_out_whole_and_once(step: int) -> None:
    stream = b"".join(FRAMES)
    buffer = bytearray()
    messages: list[Message] = []
    others: list[tuple[int, bytes]] = []
    for at in range(0, len(stream), step):
        buffer += stream[at : at + step]
        got, rest = parse_frames(buffer, 5.0)
        messages += got
        others += rest
    assert messages == EXPECTED
    assert [kind for kind, _ in others] == [CONNACK, PUBACK]
    assert buffer == bytearray()


def test_a_length_of_more_than_four_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="remaining length"):
        parse_frames(bytearray(b"\x30\xff\xff\xff\xff\x01"), 0.0)

"""Reading where a container listens: /proc/net/tcp{,6} rows and the lines apps log when they bind."""

from __future__ import annotations

import pytest

from loopctl.phases.docker.listeners import logged_ports, loopback, parse_socket_table

# /proc/net/tcp and tcp6 as Linux prints them (proc(5)): a listener on 0.0.0.0:8483, one on 127.0.0.1:8080, an
# established connection from 8080, and a tcp6 listener on [::]:9000.
TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2123 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when
   0: 00000000000000000000000000000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000
"""


def test_the_socket_table_gives_each_listener_with_its_address() -> None:
    assert parse_socket_table(TABLE) == {("0.0.0.0", 8483), ("127.0.0.1", 8080), ("::", 9000)}


@pytest.mark.parametrize(
    ("address", "is_loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:0.0.0.0", False),
        ("172.17.0.2", False),
    ],
)
def test_loopback_is_every_form_a_socket_table_shows_it_in(address: str, is_loopback: bool) -> None:
    assert loopback(address) is is_loopback


def test_a_tcp6_row_for_ipv4_loopback_reads_as_that_address() -> None:
    row = "   0: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000\n"
    assert parse_socket_table(row) == {("::ffff:127.0.0.1", 8080)}


@pytest.mark.parametrize(
    ("line", "ports"),
    [
        ("INFO:     Uvicorn running on http://0.0.0.0:8483 (Press CTRL+C to quit)", [8483]),
        ("Serving HTTP on 0.0.0.0 port 8483 (http://0.0.0.0:8483/) ...", [8483]),
        ("listening on localhost:5000 and [::]:5001", [5000]),
        ("game server listening on :::8483", [8483]),
        ("Listening on port 3000", [3000]),
        ("[INFO] Listening at: http://0.0.0.0:8000 (7)", [8000]),
        ("connected to db at 10.0.0.5:5432", []),
        ("started worker 12:30:01", []),
        ("server started at 10:45:30", []),
    ],
)
def test_logged_ports_are_read_from_the_lines_apps_print_when_they_bind(line: str, ports: list[int]) -> None:
    assert logged_ports(line) == ports

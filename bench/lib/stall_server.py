#!/usr/bin/env python3
"""A tiny keep-alive HTTP/1.1 server that stalls once, for the open-model benchmark.

    stall_server.py PORT [--stall-at 5] [--stall-for 1] [--delay-ms 1]

Serves GET / on 127.0.0.1:PORT. The clock starts with the first request to `/`
(t = 0). Every request to `/` is answered `delay-ms` after it arrives, except
those that arrive in [stall_at, stall_at + stall_for): they are all held until
t = stall_at + stall_for. `/health` answers at once and does not start the
clock. Prints `ready` when listening; on SIGTERM prints a one-line JSON count of
requests served, stalled and the clock's start.
"""

import argparse
import asyncio
import json
import signal
import socket
import time

BODY = b"ok\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\nConnection: keep-alive\r\n\r\n"
    + BODY
)


class Clock:
    def __init__(self, stall_at, stall_for, delay):
        self.t0 = None
        self.stall_at = stall_at
        self.stall_end = stall_at + stall_for
        self.delay = delay
        self.served = 0
        self.stalled = 0

    def hold_for(self, now):
        """Seconds to hold a request to `/` arriving at `now` (monotonic)."""
        if self.t0 is None:
            self.t0 = now
        t = now - self.t0
        if self.stall_at <= t < self.stall_end:
            self.stalled += 1
            return self.stall_end - t
        return self.delay


class Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; requests have no body (GET)."""

    def __init__(self, clock, loop):
        self.clock = clock
        self.loop = loop
        self.buf = b""
        self.transport = None
        # Responses go out in request order: a later request never overtakes a held one.
        self.pending = []

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
            now = time.monotonic()
            hold = 0.0 if path.startswith(b"/health") else self.clock.hold_for(now)
            slot = [False]
            self.pending.append(slot)
            self.loop.call_at(self.loop.time() + hold, self.answer, slot)

    def answer(self, slot):
        slot[0] = True
        if self.transport is None or self.transport.is_closing():
            return
        while self.pending and self.pending[0][0]:
            self.pending.pop(0)
            self.transport.write(RESPONSE)
            self.clock.served += 1

    def connection_lost(self, exc):
        self.transport = None


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--stall-at", type=float, default=5.0)
    ap.add_argument("--stall-for", type=float, default=1.0)
    ap.add_argument("--delay-ms", type=float, default=1.0)
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    clock = Clock(args.stall_at, args.stall_for, args.delay_ms / 1000)
    server = await loop.create_server(
        lambda: Http(clock, loop), "127.0.0.1", args.port, backlog=16384, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    print(json.dumps({"served": clock.served, "stalled": clock.stalled}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""The XMPP peer of Natter's messaging bench: alice -> bob chat messages with XEP-0184 receipts.

Run by run.sh against its own prosody. The default role (alice) starts bob as a child process
(this script, --role bob), so each client has its own interpreter and event loop, then
measures:
  * latency: N sequential messages, from send() to the receipt's arrival (alice -> prosody ->
    bob -> prosody -> alice);
  * sustained: M messages with at most W unacknowledged in flight.
Prints one JSON line on stdout; logs go to stderr.
"""
import argparse
import asyncio
import json
import logging
import math
import os
import sys
import time

import slixmpp
from slixmpp import ClientXMPP

RESOURCE = "bench"


def make_client(jid, password, auto_ack):
    # No TLS on loopback: slixmpp refuses SCRAM over plaintext unless told so.
    c = ClientXMPP(jid, password,
                   plugin_config={"feature_mechanisms": {"unencrypted_scram": True}})
    c.enable_direct_tls = False
    c.enable_starttls = False
    c.enable_plaintext = True
    c.register_plugin("xep_0030")
    c.register_plugin("xep_0184", {"auto_ack": auto_ack, "auto_request": False})
    return c


async def start(c, host, port, timeout):
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def ok(_):
        if not ready.done():
            ready.set_result(True)

    def fail(what):
        def h(*_):
            if not ready.done():
                ready.set_exception(RuntimeError(f"{c.boundjid.bare}: {what}"))
        return h

    c.add_event_handler("session_start", ok)
    c.add_event_handler("failed_all_auth", fail("authentication failed"))
    c.add_event_handler("connection_failed", fail("connection failed"))
    c.connect(host, port)
    await asyncio.wait_for(ready, timeout)
    c.send_presence()


async def run_bob(a):
    bob = make_client(f"bob@{a.domain}/{RESOURCE}", a.password, auto_ack=True)
    await start(bob, a.host, a.port, a.timeout)
    print(f"READY {bob.boundjid.full}", flush=True)
    # Stay up until the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    bob.disconnect()
    await asyncio.sleep(0.1)


def pct(sorted_vals, p):
    # nearest-rank percentile
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


async def run_alice(a):
    bob_proc = await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "--role", "bob",
        "--host", a.host, "--port", str(a.port), "--domain", a.domain,
        "--password", a.password, "--timeout", str(a.timeout),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    alice = None
    try:
        line = await asyncio.wait_for(bob_proc.stdout.readline(), a.timeout)
        if not line.startswith(b"READY "):
            raise RuntimeError(f"bob did not come up: {line!r}")
        bob_jid = line.split()[1].decode()

        alice = make_client(f"alice@{a.domain}/{RESOURCE}", a.password, auto_ack=False)
        await start(alice, a.host, a.port, a.timeout)

        pending = {}  # id -> (t_send_ns, future or None)
        state = {"sem": None}

        def on_receipt(msg):
            t = time.perf_counter_ns()
            ent = pending.pop(msg["receipt"], None)
            if ent is None:
                return
            t0, fut = ent
            if fut is not None:
                if not fut.done():
                    fut.set_result(t - t0)
            else:
                state["done"] += 1
                state["sem"].release()
                if state["done"] == state["target"]:
                    state["all"].set_result(t)

        alice.add_event_handler("receipt_received", on_receipt)
        body = ("0123456789abcdef" * ((a.body // 16) + 1))[:a.body]
        loop = asyncio.get_running_loop()

        def send(mid, fut):
            m = alice.make_message(mto=bob_jid, mbody=body, mtype="chat")
            m["id"] = mid
            m["request_receipt"] = True
            pending[mid] = (time.perf_counter_ns(), fut)
            m.send()

        async def one(mid):
            fut = loop.create_future()
            send(mid, fut)
            return await asyncio.wait_for(fut, a.timeout)

        for i in range(a.warmup):
            await one(f"w{i}")

        lat = []
        for i in range(a.n):
            lat.append(await one(f"l{i}") / 1000.0)
        lat.sort()

        state.update(sem=asyncio.Semaphore(a.window), done=0, target=a.m,
                     all=loop.create_future())
        t_start = time.perf_counter_ns()
        for i in range(a.m):
            await state["sem"].acquire()
            send(f"s{i}", None)
        t_end = await asyncio.wait_for(state["all"], a.timeout)
        secs = (t_end - t_start) / 1e9

        return {
            "p50_us": round(pct(lat, 50), 1),
            "p99_us": round(pct(lat, 99), 1),
            "mean_us": round(sum(lat) / len(lat), 1),
            "max_us": round(lat[-1], 1),
            "sustained_per_s": round(a.m / secs, 1),
            "sustained_secs": round(secs, 3),
            "n": a.n, "m": a.m, "window": a.window, "body_bytes": a.body,
            "warmup": a.warmup,
            "prosody": a.prosody_version,
            "slixmpp": slixmpp.__version__,
            "python": sys.version.split()[0],
            "transport": "c2s plaintext TCP 127.0.0.1, SCRAM auth",
        }
    finally:
        if alice is not None:
            alice.disconnect()
        if bob_proc.returncode is None:
            bob_proc.stdin.close()
            try:
                await asyncio.wait_for(bob_proc.wait(), 5)
            except asyncio.TimeoutError:
                bob_proc.kill()
                await bob_proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--role", choices=["alice", "bob"], default="alice")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--password", default="benchpw")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--m", type=int, default=5000)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--body", type=int, default=200)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--prosody-version", default="unknown")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if a.role == "bob":
        asyncio.run(run_bob(a))
        return 0
    res = asyncio.run(run_alice(a))
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

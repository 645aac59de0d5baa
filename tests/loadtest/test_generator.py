"""The generator is open-loop: a slow upstream piles calls up in flight but never delays the next
call; beyond its in-flight bound it sheds calls and counts them. Against the simulator over real
sockets (it answers /v1/chat/completions like a gateway, without release headers)."""

import asyncio

import numpy as np

from loadtest.rehearsal.generator import Generator
from loadtest.rehearsal.records import ANSWERED, SHED, UNKNOWN_RELEASE, UNSENT, CallLog
from loadtest.rehearsal.scenario_file import parse
from loadtest.rehearsal.schedule import build
from simulator.behaviour import Behaviour


def scenario(max_in_flight: int = 4000, duration: float = 2.0):
    return parse(
        f"""
name = "t"
[run]
duration_s = {duration}
seed = 3
max_in_flight = {max_in_flight}
request_timeout_s = 5
[arrivals]
rate = 200
[mix]
stream_share = 0.3
[releases.r1]
model = "a"
"""
    )


async def drive(simulator, s):
    schedule = build(s)
    log = CallLog(len(schedule), s.release_ids())
    generator = Generator(s, schedule, [f"http://127.0.0.1:{simulator.port}"], log)
    await generator.run(asyncio.Event())
    in_flight = generator.in_flight
    await generator.drain(10)
    return schedule, log, in_flight


async def test_a_slow_upstream_does_not_slow_the_offered_load(simulator):
    simulator.state.behaviours["*"] = Behaviour(latency_ms=400)
    schedule, log, in_flight_at_end = await drive(simulator, scenario())
    assert (log.outcome == ANSWERED).all()
    lateness = log.lag_s
    assert np.percentile(lateness, 99) < 0.05  # sent when due, whatever the answers do
    latency = log.done_s - log.sent_s
    assert latency.min() >= 0.4
    assert in_flight_at_end >= 40  # ~ rate x latency calls were waiting when the load ended
    assert (log.release == UNKNOWN_RELEASE).all()  # no gateway: no release header
    streams = log.first_byte_s[~np.isnan(log.first_byte_s)]
    assert streams.size > 0.2 * len(schedule)


async def test_beyond_its_in_flight_bound_the_generator_sheds_and_counts(simulator):
    simulator.state.behaviours["*"] = Behaviour(latency_ms=400)
    schedule, log, _ = await drive(simulator, scenario(max_in_flight=10))
    shed = int((log.outcome == SHED).sum())
    answered = int((log.outcome == ANSWERED).sum())
    assert shed > 0 and answered > 0
    assert shed + answered == len(schedule)
    assert not (log.outcome == UNSENT).any()

"""A loopback TCP proxy that injects network faults: per-chunk delay (jitter) and loss
(the connection is reset, as a dropped path looks to the app). Used by make gameday
between the app and PostgreSQL/Redis; no root, no netem.

    proxy = FaultProxy(target_port=5432); proxy.start(); proxy.port  # listen port
    proxy.set_faults(delay_ms=(5, 60), loss=0.01); proxy.clear(); proxy.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    delay_ms: tuple[float, float] = (0.0, 0.0)
    loss: float = 0.0  # probability per forwarded chunk that the connection is reset


@dataclass
class Stats:
    connections: int = 0
    chunks: int = 0
    resets: int = 0
    delayed_ms: float = 0.0


@dataclass
class FaultProxy:
    target_port: int
    target_host: str = "127.0.0.1"
    listen_host: str = "127.0.0.1"
    port: int = 0
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - fault injection, not crypto
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def set_faults(self, delay_ms: tuple[float, float] = (0.0, 0.0), loss: float = 0.0) -> None:
        self.faults = Faults(delay_ms, loss)

    def clear(self) -> None:
        self.faults = Faults()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                f = self.faults
                self.stats.chunks += 1
                if f.loss and self._rng.random() < f.loss:
                    self.stats.resets += 1
                    for w in (writer, peer):
                        with contextlib.suppress(Exception):
                            w.transport.abort()
                    return
                if f.delay_ms[1] > 0:
                    delay = self._rng.uniform(*f.delay_ms)
                    self.stats.delayed_ms += delay
                    await asyncio.sleep(delay / 1000)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        await asyncio.gather(self._pipe(client_r, server_w, client_w), self._pipe(server_r, client_w, server_w))

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.listen_host, self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name=f"faultproxy-{self.target_port}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    async def _shutdown(self) -> None:
        if self._server:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.get_running_loop().stop()

    def stop(self) -> None:
        if self._loop:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        if self._thread:
            self._thread.join(5)
